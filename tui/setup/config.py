"""The config file: which sources to connect, who the agent is, where the files are.

Found at ``--config``, else ``$MENTIONDESK_CONFIG``, else ``config.yaml`` in the platform's user
config directory (when it exists).  Example::

    agent: sam
    sources:
      - spec: mastodon:https://mastodon.northline.example
        token_file: ~/.config/mentiondesk/mastodon.token   # mode 0600
        visibility: unlisted
      - spec: bluesky:northline.example
        poll_seconds: 30
      - spec: feed:https://tickets.northline.example/mentions.ndjson
        map: {id: ticket_id, text: body, author: user.name, created_at: opened}
    office_hours: {timezone: Europe/London, days: [mon, tue, wed, thu, fri],
                   open: "08:00", close: "20:00"}
    keys: {desk.reply: "r,ctrl+r", queue.down: "down,j,ctrl+n"}   # binding ids: README, Keys
    theme: nord                # any Textual theme: textual-dark, nord, gruvbox, ...
    data_dir: ~/mentiondesk-data
    rules: rules.yaml          # relative paths are relative to this file
    replies: replies.yaml
    undo_seconds: 10

Secrets never go in this file: tokens come from the environment or a 0600 token file.  Every
mistake is reported with its line, all at once (``mentiondesk check`` prints them).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.hours import OfficeHours
from ..core.rules import read_office_hours
from ..core.when import parse_duration
from ..core.yamlfile import (
    Problem,
    Reader,
    YList,
    YMap,
    describe,
    did_you_mean,
    load_yaml,
    unknown_key_message,
)

CONFIG_ENV = "MENTIONDESK_CONFIG"
TOP_KEYS = ("agent", "sources", "office_hours", "keys", "theme", "data_dir", "rules", "replies",
            "undo_seconds", "agents", "group", "approval", "on_alert", "desktop_notify")
ROLES = ("agent", "lead")  # who may do what: README, "Team set-up"
SECRET_WORDS = ("token", "password", "secret", "api_key", "apikey", "access_key", "jwt")
SECRET_HINT = ("secrets are not allowed in the config file: set MENTIONDESK_MASTODON_TOKEN or "
               "MENTIONDESK_BLUESKY_PASSWORD in the environment, or give 'token_file:' naming "
               "a file only you can read (chmod 600)")
SECONDS = ("poll_seconds", "stream_timeout", "timeout", "backoff_base", "backoff_cap",
           "deadline", "edit_seconds")
VISIBILITIES = ("public", "unlisted", "private")


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class SourceConfig:
    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass
class Config:
    path: Path | None = None
    agent: str | None = None
    sources: list[SourceConfig] = field(default_factory=list)
    office_hours: OfficeHours | None = None  # same shape and checks as rules.yaml's office_hours
    keys: dict[str, str] = field(default_factory=dict)
    theme: str | None = None  # a Textual theme name
    data_dir: Path | None = None
    rules: Path | None = None
    replies: Path | None = None
    undo_seconds: float | None = None
    # The team (issue 9): display name -> {"os_user": login, "role": "agent"|"lead",
    # "teams": [team ids whose alerts they get; empty: every team's]}; empty
    # means a single operator (only the desk's own OS user may connect).
    agents: dict[str, dict[str, str]] = field(default_factory=dict)
    group: str | None = None  # OS group sharing the desk: data dir 0770, socket 0660
    # Replies needing a lead's approval: {"roles": [...], "categories": [...]}.
    approval: dict[str, list[str]] = field(default_factory=dict)
    on_alert: list[str] = field(default_factory=list)  # [cmd, args...], alert JSON on stdin
    desktop_notify: bool = False  # OSC 9 / OSC 777 next to the bell

    @property
    def specs(self) -> list[str]:
        return [s.spec for s in self.sources]

    def source_options(self, spec: str) -> dict[str, Any]:
        for s in self.sources:
            if s.spec == spec:
                return dict(s.options)
        return {}


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("mentiondesk", appauthor=False)) / "config.yaml"


def load_config(path: Path | str, binding_ids: frozenset[str] | None = None) -> Config:
    """The config at ``path``; ``ConfigError`` lists every problem (never a half-loaded file).

    ``binding_ids``: the console's binding ids (``tui.console.keymap.binding_ids``); a ``keys:``
    entry naming any other id is a problem.  ``None`` (commands that use no keys): not checked.
    """
    config, problems = _load(Path(path), binding_ids)
    if problems or config is None:
        raise ConfigError(problems or [Problem(str(path), 0, "the config file is empty")])
    return config


def validate(path: Path | str, binding_ids: frozenset[str] | None = None) -> list[Problem]:
    return _load(Path(path), binding_ids)[1]


def _load(path: Path, binding_ids: frozenset[str] | None = None
          ) -> tuple[Config | None, list[Problem]]:
    data, problems = load_yaml(path)
    if problems and data is None:
        return None, problems
    if data is None:
        return Config(path=path), problems
    loader = _Loader(str(path), path.expanduser().resolve().parent, binding_ids)
    config = loader.load(data, path)
    problems = problems + loader.reader.problems
    return (None if problems else config), problems


class _Loader:
    def __init__(self, file: str, base: Path, binding_ids: frozenset[str] | None = None) -> None:
        self.reader = Reader(file)
        self.base = base
        self.binding_ids = binding_ids

    def problem(self, line: int, message: str) -> None:
        self.reader.problem(line, message)

    def load(self, data: Any, path: Path) -> Config:
        r = self.reader
        self._secrets(data)
        top = r.mapping(data, 1, "the config file", TOP_KEYS)
        config = Config(path=path)
        if top is None:
            return config
        agent = r.get(top, "agent", str, "the config file")
        config.agent = agent.strip() or None if agent else None
        config.sources = self._sources(top)
        if "office_hours" in top:
            config.office_hours = self._office_hours(top)
        config.keys = self._keys(top)
        config.theme = self._theme(top)
        config.data_dir = self._path(top, "data_dir", must_exist=False)
        config.rules = self._path(top, "rules", must_exist=True)
        config.replies = self._path(top, "replies", must_exist=True)
        if "undo_seconds" in top:
            config.undo_seconds = self._seconds(top, "undo_seconds", "the config file",
                                                allow_zero=True)
        config.agents = self._agents(top)
        group = r.get(top, "group", str, "the config file")
        config.group = group.strip() or None if group else None
        config.approval = self._approval(top)
        config.on_alert = self._command(top, "on_alert")
        notify = top.get("desktop_notify")
        if notify is not None and not isinstance(notify, bool):
            self.problem(top.line_of("desktop_notify"),
                         f"'desktop_notify' must be true or false, not {describe(notify)}")
        config.desktop_notify = bool(notify) if isinstance(notify, bool) else False
        return config

    def _agents(self, top: YMap) -> dict[str, dict[str, str]]:
        """``agents: {NAME: {os_user: LOGIN, role: agent|lead}}``."""
        if "agents" not in top:
            return {}
        agents = self.reader.mapping(top["agents"], top.line_of("agents"), "'agents'")
        out: dict[str, dict[str, str]] = {}
        for name, value in (agents or {}).items():
            line = agents.line_of(name)
            example = f"{name}: {{os_user: LOGIN, role: agent}}"
            if not isinstance(value, YMap):
                self.problem(line, f"agents: '{name}' must be a mapping like {example}")
                continue
            unknown = sorted(str(k) for k in value if k not in ("os_user", "role", "teams"))
            if unknown:
                self.problem(line, f"agents: '{name}' has unknown key(s) {', '.join(unknown)}; "
                                   f"write {example}")
                continue
            login = value.get("os_user")
            role = value.get("role", "agent")
            if not isinstance(login, str) or not login.strip():
                self.problem(line, f"agents: '{name}' needs the OS login it connects as: "
                                   f"{example}")
                continue
            if role not in ROLES:
                self.problem(line, f"agents: '{name}' role must be one of "
                                   f"{', '.join(ROLES)}, not {describe(role)}")
                continue
            teams = value.get("teams", [])
            if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
                self.problem(line, f"agents: '{name}' teams must be a list of team ids from "
                                   "rules.yaml, like [operations, safety]")
                continue
            out[str(name)] = {"os_user": login.strip(), "role": str(role), "teams": list(teams)}
        return out

    def _approval(self, top: YMap) -> dict[str, list[str]]:
        """``approval: {roles: [agent], categories: [safety]}``: replies needing a lead."""
        if "approval" not in top:
            return {}
        m = self.reader.mapping(top["approval"], top.line_of("approval"), "'approval'",
                                ("roles", "categories"))
        out: dict[str, list[str]] = {}
        for key in ("roles", "categories"):
            if m is None or key not in m:
                continue
            value = m[key]
            if not isinstance(value, YList) or not all(isinstance(v, str) for v in value):
                self.problem(m.line_of(key), f"approval: '{key}' must be a list of names, "
                                             f"like [{'agent' if key == 'roles' else 'safety'}]")
                continue
            if key == "roles":
                bad = [v for v in value if v not in ROLES]
                if bad:
                    self.problem(m.line_of(key), f"approval: unknown role(s) {', '.join(bad)}; "
                                                 f"roles are {', '.join(ROLES)}")
                    continue
            out[key] = [str(v) for v in value]
        return out

    def _command(self, top: YMap, key: str) -> list[str]:
        if key not in top:
            return []
        value = top[key]
        if isinstance(value, str) and value.strip():
            return [value.strip()]
        if isinstance(value, YList) and value and all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
        self.problem(top.line_of(key), f"'{key}' must be a command as a list, like "
                                       f"[notify-send, --urgency=critical], not {describe(value)}")
        return []

    # --- pieces ---------------------------------------------------------------------------------

    def _secrets(self, value: Any) -> None:
        """Any key that names a secret, anywhere in the file."""
        if isinstance(value, YMap):
            for key, item in value.items():
                k = str(key).lower()
                if any(word in k for word in SECRET_WORDS) and k != "token_file":
                    self.problem(value.line_of(key), f"'{key}': {SECRET_HINT}")
                self._secrets(item)
        elif isinstance(value, YList):
            for item in value:
                self._secrets(item)

    def _sources(self, top: YMap) -> list[SourceConfig]:
        from ..sources.registry import OPTIONS, kind_of

        if "sources" not in top:
            return []
        items = top["sources"]
        if not isinstance(items, YList):
            self.problem(top.line_of("sources"), "'sources' must be a list of sources, one per "
                                                 "'- spec: ...' line")
            return []
        out: list[SourceConfig] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            line = items.line_of(i)
            where = f"source {i + 1}"
            if isinstance(item, str):
                item_map = YMap(line)
                item_map["spec"], item_map.lines["spec"] = item, line
                item = item_map
            if not isinstance(item, YMap):
                self.problem(line, f"{where} must be a spec (mastodon:https://...) or a mapping "
                                   f"with 'spec:', not {describe(item)}")
                continue
            spec = self.reader.get(item, "spec", str, where, required=True)
            if spec is None:
                continue
            spec = spec.strip()
            try:
                kind = kind_of(spec)
            except ValueError as exc:
                self.problem(item.line_of("spec"), str(exc))
                continue
            if spec in seen:
                self.problem(item.line_of("spec"), f"source {spec} is listed twice (first at "
                                                   f"line {seen[spec]}): keep one")
                continue
            seen[spec] = item.line_of("spec")
            allowed = OPTIONS[kind]
            options: dict[str, Any] = {}
            for key, value in item.items():
                if key == "spec" or (any(w in str(key).lower() for w in SECRET_WORDS) \
                        and key != "token_file"):
                    continue
                if key not in allowed:
                    self.problem(item.line_of(key), unknown_key_message(
                        key, allowed, f"a {kind} source"))
                    continue
                checked = self._option(item, key, value, kind)
                if checked is not None:
                    options[key] = checked
            out.append(SourceConfig(spec, options, line))
        return out

    def _option(self, item: YMap, key: str, value: Any, kind: str) -> Any:
        line = item.line_of(key)
        where = f"the {kind} source"
        if key in SECONDS:
            return self._seconds(item, key, where)
        if key == "notification_types":
            from ..sources.mastodon import NOTIFICATION_TYPES

            if (not isinstance(value, list) or not value
                    or any(v not in NOTIFICATION_TYPES for v in value)):
                self.problem(line, f"'notification_types' must be a list of "
                                   f"{', '.join(NOTIFICATION_TYPES)}, not {describe(value)}")
                return None
            return list(value)
        if key in ("stream", "dms", "burst", "shift", "include_filtered"):
            if not isinstance(value, bool):
                self.problem(line, f"'{key}' must be true or false, not {describe(value)}")
                return None
            return value
        if key in ("page_limit", "max_pages", "seed", "max_line", "max_body"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.problem(line, f"'{key}' must be a whole number, not {describe(value)}")
                return None
            return value
        if key == "horizon_days":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                self.problem(line, f"'horizon_days' must be a number of days (> 0), not "
                                   f"{describe(value)}")
                return None
            return float(value)
        if key == "rate":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                self.problem(line, f"'rate' must be mentions per second (> 0), not "
                                   f"{describe(value)}")
                return None
            return float(value)
        if key == "speed":
            if value == "max" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and value > 0):
                return value
            self.problem(line, f"'speed' must be a number of times real time or max, not "
                               f"{describe(value)}")
            return None
        if key == "visibility":
            if value not in VISIBILITIES:
                self.problem(line, f"visibility {describe(value)} is not one of "
                                   f"{', '.join(VISIBILITIES)}{did_you_mean(value, VISIBILITIES)}")
                return None
            return value
        if key == "format":
            from ..sources.feed import FORMATS

            if value not in FORMATS:
                self.problem(line, f"format {describe(value)} is not one of {', '.join(FORMATS)}"
                                   f"{did_you_mean(value, FORMATS)}")
                return None
            return value
        if key == "map":
            if not isinstance(value, YMap) or not all(
                    isinstance(v, str) and v for v in value.values()):
                self.problem(line, "'map' must be field: path pairs, e.g. "
                                   "map: {id: ticket_id, text: body, author: user.name}")
                return None
            return {str(k): v for k, v in value.items()}
        if key == "token_file":
            return self._token_file(item, key, value)
        if key in ("service", "streaming_url"):
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                self.problem(line, f"'{key}' must be an http(s) URL, not {describe(value)}")
                return None
            return value
        return value

    def _token_file(self, item: YMap, key: str, value: Any) -> str | None:
        line = item.line_of(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(line, f"'token_file' must be a path, not {describe(value)}")
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base / path
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            self.problem(line, f"token file {path} does not exist: create it with the access "
                               "token on one line, then chmod 600 it")
            return None
        if os.name == "posix" and mode & 0o077:
            self.problem(line, f"token file {path} has mode {mode:04o}: other users can read "
                               f"it; run 'chmod 600 {path}'")
            return None
        return str(path)

    def _seconds(self, m: YMap, key: str, where: str, allow_zero: bool = False) -> float | None:
        value = m[key]
        line = m.line_of(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(value).total_seconds()
            except ValueError as exc:
                self.problem(line, f"'{key}' in {where}: {exc}")
                return None
        if seconds < 0 or (seconds == 0 and not allow_zero):
            self.problem(line, f"'{key}' in {where} must be more than 0 seconds")
            return None
        return seconds

    def _office_hours(self, top: YMap) -> OfficeHours | None:
        # The same section, and the same checks and messages, as rules.yaml's office_hours.
        office, problems = read_office_hours(top, self.reader.file)
        self.reader.problems.extend(problems)
        return office

    def _keys(self, top: YMap) -> dict[str, str]:
        if "keys" not in top:
            return {}
        keys = self.reader.mapping(top["keys"], top.line_of("keys"), "'keys'")
        out: dict[str, str] = {}
        known = self.binding_ids
        for binding, value in (keys or {}).items():
            if known is not None and binding not in known:
                self.problem(keys.line_of(binding),
                             f"keys: '{binding}' is not a binding id{did_you_mean(binding, known)}"
                             f" (binding ids are listed in the README, Keys, and by ? in the "
                             f"console; e.g. desk.reply, queue.down)")
                continue
            if not isinstance(value, str) or not value.strip():
                self.problem(keys.line_of(binding),
                             f"keys: '{binding}' must be keys separated by commas, like "
                             f"\"r,ctrl+r\", not {describe(value)}")
                continue
            out[str(binding)] = ",".join(k.strip() for k in value.split(",") if k.strip())
        return out

    def _theme(self, top: YMap) -> str | None:
        value = self.reader.get(top, "theme", str, "the config file")
        if value is None:
            return None
        from textual.theme import BUILTIN_THEMES  # the console's themes: textual is installed

        name = value.strip()
        if name not in BUILTIN_THEMES:
            self.problem(top.line_of("theme"), f"theme {describe(value)} is not one of "
                                               f"{', '.join(sorted(BUILTIN_THEMES))}"
                                               f"{did_you_mean(name, sorted(BUILTIN_THEMES))}")
            return None
        return name

    def _path(self, top: YMap, key: str, *, must_exist: bool) -> Path | None:
        value = self.reader.get(top, key, str, "the config file")
        if not value:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if must_exist and not path.is_file():
            self.problem(top.line_of(key), f"{key} file {path} does not exist")
        return path
