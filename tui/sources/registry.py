"""Turning a source spec (``mastodon:https://...``) plus its options into a Source.

Options come from the config file's ``sources:`` entry for the same spec, then from the caller
(command-line flags win).  Modules are imported only when their kind is asked for, so the demo
never loads httpx and a missing optional piece never breaks the others.
"""

from __future__ import annotations

import inspect
from typing import Any

from .base import Source

FORMS = "demo, replay:PATH, mastodon:URL, bluesky:HANDLE, feed:URL"

# Options each kind accepts in the config file (the config file names the feed mapping `map`).
OPTIONS: dict[str, tuple[str, ...]] = {
    "demo": ("seed", "rate", "burst"),
    "replay": ("speed", "map", "shift"),
    "mastodon": ("token_file", "visibility", "stream", "streaming_url", "poll_seconds",
                 "stream_timeout", "timeout", "backoff_base", "backoff_cap", "page_limit",
                 "max_pages", "horizon_days", "deadline", "notification_types",
                 "include_filtered", "edit_seconds"),
    "bluesky": ("service", "poll_seconds", "timeout", "backoff_base", "backoff_cap",
                "page_limit", "max_pages", "dms", "horizon_days", "deadline"),
    "feed": ("format", "map", "poll_seconds", "stream_timeout", "timeout", "backoff_base",
             "backoff_cap", "max_line", "max_body"),
}


def describe_intake(spec: str, options: dict[str, Any] | None = None) -> str:
    """One line: what a source reads and what it leaves out (``check`` prints it)."""
    kind = kind_of(spec)
    opts = options or {}
    if kind == "mastodon":
        from .mastodon import NOTIFICATION_TYPES

        types = list(opts.get("notification_types") or ("mention", "quote"))
        left = [t for t in NOTIFICATION_TYPES if t not in types]
        filtered = ("included (include_filtered)" if opts.get("include_filtered", True)
                    else "NOT read: mentions from new or limited accounts are missed")
        return (f"{spec}: reads notifications {', '.join(types)}"
                + (f" (not {', '.join(left)})" if left else "")
                + f"; filtered notifications {filtered}; DMs from conversations")
    if kind == "bluesky":
        dms = "chat DMs" if opts.get("dms", True) else "no DMs (dms: false)"
        return f"{spec}: reads mentions, replies and quotes; {dms}"
    if kind == "demo":
        return "demo: the built-in demo stream"
    return f"{spec}: every record of the {kind} (interchange format)"


def kind_of(spec: str) -> str:
    """``"mastodon"`` for ``mastodon:https://...``; ValueError naming the forms otherwise."""
    kind, sep, rest = spec.partition(":")
    if spec == "demo":
        return "demo"
    if sep and rest and kind in OPTIONS and kind != "demo":
        return kind
    raise ValueError(f"unknown source {spec!r}: write one of {FORMS}")


# What a source does when neither the config nor a flag says: a replay plays at real time.
DEFAULTS: dict[str, dict[str, Any]] = {"replay": {"speed": 1}}


def make_source(spec: str, config: Any = None, *, options: dict[str, Any] | None = None
                ) -> Source:
    """Build the source for ``spec``: ``DEFAULTS``, then the config file's options for the same
    spec, then ``options`` (command-line flags).  Raises ValueError with a clear message."""
    spec = spec.strip()
    kind = kind_of(spec)
    opts: dict[str, Any] = dict(DEFAULTS.get(kind, {}))
    if config is not None and hasattr(config, "source_options"):
        opts.update(config.source_options(spec))
    opts.update(options or {})
    rest = spec.partition(":")[2]
    if "map" in opts:
        opts["mapping"] = opts.pop("map")
    if kind == "demo":
        from .demo import DemoSource

        return _build(DemoSource, kind, opts)
    if kind == "replay":
        from .replay import ReplaySource

        return _build(ReplaySource, kind, opts, rest)
    if kind == "mastodon":
        from .mastodon import MastodonSource

        return _build(MastodonSource, kind, opts, rest)
    if kind == "bluesky":
        from .bluesky import BlueskySource

        return _build(BlueskySource, kind, opts, rest)
    from .feed import FeedSource

    return _build(FeedSource, kind, opts, rest)


def _build(cls: type, kind: str, opts: dict[str, Any], *args: Any) -> Source:
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in opts if k not in accepted]
    if unknown:
        allowed = ", ".join(k for k in OPTIONS[kind])
        raise ValueError(f"unknown option {', '.join(map(repr, unknown))} for {kind} sources "
                         f"(allowed: {allowed})")
    try:
        return cls(*args, **opts)
    except TypeError as exc:
        raise ValueError(f"bad options for {kind} source: {exc}") from None


def source_options(spec: str, args: Any, *, fastest: bool = False) -> dict[str, Any]:
    """Command-line flags that apply to the source ``spec`` (flags win over the config).

    Only flags the user gave count (a flag left out is ``None``), so a config file's ``seed:`` or
    ``speed:`` is never overwritten by a command-line default.  ``fastest`` (``ingest --once``):
    a replay runs at maximum speed whatever the flags or the config say.
    """
    kind = spec.partition(":")[0]
    opts: dict[str, Any] = {}
    if kind == "demo":
        for name in ("seed", "rate", "burst"):
            value = getattr(args, name, None)
            if value is not None:
                opts[name] = value
    elif kind == "replay":
        speed = getattr(args, "speed", None)
        if fastest:
            opts["speed"] = "max"
        elif speed is not None:
            opts["speed"] = speed
        if getattr(args, "map", None):
            from ..core.interchange import parse_map

            opts["map"] = parse_map(args.map)
    return opts
