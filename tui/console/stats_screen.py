"""The shift's figures on one screen: response times, SLA per urgency, volumes, risk, sentiment.

Every figure comes from :mod:`tui.core.metrics` (definitions there).  The live desk is read on
the UI thread (it is not thread-safe); the archive, which can be large, is read once in a worker
thread when the screen opens, then combined with the live desk on every refresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Sparkline, Static

from widgets.charts import BarChart

from ..core.metrics import ConvRecord, ShiftMetrics, archived_records, compute, live_records
from ..core.text import one_line
from ..core.topics import topics
from ..core.when import fmt_rate, fmt_seconds

if TYPE_CHECKING:
    from ..core.desk import Desk

WIDE = 120  # columns from which the panels go side by side
REFRESH_SECONDS = 10.0
TOP_ROWS = 6  # bars per volume chart


class StatsScreen(Screen[None]):
    """``StatsScreen(desk)``: the shift's figures; escape or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,ctrl+g", "close", "Back", id="stats.close"),
        Binding("q", "close", "Back", show=False, id="stats.close_q"),
        Binding("r", "refresh_stats", "Refresh", id="stats.refresh"),
    ]

    DEFAULT_CSS = """
    StatsScreen { layout: vertical; }
    StatsScreen #stats-title { height: 1; padding: 0 1; background: $panel; }
    StatsScreen #stats-body { height: 1fr; }
    StatsScreen #stats-grid {
        grid-size: 1; grid-rows: auto; grid-gutter: 0 1; height: auto; padding: 0 1;
    }
    StatsScreen.-wide #stats-grid { grid-size: 2; }
    StatsScreen .panel {
        height: auto; border: round $primary-darken-1; border-title-color: $text-accent;
        padding: 0 1;
    }
    StatsScreen Sparkline { height: 2; margin-bottom: 0; }
    StatsScreen .caption { color: $text-muted; height: 1; }
    StatsScreen.-wide Sparkline { height: 3; }
    StatsScreen.-wide SentimentStrip { height: 1; }
    """

    def __init__(self, desk: Desk, window: timedelta = timedelta(hours=12)) -> None:
        super().__init__()
        self.desk = desk
        self.window = window
        self.archived: list[ConvRecord] = []
        self.metrics: ShiftMetrics | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="stats-title")
        with VerticalScroll(id="stats-body"), Grid(id="stats-grid"):
            yield self._panel("Response times (on each level's clock)", Static(id="times"))
            yield self._panel("SLA hit rate by urgency", BarChart(
                id="sla", maximum=100, fmt=lambda v: f"{v:.0f}%" if v == v else "—",
                bar_style="$success",
                empty="no answers due yet"))
            yield self._panel("Right now", Static(id="now"))
            with Vertical(classes="panel", id="trend-panel") as panel:
                panel.border_title = "Per hour"
                yield Static(id="volume-caption", classes="caption")
                yield Sparkline([], id="volume")
                yield Static(id="sentiment-caption", classes="caption")
                yield SentimentStrip(id="sentiment")
            yield self._panel("Volume by category", BarChart(id="by-category"))
            yield self._panel("Volume by channel", BarChart(id="by-channel"))
            yield self._panel("Volume by team", BarChart(id="by-team"))
            yield self._panel("Topics (monitor-only mentions)", Static(id="topics"))
        yield Footer()

    @staticmethod
    def _panel(title: str, child: Any) -> Vertical:
        panel = Vertical(child, classes="panel")
        panel.border_title = title
        return panel

    def on_mount(self) -> None:
        self._resized(self.app.size.width)
        self.recompute()
        if getattr(self.desk, "store", None) is not None:
            self._read_archive(self._since(), set(self.desk.conversations))
        self.set_interval(REFRESH_SECONDS, self.recompute)

    def on_resize(self) -> None:
        self._resized(self.app.size.width)

    def _resized(self, width: int) -> None:
        self.set_class(width >= WIDE, "-wide")

    def _since(self) -> datetime:
        return self.desk.clock() - self.window

    @work(thread=True, exclusive=True, group="stats-archive")
    def _read_archive(self, since: datetime, live: set[str]) -> None:
        records = archived_records(self.desk.store, since, skip=live, outbox=False)
        self.app.call_from_thread(self._archive_ready, records)

    def _archive_ready(self, records: list[ConvRecord]) -> None:
        self.archived = records
        self.recompute()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_refresh_stats(self) -> None:
        self.recompute()

    def recompute(self) -> None:
        now = self.desk.clock()
        since = now - self.window
        live = [r for r in live_records(self.desk) if r.last_at >= since]
        live_ids = {r.id for r in live}
        records = live + [r for r in self.archived if r.id not in live_ids]
        m = compute(records, self.desk.rules, since, now, self.desk.counts(now))
        self.metrics = m
        self._show(m, records, since, now)

    # -- drawing -------------------------------------------------------------------------------

    def _show(self, m: ShiftMetrics, records: list[ConvRecord], since: datetime,
              now: datetime) -> None:
        tz = getattr(self.desk.rules.office_hours, "tz", None)

        def hm(t: datetime) -> str:
            return (t.astimezone(tz) if tz else t).strftime("%a %H:%M")

        hours = self.window.total_seconds() / 3600
        self.query_one("#stats-title", Static).update(Content.assemble(
            ("Shift stats", "bold"), f"  {hm(since)} → {hm(now)} ({hours:g}h) · "
            f"{m.mentions} mentions · {m.conversations_new} new · {m.resolved} resolved"))
        rows = [("", "median", "p90", "n")]
        for label, d in (("first response", m.first_response), ("handling", m.handling),
                         ("resolution", m.resolution)):
            rows.append((label, fmt_seconds(d.median), fmt_seconds(d.p90), str(d.count)))
        lines = [Content.assemble((f"{a:<15}", "bold" if i else ""),
                                  f"{b:>7} {c:>7} {d:>4}") for i, (a, b, c, d) in
                 enumerate(rows)]
        self.query_one("#times", Static).update(Content("\n").join(lines))
        sla_rows = []
        for s in m.sla.values():
            if s.hits + s.misses + s.pending:
                sla_rows.append((f"{s.level} {s.hits}/{s.hits + s.misses}"
                                 + (f" +{s.pending}" if s.pending else ""),
                                 # nothing answered or missed yet: no rate, not 0 %
                                 s.rate * 100 if s.rate is not None else float("nan")))
        self.query_one("#sla", BarChart).set_rows(sla_rows)
        c = m.now_counts
        rate = [fmt_rate(s.rate) for s in m.sla.values() if s.rate is not None]
        now_lines = [
            Content.assemble("open ", (str(c.get("open", 0)), "bold"), "   need reply ",
                             (str(c.get("needs_reply", 0)), "bold"),
                             (f" ({c['needs_reply_snoozed']} snoozed)"
                              if c.get("needs_reply_snoozed") else ""),
                             "   snoozed ", (str(c.get("snoozed", 0)), "bold")),
            Content.assemble("at risk ", (str(c.get("at_risk", 0)), "bold $warning"),
                             "   past deadline ", (str(c.get("breached", 0)), "bold $error")),
            Content(f"{m.episodes} needing a reply this shift, {m.reopened} reopened, "
                    f"{m.snoozes} snoozes" + (f"; SLA {' / '.join(rate)}" if rate else "")),
        ]
        self.query_one("#now", Static).update(Content("\n").join(now_lines))
        self.query_one("#volume-caption", Static).update(Content(
            f"mentions per hour (max {max(m.volume, default=0)})"))
        self.query_one("#volume", Sparkline).data = [float(v) for v in m.volume]
        mean = "-" if m.sentiment_mean is None else f"{m.sentiment_mean:+.2f}"
        self.query_one("#sentiment-caption", Static).update(Content(
            f"sentiment per hour, coarse lexicon −1…+1 (mean {mean})"))
        self.query_one("#sentiment", SentimentStrip).set_values(m.sentiment)
        for wid, data in (("#by-category", m.by_category), ("#by-channel", m.by_channel),
                          ("#by-team", m.by_team)):
            items = list(data.items())
            shown = len(items) if len(items) <= TOP_ROWS + 1 else TOP_ROWS
            rows_v = [(k, float(v)) for k, v in items[:shown]]
            if len(items) > shown:
                rows_v.append((f"{len(items) - shown} more", float(
                    sum(v for _, v in items[shown:]))))
            self.query_one(wid, BarChart).set_rows(rows_v)
        texts = sorted(((mm.created_at, mm.text) for r in records for mm in r.mentions()
                        if mm.triage.action == "monitor" and not mm.deleted
                        and since <= mm.created_at <= now), reverse=True)
        found = topics((t for _, t in texts), 5)
        topic_lines = [Content.assemble((f"{t.count:>3} ", "bold"), t.term,
                                        (f"  “{one_line(t.examples[0], 40)}”", "$text-muted"))
                       for t in found] or [Content.styled("none yet", "$text-muted")]
        self.query_one("#topics", Static).update(Content("\n").join(topic_lines))


class SentimentStrip(Widget):
    """One cell-run per hour: the bar's height is the strength, its colour the sign.

    (Textual's Sparkline scales to the data's own min and max, which would draw a neutral hour
    as a full bar on a shift without praise; this scale is fixed at −1…+1.)
    """

    DEFAULT_CSS = "SentimentStrip { height: 1; width: 1fr; }"
    BARS = "▁▂▃▄▅▆▇█"

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values: list[float] = []

    def set_values(self, values: list[float]) -> None:
        self.values = list(values)
        self.refresh()

    def render(self) -> Content:
        width = self.size.width or 40
        values = self.values[-width:]
        if not values:
            return Content.styled("no mentions yet", "$text-muted")
        per = max(1, width // len(values))
        parts: list[tuple[str, str] | str] = []
        for v in values:
            if v == 0:
                parts.append(("·" * per, "$text-muted"))
            else:
                cell = self.BARS[min(7, int(abs(v) * 7.999))]
                parts.append((cell * per, "$success" if v > 0 else "$error"))
        return Content.assemble(*parts)

