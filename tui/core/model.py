"""The records that flow through mentiondesk: mention → triage → conversation events → outbox.

One name per concept: a *mention* arrives (public mention or direct message), a *triage* is the
rules' verdict on it, an *event* is something an agent (or the desk) did to a conversation, an
*outbox item* is a post waiting to go out.  All of them round-trip through plain dicts
(``to_dict`` / ``from_dict``) because that is what the journal, TinyDB and the JSONL interchange
format store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from .text import MAX_TEXT, clean_name, clean_text

PUBLIC = "public"
# A sender's clock further than this from the network's is flagged (phones drift by seconds;
# minutes mean a wrong clock or a chosen date).
SKEW_ALLOWED = timedelta(minutes=5)
# Times after this year are refused as records (deadline arithmetic near year 9999 overflows,
# and no real message is dated there).
LATEST_YEAR = 2200
DIRECT = "direct"
CHANNELS = (PUBLIC, DIRECT)
# Who can see a post, widest first (Mastodon's visibility; Bluesky posts are public, chat is
# direct).  A reply is never wider than the post it answers (README "What each network sends").
AUDIENCES = ("public", "unlisted", "followers", "direct")
AUDIENCE_LABELS = {"public": "public", "unlisted": "unlisted", "followers": "followers-only",
                   "direct": "direct"}
_AUDIENCE_WORDS = {"public": "public", "unlisted": "unlisted", "followers": "followers",
                   "followers-only": "followers", "followers_only": "followers",
                   "private": "followers", "direct": "direct", "dm": "direct"}


def audience_of_value(value: object) -> str | None:
    """``public`` / ``unlisted`` / ``followers`` / ``direct`` from a network's word for it
    (Mastodon's ``private`` is followers-only), or None when unknown."""
    return _AUDIENCE_WORDS.get(str(value).strip().lower()) if value else None


def narrowest(*audiences: str | None) -> str:
    """The least visible of the given audiences (unknown ones are ignored; none: public)."""
    known = [a for a in audiences if a in AUDIENCES]
    return max(known, key=AUDIENCES.index) if known else "public"


def utcnow() -> datetime:
    return datetime.now(UTC)


TIME_FORMS = "write ISO 8601 such as 2026-11-30T09:15:00Z, or Unix seconds"


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(clean_name(text, 40))


def _from_seconds(seconds: float, shown: object) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{_shown(shown)} is out of range for a time: {TIME_FORMS}") from None


def time_field(data: dict[str, Any], name: str) -> datetime:
    """``data[name]`` parsed by :func:`parse_time`; the ValueError names the field."""
    try:
        return parse_time(data[name])
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def parse_time(value: object) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` allowed) or epoch seconds into an aware UTC datetime."""
    if type(value) is str:
        # Fast path: what we store ourselves ("2026-11-23T10:00:00Z"); Python 3.11 reads "Z".
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if dt.tzinfo is UTC:
                return dt
            return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = _from_seconds(float(value), value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                seconds = float(text)
            except ValueError:
                try:  # Twitter-style "Tue Oct 31 22:10:47 +0000 2017" (customer-support exports)
                    dt = datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
                except ValueError:
                    raise ValueError(f"{_shown(text)} is not a time: {TIME_FORMS}") from None
            else:
                dt = _from_seconds(seconds, text)
    else:
        raise ValueError(f"{_shown(value)} is not a time: {TIME_FORMS}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...
def iso(dt: datetime | None) -> str | None:
    """``2025-03-04T09:00:00Z``: the UTC ISO 8601 form every store document and export uses
    (None stays None).  UTC datetimes skip the time-zone conversion (a 400k-record export
    formats ~800k of them).

    Time-zone-aware results are remembered (up to ``_ISO_KEPT``): one ingested mention's
    ``created_at`` is formatted about eight times (its document, its deadline, the customer's
    profile and contact list, re-written with every later mention of that customer), and a
    dictionary hit costs a tenth of ``isoformat`` (bench/bench_ingest.py).  Equal aware
    datetimes are the same instant, so they share one UTC text; naive ones are never cached
    (their meaning depends on the local zone)."""
    if dt is None:
        return None
    text = _ISO_TEXT.get(dt)
    if text is None:
        aware = dt.tzinfo is not None
        if dt.tzinfo is not UTC:
            dt = dt.astimezone(UTC)
        text = dt.isoformat().replace("+00:00", "Z")
        if aware:
            if len(_ISO_TEXT) >= _ISO_KEPT:
                _ISO_TEXT.clear()
            _ISO_TEXT[dt] = text
    return text


_ISO_KEPT = 16_384  # ~2.5 MB at most; cleared when full (the newest times are the ones reused)
_ISO_TEXT: dict[datetime, str] = {}


MAX_FOLLOWERS = 10**10  # above any real account (the largest have about 10**9); beyond is bad data


def follower_count(value: Any) -> int:
    """A follower count from a source's field: a whole number, its digits as text, or an
    integral float (JSON ``3e4``).  Anything else (negative, fractional, not finite, text that
    is not digits, more than :data:`MAX_FOLLOWERS` such as ``1.5e300`` or 5,000 digits) is bad
    data from a stranger's server and counts as 0: never a crash, a dropped record, or a giant
    number that would rank the author above everyone (urgency modifiers read it)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 11:
            return 0
        value = int(text)
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer() or abs(value) > MAX_FOLLOWERS:
            return 0
        value = int(value)
    if not isinstance(value, int) or value < 0 or value > MAX_FOLLOWERS:
        return 0
    return value


@dataclass(slots=True)
class Author:
    handle: str  # shown; it can change (and two accounts can both show "handle.invalid")
    name: str = ""
    followers: int = 0
    verified: bool = False
    language: str | None = None
    id: str | None = None  # the account's lasting identity: Bluesky DID, Mastodon account URI
    # Whether a direct message from us can reach them, as the network said when this message
    # was read (see ``dm_closed_reason``): who they accept DMs from (``DMS_FROM``; None: the
    # network does not say, e.g. Mastodon) and whether they follow our account (None: not said).
    dms_from: str | None = None
    follows_us: bool | None = None

    @property
    def dm_closed(self) -> str | None:
        """Why a direct message from us cannot reach this author, or None (it can, or we do
        not know): see :func:`dm_closed_reason`."""
        return dm_closed_reason(self.handle, self.dms_from, self.follows_us)

    @classmethod
    def from_value(cls, value: Any, language: str | None = None) -> Author:
        """An author from a handle string or an object with ``handle``/``name``/...

        Field types follow the README's interchange table: ``handle`` a string (anything else
        is refused), ``name`` a string (anything else is dropped), ``followers`` a whole number
        or its digits (else 0), ``verified`` true/false or "true"/"false"/"yes"/"no"/"1"/"0"
        (anything else is refused).  Raises ValueError naming the field."""
        if isinstance(value, str):
            handle = clean_name(value.lstrip("@"))
            if not handle:
                raise ValueError("author has no 'handle'")
            return cls(handle=handle, language=language)
        if not isinstance(value, dict):
            raise ValueError("author must be a handle string or an object with 'handle'")
        found = value.get("handle") or value.get("acct") or value.get("username")
        if not found:
            raise ValueError("author has no 'handle'")
        handle = found
        if not isinstance(handle, str):
            raise ValueError(f"author handle must be a string, not {_kind(handle)}")
        followers = follower_count(value.get("followers") or value.get("followers_count"))
        name = value.get("name") or value.get("display_name") or ""
        lang = value.get("language")
        ident = value.get("id") or value.get("did") or value.get("uri")
        return cls(
            handle=clean_name(handle.lstrip("@")),
            name=clean_name(name) if isinstance(name, str) else "",
            followers=followers,
            verified=flag(value.get("verified", False), "author verified"),
            language=clean_name(lang, 16) if isinstance(lang, str) and lang else language,
            id=clean_name(str(ident), 300) if isinstance(ident, str | int) and ident != ""
            else None,
            dms_from=dms_from_value(value.get("dms_from")),
            follows_us=(flag(value["follows_us"], "author follows_us")
                        if value.get("follows_us") is not None else None),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"handle": self.handle, "name": self.name,
                               "followers": self.followers, "verified": self.verified,
                               "language": self.language}
        if self.id:
            out["id"] = self.id
        if self.dms_from is not None:
            out["dms_from"] = self.dms_from
        if self.follows_us is not None:
            out["follows_us"] = self.follows_us
        return out


# Who a customer accepts direct messages from.  Bluesky's chat declaration, read from the
# ``associated.chat.allowIncoming`` of a profile view (lexicon app.bsky.actor.defs
# #profileAssociatedChat: known values "all", "following", "none"; a profile without it has the
# chat service's default, "following" — the Bluesky app's own canBeMessaged reads it the same
# way).  Mastodon has no such setting: a direct post reaches anyone who does not block us.
DMS_FROM = ("all", "following", "none")


def dms_from_value(value: object) -> str | None:
    """One of ``DMS_FROM`` from a stored or network value, or None when not known."""
    word = str(value).strip().lower() if isinstance(value, str) else ""
    return word if word in DMS_FROM else None


def dm_closed_reason(handle: str, dms_from: str | None, follows_us: bool | None) -> str | None:
    """Why a direct message from us cannot reach ``@handle``, or None when it can or when the
    network did not tell us (the send itself then decides, and a refusal is reported).

    ``dms_from`` is one of ``DMS_FROM`` (None: unknown); ``follows_us`` whether they follow our
    account (None: unknown).  The one rule, used by the suggestion, the console and the Bluesky
    source's check before sending (app.bsky.actor.defs#profileAssociatedChat)."""
    who = "@" + handle.lstrip("@")
    if dms_from == "none":
        return f"{who} does not accept direct messages"
    if dms_from == "following" and follows_us is False:
        return f"{who} accepts DMs only from accounts they follow, and does not follow us"
    return None


_TRUE = {"true", "yes", "1", "y", "t", "on"}
_FALSE = {"false", "no", "0", "n", "f", "off", ""}


def flag(value: Any, name: str) -> bool:
    """A true/false field from outside: a JSON boolean, 0/1, or the words true/false, yes/no
    (any case).  ``"false"`` is False (Python's ``bool("false")`` is True).  Raises ValueError
    for anything else."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"{name} must be true or false, not {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"{value[:20]!r}"
    return type(value).__name__ if not isinstance(value, (int, float)) else repr(value)


@dataclass(slots=True)
class Mention:
    """One normalized message from a customer, whatever network it came from."""

    id: str  # unique per source
    source: str  # "demo", "mastodon:https://example.social", "bluesky:brand.bsky.social", ...
    channel: str  # PUBLIC or DIRECT
    author: Author
    text: str  # cleaned plain text
    created_at: datetime
    received_at: datetime
    in_reply_to: str | None = None
    thread: str | None = None  # thread key (root id); defaults to the mention's own id
    url: str | None = None
    raw_id: str | None = None  # the network's own id (status id, at:// uri, ...)
    language: str | None = None
    edited: bool = False
    deleted: bool = False
    audience: str | None = None  # one of AUDIENCES; None: from the channel
    # The time the sender's client put on the message, when it differs from ``created_at``
    # (which is when the network received it: the response clock starts there).
    sent_at: datetime | None = None
    content_warning: str | None = None  # the sender's warning (Mastodon spoiler_text)

    @property
    def clock_skew(self) -> timedelta | None:
        """How far the sender's own time is from when the network got the message, when that
        is more than ``SKEW_ALLOWED`` (a wrong or chosen clock; shown next to the message)."""
        if self.sent_at is None:
            return None
        skew = self.sent_at - self.created_at
        return skew if abs(skew) > SKEW_ALLOWED else None

    @property
    def visibility(self) -> str:
        """Who can see this message: one of ``AUDIENCES``."""
        if self.audience in AUDIENCES:
            return self.audience
        return "direct" if self.channel == DIRECT else "public"

    @property
    def key(self) -> str:
        """Globally unique: ``source|id``."""
        return f"{self.source}|{self.id}"

    @property
    def customer(self) -> str:
        """The customer this mention belongs to: ``source|account id`` (a Bluesky DID, a
        Mastodon account URI) when the network gives one, else ``source|handle``."""
        if self.author.id:
            return f"{self.source}|{self.author.id}"
        return f"{self.source}|{self.author.handle.casefold()}"

    @property
    def legacy_customer(self) -> str:
        """The key customers had before accounts were keyed by id: ``source|handle``."""
        return f"{self.source}|{self.author.handle.casefold()}"

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        source: str | None = None,
        received_at: datetime | None = None,
    ) -> Mention:
        """Build a mention from the JSONL interchange format (see README), cleaning every text.

        Raises ``ValueError`` with a clear message when a required field is missing or bad.
        """
        if not isinstance(data, dict):
            raise ValueError("a mention must be a JSON object")
        for name in ("id", "text", "author", "created_at"):
            if data.get(name) in (None, ""):
                raise ValueError(f"missing required field '{name}'")
        # Types (README, interchange table): text a string; id, in_reply_to, thread, raw_id a
        # string or a whole number; edited/deleted true/false (or their words).  Anything else
        # is refused with the field's name, never stored as Python's repr of it.
        if not isinstance(data["text"], str):
            raise ValueError(f"text must be a string, not {_kind(data['text'])}")
        for name in ("id", "in_reply_to", "thread", "raw_id", "url", "source"):
            v = data.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
                raise ValueError(f"{name} must be a string, not {_kind(v)}")
        channel = str(data.get("channel") or PUBLIC).lower()
        if channel in ("dm", "private", "direct_message"):
            channel = DIRECT
        if channel not in CHANNELS:
            raise ValueError(f"channel must be 'public' or 'direct', not {channel!r}")
        audience = (DIRECT if channel == DIRECT else
                    audience_of_value(data.get("audience") or data.get("visibility")))
        if audience == DIRECT:
            channel = DIRECT
        language = data.get("language")
        language = clean_name(language, 16) if isinstance(language, str) and language else None
        author = Author.from_value(data["author"], language=language)
        mid = clean_name(data["id"], 200)
        in_reply_to = data.get("in_reply_to")
        created = time_field(data, "created_at")
        received = time_field(data, "received_at") if data.get("received_at") else None
        sent = time_field(data, "sent_at") if data.get("sent_at") else None
        for name, value in (("created_at", created), ("received_at", received),
                            ("sent_at", sent)):
            if value is not None and not LATEST_YEAR >= value.year >= 1970:
                raise ValueError(f"{name} {iso(value)} is out of range (1970 to {LATEST_YEAR})")
        arrived = received or received_at or utcnow()
        now = utcnow()
        if created > now + SKEW_ALLOWED:
            # Dated in the future by the sender: the clock starts when it reached us (or now),
            # and the sender's time is kept for display.
            start = arrived if 0 < arrived.timestamp() and arrived <= now else now
            sent, created = sent or created, start
        return cls(
            id=mid,
            source=clean_name(data.get("source") or source or "import", 200),
            channel=channel,
            author=author,
            text=clean_text(data["text"], MAX_TEXT),
            created_at=created,
            received_at=arrived,
            in_reply_to=clean_name(in_reply_to, 200) if in_reply_to not in (None, "") else None,
            thread=clean_name(data["thread"], 200) if data.get("thread") else None,
            url=clean_name(data["url"], 500) if data.get("url") else None,
            raw_id=clean_name(data["raw_id"], 200) if data.get("raw_id") else None,
            language=language or author.language,
            edited=flag(data.get("edited", False), "edited"),
            deleted=flag(data.get("deleted", False), "deleted"),
            audience=audience,
            sent_at=sent,
            content_warning=(clean_name(data["content_warning"], 500)
                             if data.get("content_warning") else None),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "channel": self.channel,
            "author": self.author.to_dict(),
            "text": self.text,
            "created_at": iso(self.created_at),
            "received_at": iso(self.received_at),
            "in_reply_to": self.in_reply_to,
            "thread": self.thread,
            "url": self.url,
            "raw_id": self.raw_id,
            "language": self.language,
            "edited": self.edited,
            "deleted": self.deleted,
            "audience": self.audience,
            "sent_at": iso(self.sent_at),
            "content_warning": self.content_warning,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Mention:
        """Rebuild a mention we stored ourselves (already clean: no re-cleaning cost)."""
        a = data["author"]
        return cls(
            id=data["id"],
            source=data["source"],
            channel=data["channel"],
            author=Author(a["handle"], a.get("name", ""), a.get("followers", 0),
                          a.get("verified", False), a.get("language"), a.get("id"),
                          a.get("dms_from"), a.get("follows_us")),
            text=data["text"],
            created_at=parse_time(data["created_at"]),
            received_at=parse_time(data["received_at"]),
            in_reply_to=data.get("in_reply_to"),
            thread=data.get("thread"),
            url=data.get("url"),
            raw_id=data.get("raw_id"),
            language=data.get("language"),
            edited=data.get("edited", False),
            deleted=data.get("deleted", False),
            audience=data.get("audience"),
            sent_at=parse_time(data["sent_at"]) if data.get("sent_at") else None,
            content_warning=data.get("content_warning"),
        )


# Suggested actions a triage can return.
ACTIONS = ("reply", "assist_and_direct", "take_offline", "handoff", "update_and_link", "monitor",
           "ignore")


@dataclass(slots=True)
class Triage:
    """The rules' verdict on one mention."""

    category: str
    urgency: str  # a level name from rules.yaml ("critical", "high", "normal", "low", "none")
    deadline: datetime | None  # None for monitor-only / ignore
    team: str | None
    action: str  # one of ACTIONS
    reply_key: str | None
    offline: bool
    score: float
    why: str  # one line: the rule and the words that matched
    rank: int = 0  # urgency rank: 0 = most urgent level
    offline_reasons: list[str] = field(default_factory=list)

    @property
    def needs_reply(self) -> bool:
        return self.action not in ("monitor", "ignore")

    def to_dict(self) -> dict[str, Any]:
        # Explicit (not dataclasses.asdict, whose deep copies cost more than the triage itself).
        return {"category": self.category, "urgency": self.urgency,
                "deadline": iso(self.deadline), "team": self.team, "action": self.action,
                "reply_key": self.reply_key, "offline": self.offline, "score": self.score,
                "why": self.why, "rank": self.rank, "offline_reasons": list(self.offline_reasons)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Triage:
        d = dict(d)
        d["deadline"] = parse_time(d["deadline"]) if d.get("deadline") else None
        return cls(**d)
