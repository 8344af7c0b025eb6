"""Who is on the other end of the socket, and who may do what.

The kernel tells the desk process which OS user opened a connection (``SO_PEERCRED``); the config's
``agents:`` section maps OS users to display names and roles::

    agents:
      sam:   {os_user: sam, role: agent}
      night: {os_user: sam, role: agent}   # one login, two names: pick with --agent night
      lee:   {os_user: lee, role: lead}
      ana:   {os_user: ana, role: agent, teams: [safety]}  # alerts of her teams only

Rules (README, "Team set-up"):

* With no ``agents:`` section the desk belongs to a single operator: only the OS user running the
  desk process may connect, under any name (``--agent``, the config's ``agent:``, ``$USER``),
  with the ``lead`` role.
* With ``agents:``, a connecting OS user must be listed; ``--agent`` may only pick among the
  names mapped to that user (the first listed is the default).  Anyone else is refused with a
  message naming what to add.
"""

from __future__ import annotations

import os
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import Any

from .protocol import Refused

LEAD, AGENT = "lead", "agent"


@dataclass(frozen=True, slots=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Identity:
    agent: str  # display name on the audit trail
    role: str  # "agent" | "lead"
    os_user: str  # the login behind it
    uid: int
    teams: tuple[str, ...] = ()  # teams whose alerts reach this agent (empty: every team)


def peer_credentials(sock: socket.socket) -> PeerCred:
    """The connecting process's pid/uid/gid, from the kernel (Linux ``SO_PEERCRED``)."""
    so_peercred = getattr(socket, "SO_PEERCRED", 17)
    raw = sock.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCred(pid, uid, gid)


def login_of(uid: int) -> str:
    """The OS login of ``uid`` (``uid:N`` when the user database has no entry)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def identify(cred: PeerCred, requested: str | None, config: Any, *, owner_uid: int | None = None,
             default_agent: str | None = None) -> Identity:
    """The identity a connection acts as.  Raises ``Refused("identity", ...)``.

    ``config``: the loaded config (its ``agents`` and ``path``), or None.  ``owner_uid``: the
    uid running the desk process (default: this process).  ``default_agent``: the single
    operator's name when no ``--agent`` is given (config ``agent:``, else the login).
    """
    owner = os.getuid() if owner_uid is None else owner_uid
    login = login_of(cred.uid)
    agents: dict[str, dict[str, str]] = dict(getattr(config, "agents", None) or {})
    where = getattr(config, "path", None) or "the config file"
    if not agents:
        if cred.uid != owner:
            raise Refused("identity", [
                f"OS user {login} may not use this desk: it belongs to {login_of(owner)} "
                f"alone. To share it, add to {where}:",
                f"  agents:\n    {login}: {{os_user: {login}, role: agent}}\n"
                f"    {login_of(owner)}: {{os_user: {login_of(owner)}, role: lead}}"])
        return Identity(requested or default_agent or login, LEAD, login, cred.uid)
    mine = [name for name, a in agents.items() if a.get("os_user") == login]
    if not mine:
        raise Refused("identity", [
            f"OS user {login} is not in the desk's agents; add to {where}:",
            f"  agents:\n    {login}: {{os_user: {login}, role: agent}}"])
    if requested is not None and requested not in mine:
        raise Refused("identity", f"OS user {login} may act as {', '.join(mine)}, not "
                                  f"{requested!r} (agents: in {where})")
    name = requested or (default_agent if default_agent in mine else mine[0])
    return Identity(name, agents[name].get("role", AGENT), login, cred.uid,
                    tuple(agents[name].get("teams") or ()))


def on_duty_for(identity: Identity, team: str | None) -> bool:
    """True when an alert on a conversation routed to ``team`` reaches ``identity``: leads and
    agents without a team list get every alert, others their teams' (config ``teams:``)."""
    return identity.role == LEAD or not identity.teams or team is None or team in identity.teams


def needs_approval(identity: Identity, category: str | None, config: Any) -> bool:
    """True when a reply by ``identity`` on a conversation of ``category`` waits for a lead
    (config ``approval: {roles: [...], categories: [...]}``).  Leads never wait."""
    if identity.role == LEAD:
        return False
    rule = getattr(config, "approval", None) or {}
    return identity.role in rule.get("roles", ()) or (category in rule.get("categories", ()))
