"""The queue filter language (the console's ``/``): ``category:refund team:refunds channel:dm
urgency:high words``.

Fields name what the loaded rules call things (category ids, team names, urgency levels), so a
team that renames a level in rules.yaml filters by its new name.  Several values of one field
are ORed, fields are ANDed, and any other word must appear (case-insensitively) in the handle,
the category or the conversation's last 20 customer messages.  Only open conversations match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .conversation import OPEN, STATUSES, Conversation
from .desk import Desk
from .model import DIRECT, PUBLIC
from .yamlfile import did_you_mean

if TYPE_CHECKING:
    from .rules import Rules

FILTER_FIELDS = ("category", "team", "channel", "urgency", "tag", "status", "assigned")
CHANNEL_WORDS = {"dm": DIRECT, "pub": PUBLIC, "private": DIRECT, DIRECT: DIRECT, PUBLIC: PUBLIC}
WAITING = "waiting"  # status:waiting — open conversations waiting on the customer
WORDS_SEARCHED = 20  # customer messages searched for free words, newest first


def parse_filter(text: str, desk: Desk) -> Callable[[Conversation], bool] | None:
    """``text`` as a predicate on conversations (None for an empty filter: show everything).

    Raises ValueError naming the unknown field or value and what is allowed.
    """
    rules = desk.rules
    wanted: dict[str, set[str]] = {}
    words: list[str] = []
    for token in text.split():
        name, sep, value = token.partition(":")
        field = name.lower()
        if sep and field in FILTER_FIELDS:
            value = value.lower()
            if field == "channel":
                if value not in CHANNEL_WORDS:
                    raise ValueError(f"channel:{value}? write channel:{PUBLIC} or "
                                     f"channel:{DIRECT}")
                value = CHANNEL_WORDS[value]
            elif field == "category" and value not in rules.categories:
                raise ValueError(f"category:{value}?{did_you_mean(value, rules.categories)} "
                                 "categories are " + ", ".join(rules.categories))
            elif field == "urgency" and value not in rules.levels:
                raise ValueError(f"urgency:{value}?{did_you_mean(value, rules.levels)} levels "
                                 "are " + ", ".join(rules.levels))
            elif field == "team" and value not in rules.teams:
                raise ValueError(f"team:{value}?{did_you_mean(value, rules.teams)} teams are "
                                 + ", ".join(rules.teams))
            elif field == "assigned":
                # assigned:me (the desk's agent), assigned:none, assigned:NAME
                value = (desk.agent.casefold() if value == "me" else value)
            elif field == "status" and value not in (*STATUSES, WAITING, "any"):
                raise ValueError(f"status:{value}? statuses are " + ", ".join(STATUSES)
                                 + f", {WAITING} (open, waiting on the customer), any")
            wanted.setdefault(field, set()).add(value)
        elif sep and name and name.isalpha() and name.islower():
            raise ValueError(f"{name}:? filter by {', '.join(FILTER_FIELDS)} or free text")
        else:
            words.append(token.casefold())
    if not wanted and not words:
        return None

    statuses = wanted.get("status", {OPEN})  # across states: status:snoozed, status:any
    tags = {t.lstrip("#") for t in wanted.get("tag", set())}

    def predicate(conv: Conversation) -> bool:
        if conv.status not in statuses and "any" not in statuses and not (
                WAITING in statuses and conv.status == OPEN and not conv.needs_reply):
            return False
        if tags and not tags.issubset({t.casefold() for t in conv.tags}):
            return False
        if "assigned" in wanted and (conv.assigned or "none").casefold() \
                not in wanted["assigned"]:
            return False
        if "category" in wanted and conv.category not in wanted["category"]:
            return False
        team = desk.owning_team(conv)
        if "team" in wanted and team not in wanted["team"]:
            return False
        if "urgency" in wanted and conv.urgency not in wanted["urgency"]:
            return False
        latest = desk.latest_mention(conv)
        if "channel" in wanted and (latest is None or latest.channel not in wanted["channel"]):
            return False
        if words:
            texts = [desk.mentions[k].text for k in conv.mention_keys()[-WORDS_SEARCHED:]]
            hay = " ".join([conv.handle, conv.category, *texts]).casefold()
            return all(w in hay for w in words)
        return True

    return predicate


def filter_fields(rules: Rules) -> list[tuple[str, list[str]]]:
    """Each field with the values the loaded rules allow, for the filter's help."""
    return [("category", list(rules.categories)), ("team", list(rules.teams)),
            ("urgency", list(rules.levels)), ("channel", [PUBLIC, f"{DIRECT} (dm)"]),
            ("tag", ["any tag (tag:vip)"]), ("status", [*STATUSES, WAITING, "any"]),
            ("assigned", ["me", "none", "an agent's name"]),
            ("#42", ["jump to a conversation by number"])]
