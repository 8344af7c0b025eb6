"""Who is who: the peer-credential check against fake credentials, and the agents: config."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tui.server.identity import (
    Identity,
    PeerCred,
    identify,
    login_of,
    needs_approval,
    peer_credentials,
)
from tui.server.protocol import Refused
from tui.setup.config import ConfigError, load_config

ME = os.getuid()
OTHER = 4242  # a uid with no entry in this machine's user database


def team(tmp_path: Path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


def test_peer_credentials_name_the_connecting_process() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        cred = peer_credentials(a)
    assert cred == PeerCred(os.getpid(), os.getuid(), os.getgid())


def test_single_operator_owner_may_pick_any_name_as_lead() -> None:
    who = identify(PeerCred(1, ME, 0), "night", None, owner_uid=ME)
    assert who == Identity("night", "lead", login_of(ME), ME)
    assert identify(PeerCred(1, ME, 0), None, None, owner_uid=ME,
                    default_agent="sam").agent == "sam"


def test_single_operator_desk_refuses_another_user_naming_what_to_add() -> None:
    with pytest.raises(Refused) as err:
        identify(PeerCred(1, OTHER, 0), None, None, owner_uid=ME)
    assert err.value.kind == "identity"
    text = "\n".join(err.value.reasons)
    assert "uid:4242" in text and "agents:" in text and "os_user: uid:4242" in text


def test_agents_map_os_users_to_names_and_roles(tmp_path: Path) -> None:
    config = team(tmp_path, f"""
agents:
  sam: {{os_user: {login_of(ME)}, role: agent}}
  night: {{os_user: {login_of(ME)}, role: lead}}
  lee: {{os_user: lee, role: lead}}
""")
    assert identify(PeerCred(1, ME, 0), None, config).agent == "sam"
    night = identify(PeerCred(1, ME, 0), "night", config)
    assert (night.agent, night.role) == ("night", "lead")
    with pytest.raises(Refused) as err:  # a name mapped to another OS user
        identify(PeerCred(1, ME, 0), "lee", config)
    assert "may act as sam, night, not 'lee'" in str(err.value)
    with pytest.raises(Refused) as err:  # an unmapped OS user, even the desk's owner uid
        identify(PeerCred(1, OTHER, 0), None, config, owner_uid=OTHER)
    assert "uid:4242 is not in the desk's agents" in str(err.value)
    assert str(tmp_path / "config.yaml") in str(err.value)


def test_agents_config_errors_name_line_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        team(tmp_path, "agents:\n  sam: {os_user: sam, role: boss}\n  kim: kim\n")
    text = str(err.value)
    assert ":2:" in text and "role must be one of agent, lead" in text
    assert ":3:" in text and "kim: {os_user: LOGIN, role: agent}" in text


def test_approval_rule_by_role_or_category(tmp_path: Path) -> None:
    config = team(tmp_path, "approval:\n  roles: [agent]\n  categories: [safety]\n")
    agent = Identity("sam", "agent", "sam", 1)
    lead = Identity("lee", "lead", "lee", 2)
    assert needs_approval(agent, "general", config)
    assert not needs_approval(lead, "safety", config)
    only_safety = team(tmp_path, "approval:\n  categories: [safety]\n")
    assert needs_approval(agent, "safety", only_safety)
    assert not needs_approval(agent, "general", only_safety)
    assert not needs_approval(agent, "safety", None)
