"""A small desk with exactly the API the Runner uses (``tui.sources.runner.RunnerDesk``):
``ingest``, ``outbox`` (the real Outbox, without a store) and ``maintain`` (nothing to do).
It triages nothing: every mention is a "general" item in its own thread."""

from __future__ import annotations

from dataclasses import dataclass

from tui.core.model import Mention, Triage
from tui.core.outbox import Outbox


@dataclass
class Ingested:
    mention: Mention
    triage: Triage
    conv_id: str
    new: bool


class FakeDesk:
    def __init__(self) -> None:
        self.mentions: dict[str, Mention] = {}
        self.batches: list[list[Mention]] = []
        self.outbox = Outbox(None)
        self.refuse: set[str] = set()  # mention ids whose ingest raises (a poison mention)

    def ingest(self, mentions: list[Mention]) -> list[Ingested]:
        mentions = list(mentions)
        if any(m.id in self.refuse for m in mentions):
            raise RuntimeError("poison mention")
        self.batches.append(mentions)
        out = []
        for m in mentions:
            new = m.key not in self.mentions
            if new or m.edited or m.deleted:
                self.mentions[m.key] = m
            triage = Triage("general", "normal", None, "social", "reply", None, False, 0.0,
                            "fake desk")
            out.append(Ingested(m, triage, m.thread or m.id, new))
        return out

    def maintain(self, now: object = None) -> int | None:
        return None  # no store: nothing to checkpoint

    def queue_reply(self, *, source: str, text: str, in_reply_to_raw: str | None,
                    to: str = "admin", kind: str = "reply") -> dict:
        item = self.outbox.new_item(conv_id="c1", source=source, kind=kind, channel="public",
                                    text=text, to=to, in_reply_to=None,
                                    in_reply_to_raw=in_reply_to_raw, event_id="e1")
        self.outbox.add(item)
        return item
