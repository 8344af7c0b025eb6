"""The config file: a good one loads; every mistake is reported with its line; no secrets."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from tui.core.hours import OfficeHours
from tui.setup.config import ConfigError, load_config, validate
from tui.sources.registry import make_source


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_config_loads_and_feeds_the_registry(tmp_path, monkeypatch):
    token = tmp_path / "mastodon.token"
    token.write_text("abc\n")
    os.chmod(token, 0o600)
    (tmp_path / "rules.yaml").write_text("x: 1\n")
    path = write(tmp_path, """\
agent: sam
sources:
  - spec: mastodon:https://mastodon.northline.example
    token_file: mastodon.token
    visibility: unlisted
    poll_seconds: 45
    stream_timeout: 2m
  - bluesky:northline.example
  - spec: feed:https://tickets.northline.example/mentions.ndjson
    format: ndjson
    map: {id: ticket_id, text: body, author: user.name}
office_hours:
  timezone: Europe/London
  days: [mon, tue, wed, thu, fri]
  open: "08:00"
  close: "20:00"
keys: {reply: "r, enter", resolve: x}
data_dir: data
rules: rules.yaml
undo_seconds: 5
""")
    assert validate(path) == []
    config = load_config(path)
    assert config.agent == "sam"
    assert config.specs == ["mastodon:https://mastodon.northline.example",
                            "bluesky:northline.example",
                            "feed:https://tickets.northline.example/mentions.ndjson"]
    options = config.source_options(config.specs[0])
    assert options == {"token_file": str(token), "visibility": "unlisted", "poll_seconds": 45.0,
                       "stream_timeout": 120.0}
    assert config.keys == {"reply": "r,enter", "resolve": "x"}
    assert config.data_dir == tmp_path / "data" and config.rules == tmp_path / "rules.yaml"
    assert config.undo_seconds == 5.0
    office = config.office_hours
    assert isinstance(office, OfficeHours)
    assert (office.timezone, office.open, office.close) == ("Europe/London", time(8), time(20))
    assert office.days == {0, 1, 2, 3, 4}
    # Monday 3 March 2025 (GMT): open at 08:00 and 19:59, closed at 20:00 and all Saturday
    assert office.is_open(datetime(2025, 3, 3, 8, 0, tzinfo=UTC))
    assert office.is_open(datetime(2025, 3, 3, 19, 59, tzinfo=UTC))
    assert not office.is_open(datetime(2025, 3, 3, 20, 0, tzinfo=UTC))
    assert not office.is_open(datetime(2025, 3, 8, 12, 0, tzinfo=UTC))

    monkeypatch.delenv("MENTIONDESK_MASTODON_TOKEN", raising=False)
    source = make_source(config.specs[0], config)
    assert source.visibility == "unlisted" and source.stream_timeout == 120.0
    feed = make_source(config.specs[2], config)
    assert feed.mapping == {"id": "ticket_id", "text": "body", "author": "user.name"}


def test_every_mistake_is_reported_with_its_line(tmp_path):
    loose = tmp_path / "loose.token"
    loose.write_text("abc")
    os.chmod(loose, 0o644)
    path = write(tmp_path, f"""\
agent: sam
sourcs: []
sources:
  - spec: mastodon:https://a.example
    token: abc123
    visibilty: public
  - spec: twitter:northline
  - spec: mastodon:https://b.example
    token_file: {loose}
    visibility: secret-ish
  - spec: feed:https://f.example
    format: xml
    poll_seconds: soon
  - spec: mastodon:https://a.example
office_hours:
  timezone: Europe/Londn
  days: [mon]
  open: "08:00"
  close: "20:00"
keys: {{reply: 3}}
rules: missing.yaml
undo_seconds: -1
""")
    problems = [str(p) for p in validate(path)]
    text = "\n".join(problems)
    f = str(path)
    assert f"{f}:2: unknown key 'sourcs' in the config file — did you mean 'sources'?" in text
    assert f"{f}:5: 'token': secrets are not allowed in the config file" in text
    assert "MENTIONDESK_MASTODON_TOKEN" in text
    assert f"{f}:6: unknown key 'visibilty' in a mastodon source — did you mean 'visibility'?" \
        in text
    assert f"{f}:7: unknown source 'twitter:northline'" in text
    assert f"{f}:9: token file {loose} has mode 0644" in text and "chmod 600" in text
    assert f"{f}:10: visibility 'secret-ish' is not one of public, unlisted, private" in text
    assert f"{f}:12: format 'xml' is not one of ndjson, sse, json" in text
    assert f"{f}:13: 'poll_seconds' in the feed source: 'soon' is not a duration" in text
    assert f"{f}:14: source mastodon:https://a.example is listed twice (first at line 4)" in text
    assert f"{f}:16: unknown timezone 'Europe/Londn'" in text
    assert f"{f}:20: keys: 'reply' must be keys separated by commas" in text
    assert f"{f}:21: rules file" in text and "does not exist" in text
    assert f"{f}:22: 'undo_seconds' in the config file must be more than 0 seconds" in text
    assert "abc123" not in text  # the secret itself is never echoed
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert [str(p) for p in refused.value.problems] == problems


def test_syntax_errors_and_missing_files_are_problems_too(tmp_path):
    bad = write(tmp_path, "sources:\n  - spec: demo\n   oops: [\n")
    problems = validate(bad)
    assert problems and problems[0].line >= 2 and "YAML syntax error" in problems[0].message
    assert [p.message for p in validate(tmp_path / "nope.yaml")] == ["file not found"]


def test_finding_the_config(tmp_path, monkeypatch):
    from tui.setup.boot import Options
    from tui.setup.boot import load_config as boot_config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MENTIONDESK_CONFIG", raising=False)
    assert boot_config(Options()) is None  # no default file
    env, explicit = tmp_path / "env.yaml", tmp_path / "explicit.yaml"
    env.write_text("agent: from-env\n", encoding="utf-8")
    explicit.write_text("agent: explicit\n", encoding="utf-8")
    monkeypatch.setenv("MENTIONDESK_CONFIG", str(env))
    assert boot_config(Options()).agent == "from-env"
    assert boot_config(Options(config=str(explicit))).agent == "explicit"
