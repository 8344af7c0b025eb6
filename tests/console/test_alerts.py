"""Alert batching (tui/console/alerts.py): one toast per kind per cooldown, every alert counted."""

from __future__ import annotations

import pytest

from tui.console.alerts import ALERT_NAMED, AlertBatches, AlertLine


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_alert_shows_at_once_then_the_cooldown_gathers_the_rest() -> None:
    ticks = Ticks()
    batches = AlertBatches(cooldown=5.0, clock=ticks)
    assert batches.add("critical", [AlertLine("#1 @amy (safety)", "help")]) <= 0
    toast = batches.take("critical")
    assert toast is not None
    assert (toast.message, toast.severity) == ("CRITICAL #1 @amy (safety): help", "error")
    ticks.now += 1
    assert batches.add("critical", [AlertLine("#2 @bob")]) == pytest.approx(4.0)
    ticks.now += 2
    assert batches.add("critical", [AlertLine("#3 @cat")]) == pytest.approx(2.0)
    # the other kind has its own cooldown
    assert batches.add("at_risk", [AlertLine("#4 is at 75 %")]) <= 0
    toast = batches.take("critical")
    assert toast is not None and toast.message.startswith("CRITICAL: 2 new critical — #2 @bob, #3")
    assert batches.take("critical") is None  # nothing pending: no toast


def test_a_summary_names_the_first_few_and_counts_them_all() -> None:
    batches = AlertBatches(clock=Ticks())
    lines = [AlertLine(f"#{i} @c{i}") for i in range(ALERT_NAMED + 3)]
    batches.add("at_risk", lines)
    toast = batches.take("at_risk")
    assert toast is not None and toast.severity == "warning"
    assert toast.message.startswith(f"AT RISK: {ALERT_NAMED + 3} at risk — #0 @c0, ")
    assert f"#{ALERT_NAMED - 1} @c{ALERT_NAMED - 1}, and 3 more" in toast.message
    assert f"#{ALERT_NAMED} @" not in toast.message


def test_a_counted_alert_counts_its_conversations_and_is_not_named() -> None:
    """The desk names ALERT_BURST alerts and counts the rest per team (``Alert.count``): the
    toast's total is every conversation, its names the named ones."""
    batches = AlertBatches(clock=Ticks())
    batches.add("at_risk", [AlertLine("#1 @amy: LATE by 8m", conv="1"),
                            AlertLine("#2 @bob: LATE by 9m", conv="2"),
                            AlertLine("430 more conversations for safety near or past their "
                                      "response target (430 late)", conv="7", count=430)])
    toast = batches.take("at_risk")
    assert toast is not None
    assert toast.message.startswith("AT RISK: 432 at risk — #1 @amy: LATE by 8m, #2 @bob")
    assert toast.message.endswith(", and 430 more (n: most urgent first)")
    assert "for safety" not in toast.message
    batches.add("at_risk", [AlertLine("30 more for refunds", conv="3", count=30),
                            AlertLine("12 more for safety", conv="4", count=12)])
    only = batches.take("at_risk")
    assert only is not None and only.message == "AT RISK: 42 at risk (n: most urgent first)"


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(KeyError):
        AlertBatches().add("minor", [AlertLine("#1")])


def test_desktop_notification_is_osc_9_and_777_with_stranger_text_defused() -> None:
    from tui.console.alerts import desktop_notification

    seq = desktop_notification("mentiondesk", "CRITICAL #4 @evil\x1b]52;c;cHduZWQ=\x07; rm -rf")
    assert seq.startswith("\x1b]9;mentiondesk: CRITICAL #4 @evil]52cc")
    assert seq.count("\x1b") == 2 and seq.count("\x07") == 2  # only our own two sequences
    assert "\x1b]777;notify;mentiondesk;CRITICAL #4 @evil]52ccHduZWQ= rm -rf\x07" in seq


async def test_desktop_notifications_are_opt_in(clock, make_desk) -> None:
    from types import SimpleNamespace

    from app_fixtures import make_app, mention

    for opted in (False, True):
        desk = make_desk(clock=clock, demo=3)
        desk.config = SimpleNamespace(desktop_notify=opted, keys={})
        app = make_app(desk)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.ingest([mention(f"fire-{opted}", "there's smoke coming from under the "
                                "carriage, people are scared, is anyone coming??",
                                handle="smokey")])
            assert app.rings == 1
            assert len(app.desktop_sent) == (1 if opted else 0)
            if opted:
                assert "@smokey" in app.desktop_sent[0]
