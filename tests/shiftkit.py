"""A known shift for metrics, report and stats tests: every figure can be computed by hand.

The shift (Monday 3 March 2025 and the next morning; London is on GMT, office 08:00–20:00):

=====  ==========================  =================  ======================================
conv   customer message            level (deadline)   what the agents did
=====  ==========================  =================  ======================================
ann    Mon 09:00 train cancelled   high  (10:00)      reply 09:20, resolve 10:00
ann    Mon 10:30 cancelled again   high  (11:30)      (reopened) reply 10:50
cat    Mon 10:00 collapsed         critical (10:15)   reply 10:05 UNDONE, handoff 10:30
dan    Mon 11:00 DM                normal (15:00)     snooze 11:10→13:00, never answered
hal    Mon 12:00 can't log in      normal (16:00)     offline 12:30, resolve 13:00 (no close)
bob    Mon 19:30 refund            normal (Tue 11:30) reply Tue 08:30, resolve Tue 09:00
eve    Tue 11:45 lost property     normal (Tue 15:45) nothing yet
fay,   Mon 14:00–16:00 opinions    none               monitor only
gus,
ivy
=====  ==========================  =================  ======================================

``now`` is Tuesday 12:00, ``since`` Monday 08:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import Clock, new_desk
from deskkit import mention


def T(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


SINCE = T(3, 8)
NOW = T(4, 12)
MIN = 60


def build_shift(store: Any = None, clock: Clock | None = None) -> tuple[Any, Clock, dict]:
    """The desk after the shift above; returns (desk, clock, conversation ids by handle)."""
    clock = clock or Clock(SINCE)
    desk = new_desk(store, clock)
    ids: dict[str, str] = {}

    def say(handle: str, text: str, at: datetime, channel: str = "public") -> str:
        clock.now = at
        res = desk.ingest([mention(text, handle, at=at, channel=channel, name=handle.title())])
        ids[handle] = res[0].conv_id
        return res[0].conv_id

    def at(when: datetime) -> None:
        clock.now = when

    ann = say("ann", "my train was cancelled, still waiting", T(3, 9))
    at(T(3, 9, 20))
    desk.reply(ann, "Sorry Ann, here is the latest: https://status.northline.example")
    at(T(3, 10))
    desk.resolve(ann)
    cat = say("cat", "someone collapsed on the platform at Leeds", T(3, 10))
    at(T(3, 10, 5))
    desk.reply(cat, "Please DM us where you are")
    at(T(3, 10, 5) + timedelta(seconds=5))
    desk.undo(conv_id=cat)
    at(T(3, 10, 30))
    desk.handoff(cat, "safety", "collapsed passenger, Leeds platform 3")
    say("ann", "my train was cancelled again", T(3, 10, 30))
    at(T(3, 10, 50))
    desk.reply(ann, "Sorry again Ann, the next train runs at 11:10")
    dan = say("dan", "hello can you help", T(3, 11), channel="direct")
    at(T(3, 11, 10))
    desk.snooze(dan, T(3, 13))
    hal = say("hal", "I can't log in to my account", T(3, 12))
    at(T(3, 12, 30))
    desk.take_offline(hal, "We've sent you a DM", "Hi Hal, which email do you log in with?")
    at(T(3, 13))
    desk.resolve(hal)
    say("fay", "honestly the new livery is ugly", T(3, 14))
    say("gus", "i think the new livery looks dated @northline https://x.example/p", T(3, 15))
    say("ivy", "the new timetable is worse imo 😡", T(3, 16))
    bob = say("bob", "I need a refund for my ticket", T(3, 19, 30))
    at(T(4, 8, 30))
    desk.reply(bob, "Hi Bob, you can claim at https://help.northline.example/refunds")
    at(T(4, 9))
    desk.resolve(bob)
    say("eve", "where do I find the lost property office", T(4, 11, 45))
    at(NOW)
    desk.tick()  # the console's clock tick: dan's snooze ran out at 13:00
    return desk, clock, ids


def deliver_all(desk: Any) -> None:
    """Post every waiting outbox item (as the sources would): archiving waits for them."""
    # Rounds: a public bridge becomes due only once its DM was sent.
    while due := desk.outbox.due(desk.clock() + timedelta(days=1)):
        for item in due:
            desk.outbox.start(item["id"])
            desk.outbox.sent(item["id"], "remote-" + item["id"][:8])
