"""A horizontal bar chart that fits whatever width it is given.

Labels and values are data (category ids, team names, handles may come from configuration or
strangers), so every line is built with :class:`~textual.content.Content` — never parsed as
markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.content import Content
from textual.widget import Widget

FULL = "█"
PARTIAL = " ▏▎▍▌▋▊▉"  # eighths of a cell


def bar(value: float, maximum: float, width: int) -> str:
    """A bar of ``value / maximum`` of ``width`` cells, drawn to an eighth of a cell."""
    if maximum <= 0 or width <= 0 or not value > 0:  # also no bar for NaN (nothing measured)
        return ""
    eighths = round(min(1.0, value / maximum) * width * 8)
    whole, rest = divmod(eighths, 8)
    return FULL * whole + (PARTIAL[rest] if rest else "")


class BarChart(Widget):
    """Rows of ``label ████▌ value``; ``set_rows`` replaces them."""

    DEFAULT_CSS = """
    BarChart {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, rows: Sequence[tuple[str, float]] = (), *,
                 fmt: Callable[[float], str] = lambda v: f"{v:g}", maximum: float | None = None,
                 bar_style: str = "$accent", empty: str = "none yet",
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows = list(rows)
        self.fmt = fmt
        self.maximum = maximum
        self.bar_style = bar_style
        self.empty = empty

    def set_rows(self, rows: Sequence[tuple[str, float]]) -> None:
        resized = len(rows) != len(self.rows)
        self.rows = list(rows)
        self.refresh(layout=resized)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self.rows))

    def render(self) -> Content:
        if not self.rows:
            return Content.styled(self.empty, "$text-muted")
        width = self.size.width or 40
        values = [self.fmt(v) for _, v in self.rows]
        label_w = min(max(len(label) for label, _ in self.rows), max(6, width // 3))
        value_w = max(len(v) for v in values)
        bar_w = max(1, width - label_w - value_w - 2)
        top = self.maximum if self.maximum is not None else max(v for _, v in self.rows)
        lines = []
        for (label, value), shown in zip(self.rows, values, strict=True):
            text = label if len(label) <= label_w else label[: label_w - 1] + "…"
            drawn = bar(value, top, bar_w)
            lines.append(Content.assemble(
                text.ljust(label_w), " ", (drawn, self.bar_style),
                " " * (bar_w - len(drawn) + 1 + value_w - len(shown)), shown))
        return Content("\n").join(lines)
