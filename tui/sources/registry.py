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


def make_source(spec: str, config: Any = None, *, options: dict[str, Any] | None = None
                ) -> Source:
    """Build the source for ``spec``.  Raises ValueError with a clear message."""
    spec = spec.strip()
    kind = kind_of(spec)
    opts: dict[str, Any] = {}
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


def add_source_arguments(parser: Any) -> None:
    """The command-line options that shape sources: shared by the console and ``ingest``."""
    parser.add_argument("--speed", default="1", help="replay speed: N times real time, or max")
    parser.add_argument("--map", help="CSV column mapping for replay: field=column,...")
    parser.add_argument("--seed", type=int, default=7, help="demo stream seed")
    parser.add_argument("--rate", type=float, default=0.5, help="demo mentions per second")
    parser.add_argument("--burst", action="store_true",
                        help="demo: a brand emergency, hundreds of mentions a minute")


def source_options(spec: str, args: Any) -> dict[str, Any]:
    """Command-line flags that apply to the source ``spec`` (flags win over the config)."""
    kind = spec.partition(":")[0]
    opts: dict[str, Any] = {}
    if kind == "demo":
        opts.update(seed=args.seed, rate=args.rate, burst=bool(args.burst))
    elif kind == "replay":
        opts["speed"] = args.speed
        if getattr(args, "map", None):
            from ..core.interchange import parse_map

            opts["map"] = parse_map(args.map)
    return opts
