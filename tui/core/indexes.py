"""Deadline indexes over the desk's conversations, kept up to date on every change.

They answer the status bar's counts in O(log n) and tell the desk's tick which snoozes ran out
and which conversations just used 75 % of their response time, without scanning every
conversation.  All times are UTC POSIX timestamps (seconds).
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

from sortedcontainers import SortedList

from .conversation import OPEN, SNOOZED, Conversation

_LAST = "\uffff"  # sorts after every conversation id: bisect_right((ts, _LAST)) counts <= ts


RISKS_POPPED = 64  # risk entries popped one by one in a tick before one pass takes the rest

class DeadlineIndex:
    """Conversations waiting for an answer (open or snoozed) by deadline and by risk time
    (75 % of the response time used), the snoozed ones, and the heaps the tick pops."""

    def __init__(self) -> None:
        self.needing: set[str] = set()  # waiting for an answer, open or snoozed
        self.snoozed: set[str] = set()
        self.snoozed_needing: set[str] = set()  # snoozed and waiting for an answer
        self._due: SortedList = SortedList()  # (deadline ts, conv id)
        self._risk: SortedList = SortedList()  # (risk ts, conv id)
        self._clocks: dict[str, tuple[float, float]] = {}  # conv id -> (deadline, risk)
        self._risk_heap: list[tuple[float, str, float]] = []  # (risk ts, conv id, deadline ts)
        self._pushed: dict[str, tuple[float, float]] = {}  # last (risk, deadline) on the heap
        self._alerted: dict[str, float] = {}  # conv id -> deadline already warned about
        self._snooze_heap: list[tuple[float, str]] = []
        self._snooze_set: set[tuple[float, str]] = set()

    def update(self, conv: Conversation) -> None:
        """Re-index one conversation after its state changed (or it was forgotten: status
        resolved, not needing a reply)."""
        cid = conv.id
        waiting = conv.needs_reply and conv.status in (OPEN, SNOOZED)
        (self.needing.add if waiting else self.needing.discard)(cid)
        (self.snoozed.add if conv.status == SNOOZED else self.snoozed.discard)(cid)
        (self.snoozed_needing.add if waiting and conv.status == SNOOZED
         else self.snoozed_needing.discard)(cid)
        new = ((conv.deadline.timestamp(), conv.risk_at.timestamp())
               if waiting and conv.deadline is not None and conv.risk_at is not None else None)
        old = self._clocks.get(cid)
        if old != new:
            if old is not None:
                self._due.remove((old[0], cid))
                self._risk.remove((old[1], cid))
                del self._clocks[cid]
            if new is not None:
                self._due.add((new[0], cid))
                self._risk.add((new[1], cid))
                self._clocks[cid] = new

    def load(self, convs: Iterable[Conversation]) -> None:
        """:meth:`update` then :meth:`schedule` for many conversations not indexed yet, at
        once: one sort and one heapify instead of a sorted insert each (a desk's load)."""
        due: list[tuple[float, str]] = []
        risk: list[tuple[float, str]] = []
        risk_heap: list[tuple[float, str, float]] = []
        snoozes: list[tuple[float, str]] = []
        for conv in convs:
            cid = conv.id
            status = conv.status
            waiting = conv.needs_reply and status in (OPEN, SNOOZED)
            if waiting:
                self.needing.add(cid)
            if status == SNOOZED:
                self.snoozed.add(cid)
                if waiting:
                    self.snoozed_needing.add(cid)
                if conv.snoozed_until is not None:
                    entry = (conv.snoozed_until.timestamp(), cid)
                    if entry not in self._snooze_set:
                        self._snooze_set.add(entry)
                        snoozes.append(entry)
            if conv.deadline is not None and conv.risk_at is not None:
                d, r = conv.deadline.timestamp(), conv.risk_at.timestamp()
                if waiting:
                    assert cid not in self._clocks, "load() takes conversations not indexed"
                    due.append((d, cid))
                    risk.append((r, cid))
                    self._clocks[cid] = (d, r)
                if self._pushed.get(cid) != (r, d):
                    self._pushed[cid] = (r, d)
                    risk_heap.append((r, cid, d))
        self._due.update(due)
        self._risk.update(risk)
        self._risk_heap.extend(risk_heap)
        heapq.heapify(self._risk_heap)
        self._snooze_heap.extend(snoozes)
        heapq.heapify(self._snooze_heap)

    def schedule(self, conv: Conversation) -> None:
        """Put the conversation's risk time and snooze end on the tick's heaps (once each)."""
        if conv.risk_at is not None and conv.deadline is not None:
            pair = (conv.risk_at.timestamp(), conv.deadline.timestamp())
            if self._pushed.get(conv.id) != pair:  # one heap entry per deadline, not per change
                self._pushed[conv.id] = pair
                heapq.heappush(self._risk_heap, (pair[0], conv.id, pair[1]))
        if conv.status == SNOOZED and conv.snoozed_until is not None:
            entry = (conv.snoozed_until.timestamp(), conv.id)
            if entry not in self._snooze_set:
                self._snooze_set.add(entry)
                heapq.heappush(self._snooze_heap, entry)

    def counts(self, ts: float) -> dict[str, int]:
        """``needs_reply`` (open or snoozed), ``needs_reply_snoozed`` (those of them snoozed:
        not in the queue), ``at_risk`` (75 % used, not breached), ``breached`` (deadline <=
        ts) and ``snoozed`` at the UTC timestamp ``ts``."""
        breached = self._due.bisect_right((ts, _LAST))
        used_75 = self._risk.bisect_right((ts, _LAST))  # risk_at <= deadline: includes breached
        return self._counts(breached, used_75, len(self.needing), len(self.snoozed),
                            len(self.snoozed_needing))

    @staticmethod
    def _counts(breached: int, used_75: int, needing: int, snoozed: int,
                snoozed_needing: int) -> dict[str, int]:
        return {"needs_reply": needing, "at_risk": used_75 - breached, "breached": breached,
                "snoozed": snoozed, "needs_reply_snoozed": snoozed_needing}

    def counts_basis(self) -> tuple[array[float], array[float], int, int, int]:
        """What :meth:`counts` needs, compact: the deadlines and the risk times (UTC
        timestamps, sorted, as ``array('d')``: one object each, read in microseconds from a
        state image) and the three sizes.  ``counts_from(basis, ts)`` gives the same counts
        as :meth:`counts` for as long as nothing changes."""
        return (array("d", [t for t, _ in self._due]), array("d", [t for t, _ in self._risk]),
                len(self.needing), len(self.snoozed), len(self.snoozed_needing))

    @classmethod
    def counts_from(cls, basis: tuple[Any, ...], ts: float) -> dict[str, int]:
        """:meth:`counts` at ``ts`` from a :meth:`counts_basis`."""
        due, risk, needing, snoozed, snoozed_needing = basis
        return cls._counts(bisect.bisect_right(due, ts), bisect.bisect_right(risk, ts),
                           needing, snoozed, snoozed_needing)

    def snoozes_ending(self, ts: float) -> Iterator[str]:
        """Conversation ids whose snooze was scheduled to end at or before ``ts`` (popped: the
        caller checks the conversation is still snoozed)."""
        while self._snooze_heap and self._snooze_heap[0][0] <= ts:
            entry = heapq.heappop(self._snooze_heap)
            self._snooze_set.discard(entry)
            yield entry[1]

    def risks_reached(self, ts: float) -> Iterator[tuple[str, float]]:
        """(conversation id, deadline ts) pairs whose risk time is at or before ``ts`` and not
        yet warned about for that deadline (popped; the caller checks it still applies and
        calls :meth:`warned`)."""
        heap = self._risk_heap
        popped = 0
        while heap and heap[0][0] <= ts:
            if popped == RISKS_POPPED:
                # Many at once (a start after hours closed: every open conversation late):
                # one pass and one heapify instead of 100,000 pops (~0.8 s at 100,000).
                reached = [e for e in heap if e[0] <= ts]
                heap[:] = [e for e in heap if e[0] > ts]
                heapq.heapify(heap)
                for _, cid, deadline_ts in reached:
                    if self._alerted.get(cid) != deadline_ts:
                        yield cid, deadline_ts
                return
            _, cid, deadline_ts = heapq.heappop(heap)
            popped += 1
            if self._alerted.get(cid) != deadline_ts:
                yield cid, deadline_ts

    def warned(self, cid: str, deadline_ts: float) -> None:
        self._alerted[cid] = deadline_ts
