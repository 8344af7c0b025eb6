"""Rules learned from the team's own history: what the agents did, and which words predicted it.

Input: a history of inbound messages *with the brand's replies* — the public "Customer Support on
Twitter" layout (tweet_id, author_id, inbound, created_at, text, response_tweet_id,
in_response_to_tweet_id) or our JSONL with ``id``, ``text``, ``inbound`` (false for the brand's
own posts) and ``in_reply_to``.

1. Conversations: each inbound message that does not answer one of the brand's posts opens a
   conversation; the brand's first reply to it says what the agent did (:func:`agent_action`):
   moved it to DM or email (``take_offline``), gave a status update or link (``update_and_link``),
   directed to a team, page or number (``assist_and_direct``), answered or thanked (``reply``),
   or did not reply (``monitor``).
2. Words: every word and two-word phrase of the opening message, folded and (with the rules'
   ``word_forms``) stemmed, is counted per action on the *training* part (70 % of the
   conversations, chosen by a hash of the conversation id so the split is the same every run).
3. Proposals: a term whose conversations went to one action with precision ≥ ``min_precision``
   and support ≥ ``min_support``, clearly above that action's base rate (Wilson lower bound at
   z = 3: thousands of terms are tried, so chance alone would find some), and that the rules do
   not already list, is proposed for that
   action: take-offline triggers as a new category placed before the transactions, the others as
   categories placed before the catch-all.  Each term carries its support and precision as a YAML
   comment: every proposal is a readable matcher a lead can edit or delete.
4. Agreement: on the *held-out* 30 %, how often the rules' suggested action equals what the agent
   did, before and after the proposals (the "after" rules are the patched file, loaded and checked
   like any rules file).
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import Author, Mention
from .wordforms import Stems, normalize_for_match_fast

__all__ = ["Conversation", "Learned", "Proposal", "agent_action", "learn", "read_conversations"]

# What the agent's reply says, strongest first (the first that matches names the action).
_OFFLINE = re.compile(
    r"\b(?:dm|dms|direct message|direct messages|private message|pm us|send us a message|"
    r"message us|e-?mail us|email address|__email__|via chat|live ?chat|reach (?:out to )?us "
    r"(?:by|via|here)|contact us (?:by|via) (?:phone|chat|email)|call us|follow and dm|"
    r"account details|booking reference|reference number|order number|in private|privately)\b",
    re.IGNORECASE)
_UPDATE = re.compile(
    r"\b(?:service update|status|live updates?|delays? (?:are|is|was)|delayed due|disruption|"
    r"(?:lines?|station) (?:is |are )?(?:closed|reopen\w*)|running (?:\d+ minutes )?late|"
    r"outage|engineers are|we'?re aware|known issue|being fixed|fault on)\b", re.IGNORECASE)
_DIRECT = re.compile(
    r"(?:https?://|\bt\.co/|\bwww\.|\b(?:contact|speak (?:to|with)|call|log it|claim|"
    r"friends at|colleagues at|team on|option \d|\d{4} ?\d{3} ?\d{3,4})\b|@\w+ (?:can|will) help)",
    re.IGNORECASE)
ACTIONS_LEARNED = ("take_offline", "update_and_link", "assist_and_direct", "reply", "monitor")

STOPWORDS = frozenset(
    "a an the and or but to of in on at for from with by is are was were be been am i me my "
    "we our you your it its this that these those have has had do does did not no so if as "
    "just can could would should will up out about any there here what when where how who "
    "why which than then them they he she his her us get got im dont cant its ive ill thanks "
    "thank hi hello please pls".split())


def agent_action(reply: str | None) -> str:
    """What the agent did, from the brand's first reply (None: no reply → monitor)."""
    if not reply:
        return "monitor"
    if _OFFLINE.search(reply):
        return "take_offline"
    if _UPDATE.search(reply):
        return "update_and_link"
    if _DIRECT.search(reply):
        return "assist_and_direct"
    return "reply"


@dataclass(slots=True)
class Conversation:
    id: str
    author: str
    created_at: datetime
    text: str  # the opening inbound message
    reply: str | None  # the brand's first reply
    action: str = ""  # what the agent did

    @property
    def held_out(self) -> bool:
        return zlib.crc32(self.id.encode()) % 10 < 3

    def mention(self) -> Mention:
        return Mention(id=self.id, source="history", channel="public",
                       author=Author(handle=self.author), text=self.text,
                       created_at=self.created_at, received_at=self.created_at)


FIELDS = ("id", "author", "inbound", "created_at", "text", "in_reply_to")
TWCS = {"id": "tweet_id", "author": "author_id", "inbound": "inbound",
        "created_at": "created_at", "text": "text", "in_reply_to": "in_response_to_tweet_id"}


def _time(value: Any) -> datetime:
    from .model import parse_time

    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)


def _yes(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _id(value: Any) -> str:
    text = str(value or "").strip()
    return text[:-2] if text.endswith(".0") else text  # pandas wrote 101.0 for 101


def read_conversations(path: str | Path, mapping: dict[str, str] | None = None
                       ) -> list[Conversation]:
    """The conversations of a history with replies (CSV or JSONL; ``mapping`` renames CSV
    columns: field=column, fields id, author, inbound, created_at, text, in_reply_to).

    Raises OSError when unreadable and ValueError for a CSV lacking a needed column.
    """
    p = Path(path)
    rows: list[dict[str, Any]] = []
    if p.suffix.lower() == ".csv":
        with p.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            columns = {}
            for name in FIELDS:
                col = (mapping or {}).get(name) or (name if name in header else TWCS[name])
                if col not in header:
                    raise ValueError(f"{path}: no column for {name!r} (looked for {col!r}); "
                                     f"give --map {name}=COLUMN")
                columns[name] = col
            for row in reader:
                rows.append({n: row.get(c) for n, c in columns.items()})
    else:
        with p.open(encoding="utf-8-sig") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        continue
    inbound: dict[str, dict[str, Any]] = {}
    brand: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not isinstance(row, dict) or not row.get("text"):
            continue
        rid = _id(row.get("id"))
        (inbound if _yes(row.get("inbound", True)) else brand)[rid] = row
    first_reply: dict[str, tuple[datetime, str]] = {}
    for row in brand.values():
        target = _id(row.get("in_reply_to"))
        if target in inbound:
            at = _time(row.get("created_at"))
            if target not in first_reply or at < first_reply[target][0]:
                first_reply[target] = (at, str(row["text"]))
    out = []
    for rid, row in inbound.items():
        parent = _id(row.get("in_reply_to"))
        if parent and parent in brand:
            continue  # a follow-up to the brand, not an opening message
        author = row.get("author")
        handle = author.get("handle") if isinstance(author, dict) else author
        reply = first_reply.get(rid, (None, None))[1]
        out.append(Conversation(rid, str(handle or "?"), _time(row.get("created_at")),
                                str(row["text"]), reply, agent_action(reply)))
    out.sort(key=lambda c: (c.created_at, c.id))
    return out


def _terms(text: str, stems: Stems | None,
           surface: dict[str, Counter[str]] | None = None) -> set[str]:
    """Words and two-word phrases (stemmed when the rules use word forms); ``surface`` collects
    the customer's own words behind each term, so a proposal is written as a readable word."""
    words = [w for w in normalize_for_match_fast(re.sub(r"https?://\S+|@\w+", " ", text)).split()
             if not w.isdigit() and len(w) > 1 and w not in STOPWORDS]
    keys = [stems.word(w) for w in words] if stems is not None else words
    out: set[str] = set()
    for i, key in enumerate(keys):
        if len(words[i]) > 2:
            out.add(key)
            if surface is not None:
                surface[key][words[i]] += 1
        if i + 1 < len(keys):
            pair = f"{key} {keys[i + 1]}"
            out.add(pair)
            if surface is not None:
                surface[pair][f"{words[i]} {words[i + 1]}"] += 1
    return out


@dataclass(slots=True)
class Proposal:
    action: str
    term: str
    support: int  # training conversations containing the term
    precision: float  # share of them the agent handled with ``action``


@dataclass(slots=True)
class Learned:
    train: int
    held_out: int
    actions: Counter[str]  # what the agents did, all conversations
    proposals: list[Proposal]
    before: float | None = None  # held-out agreement with the current rules
    after: float | None = None  # ... with the proposals applied
    before_train: float | None = None
    after_train: float | None = None
    patch: str = ""  # the YAML inserted into the rules file
    rules_text: str = ""  # the whole new rules file
    by_action_after: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "held_out": self.held_out,
                "actions": dict(self.actions.most_common()),
                "agreement_held_out_before": self.before, "agreement_held_out_after": self.after,
                "agreement_train_before": self.before_train,
                "agreement_train_after": self.after_train,
                "proposals": [{"action": p.action, "term": p.term, "support": p.support,
                               "precision": round(p.precision, 3)} for p in self.proposals],
                "patch": self.patch}


def propose(conversations: Iterable[Conversation], stems: Stems | None, *,
            known: Collection[str] = frozenset(), min_support: int = 3, min_precision: float = 0.6,
            per_action: int = 15, skip: Iterable[str] = ("monitor",)) -> list[Proposal]:
    """Terms that predict an action on the training conversations (see the module doc).

    ``skip``: actions nothing is proposed for (no reply; the catch-all's own action, which
    needs no words)."""
    skip = frozenset(skip)
    by_term: dict[str, Counter[str]] = defaultdict(Counter)
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    conversations = list(conversations)
    base = Counter(c.action for c in conversations)
    total = max(1, len(conversations))
    for conv in conversations:
        for term in _terms(conv.text, stems, surface):
            by_term[term][conv.action] += 1
    chosen: dict[str, list[Proposal]] = defaultdict(list)
    for term, counts in by_term.items():
        support = sum(counts.values())
        if support < min_support or term in known:
            continue
        action, n = counts.most_common(1)[0]
        precision = n / support
        if action in skip or precision < min_precision:
            continue
        # Thousands of words and phrases are tried: keep only those whose precision is above
        # the action's base rate beyond chance (Wilson lower bound, z = 3, about p < 0.001).
        if _wilson_lower(n, support) <= base[action] / total:
            continue
        shown = surface[term].most_common(1)[0][0] if surface.get(term) else term
        chosen[action].append(Proposal(action, shown, support, precision))
    out: list[Proposal] = []
    for action in ACTIONS_LEARNED:
        ranked = sorted(chosen.get(action, []), key=lambda p: (-p.precision * p.support ** 0.5,
                                                              p.term))
        kept: list[Proposal] = []
        for p in ranked:
            # A phrase adds nothing when one of its words is already proposed.
            if " " in p.term and any(k.term in p.term.split() for k in kept):
                continue
            kept.append(p)
            if len(kept) >= per_action:
                break
        out.extend(kept)
    return out


def _wilson_lower(successes: int, n: int, z: float = 3.0) -> float:
    """Lower bound of the Wilson score interval for a proportion (Wilson 1927)."""
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * ((p * (1 - p) + z2 / (4 * n)) / n) ** 0.5
    return (centre - spread) / (1 + z2 / n)


def _agreement(rules: Any, conversations: list[Conversation]) -> float | None:
    scored = [c for c in conversations if c.action != "monitor"]
    if not scored:
        return None
    ok = sum(rules.triage(c.mention()).action == c.action for c in scored)
    return ok / len(scored)


def patch_text(rules_text: str, proposals: list[Proposal], rules: Any,
               replies: dict[str, str]) -> tuple[str, str]:
    """(the YAML block(s) to insert, the whole new rules file).  Placement: take-offline
    triggers before the first category that is not a hand-off or ignore; the others before the
    catch-all category."""
    blocks: dict[str, str] = {}
    for action in ACTIONS_LEARNED:
        props = [p for p in proposals if p.action == action]
        if not props:
            continue
        words = [p for p in props if " " not in p.term]
        phrases = [p for p in props if " " in p.term]
        reply = replies.get(action)
        team = None
        if action in ("take_offline", "update_and_link", "handoff"):  # one obvious owner
            team = next((c.team for c in rules.category_rules.values()
                         if c.action == action and c.team), None)
        lines = [f"  - id: learned_{action}",
                 "    # Proposed by `mentiondesk rules learn`: each term with its support (opening",
                 "    # messages containing it) and precision (share the agents handled this way).",
                 f"    urgency: {_level_for(rules, action)}", f"    action: {action}"]
        if team:
            lines.append(f"    team: {team}")
        if reply:
            lines.append(f"    reply: {reply}")
        lines.append("    match:")
        for key, items in (("keywords", words), ("phrases", phrases)):
            if items:
                lines.append(f"      {key}:")
                for p in items:
                    lines.append(f"        - \"{p.term}\"   # support {p.support}, "
                                 f"precision {p.precision:.0%}")
        blocks[action] = "\n".join(lines) + "\n\n"
    patch = "".join(blocks.values())
    text = rules_text
    ordered = list(rules.category_rules.values())
    offline_before = next((c for c in ordered if c.action not in ("handoff", "ignore")),
                          ordered[-1])
    catch_all = ordered[-1]
    original = rules_text.splitlines(keepends=True)
    for action, block in blocks.items():
        anchor = offline_before if action == "take_offline" else catch_all
        text = _insert_before(text, original[anchor.line - 1], block)
    return patch, text


def _level_for(rules: Any, action: str) -> str:
    for c in rules.category_rules.values():
        if c.action == action:
            return c.urgency
    return rules.category_rules[rules.categories[-1]].urgency


def _insert_before(text: str, target: str, block: str) -> str:
    """Insert ``block`` before the line ``target`` (a category's ``- id:`` line, unique in the
    file because ids are), found by its text so that earlier insertions do not shift it."""
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line == target)
    return "".join(lines[:index]) + block + "".join(lines[index:])


def learn(conversations: list[Conversation], rules: Any, rules_text: str, *,
          replies: dict[str, str], load: Any, min_support: int = 3,
          min_precision: float = 0.6) -> Learned:
    """Propose rules from ``conversations`` and measure them.  ``replies`` maps an action to the
    reply key learned categories use; ``load(text) -> Rules`` loads and checks a rules text
    (raises RulesError when the patched file has problems)."""
    train = [c for c in conversations if not c.held_out]
    held = [c for c in conversations if c.held_out]
    known = set()
    stems = getattr(rules, "stems", None)
    for cat in rules.category_rules.values():  # terms the rules already match need no proposal
        known.update(_terms(cat.id.replace("_", " "), stems))
    catch_all = rules.category_rules[rules.categories[-1]].action
    proposals = propose(train, stems, known=known, min_support=min_support,
                        min_precision=min_precision, skip=("monitor", catch_all))
    result = Learned(len(train), len(held), Counter(c.action for c in conversations), proposals)
    result.before = _agreement(rules, held)
    result.before_train = _agreement(rules, train)
    if proposals:
        result.patch, result.rules_text = patch_text(rules_text, proposals, rules, replies)
        new_rules = load(result.rules_text)
        result.after = _agreement(new_rules, held)
        result.after_train = _agreement(new_rules, train)
    else:
        result.rules_text = rules_text
        result.after, result.after_train = result.before, result.before_train
    return result
