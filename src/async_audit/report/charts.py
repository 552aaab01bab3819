"""The HTML report's charts: matplotlib figures rendered to inline SVG.

Each function returns the ``<svg>`` element as markup, or None when the report has nothing to draw. Figures
are made with matplotlib's object API and its SVG backend, never pyplot, so rendering keeps no global state
and works in any thread. Text stays text in the SVG (``svg.fonttype: none``): it is selectable, prints
sharply and takes the page's fonts. Recorded text (routes, hosts) is passed with ``parse_math=False`` (a
``$`` in a route is not a formula) and matplotlib escapes it as XML.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from markupsafe import Markup, escape

from async_audit.analyze.model import Budgets, Endpoint, ExampleRequest
from async_audit.report.formatting import category_label, endpoint_label, fmt_ms, one_line

MAX_ENDPOINTS = 12
MAX_WATERFALL_ROWS = 24
_LABEL_CHARS = 44

INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e3e8ee"
MEASURED = "#24476b"
PROJECTED = "#2a9d8f"
USER_BUDGET = "#d98e04"
PLATFORM_BUDGET = "#b42318"
PERCENTILE_COLORS = ("#9fb8d1", "#4a7aa8", "#24476b")
DISPOSITION_COLORS = {
    "defer": "#2a9d8f",
    "keep_sync": "#24476b",
    "review": "#d98e04",
    "deferred": "#98a2b3",
}
CATEGORY_COLORS = {
    "email": "#2a9d8f",
    "notification": "#7cc6b9",
    "api_write": "#4a7aa8",
    "api_read": "#9fb8d1",
    "search_index": "#8e6bbf",
    "search_query": "#c3b1e1",
    "payment": "#b42318",
    "storage": "#d98e04",
    "compute": "#e8b86b",
    "sql": "#24476b",
    "task": "#98a2b3",
    "other": "#cfd6de",
}
_FALLBACK_COLORS = ("#5d6d7e", "#a3b18a", "#c08497", "#7f8c8d", "#b8860b")

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.titlesize": 10.0,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
}


def _label(text: str) -> str:
    return one_line(text, _LABEL_CHARS)


def _ms_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: fmt_ms(value) if value > 0 else "0")


@contextmanager
def _figure(name: str, title: str, width: float, height: float) -> Iterator[tuple[Any, list[str]]]:
    """A fresh figure under the report's style; the SVG text lands in the yielded list."""
    import matplotlib
    from matplotlib.figure import Figure

    out: list[str] = []
    # The salt makes the ids inside each SVG (clip paths, markers) unique per chart, so several charts
    # inlined in one page never share an id, and the output is the same on every run.
    rc: Any = {**_RC, "svg.hashsalt": f"async-audit-{name}"}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        # A glyph missing from the layout font (an emoji in a route) only affects the measured text width;
        # the browser draws the text with the page's fonts.
        warnings.simplefilter("ignore")
        fig = Figure(figsize=(width, height), layout="constrained")
        yield fig, out
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    out.append(_inline_svg(buffer.getvalue(), name, title))


def _inline_svg(svg: str, name: str, title: str) -> str:
    start = svg.find("<svg")
    svg = svg[start:]
    # matplotlib numbers its groups from 1 in every figure ("figure_1", "axes_1"): prefixed with the chart's
    # name, ids stay unique when several charts share one page, and references follow them.
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', svg)
    # Fixed sizes in points would stop the chart from following the page width; the viewBox keeps its shape.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    return svg.replace("<svg", f'<svg class="chart-svg" role="img" aria-label="{escape(title)}"', 1)


def _render(name: str, title: str, width: float, height: float, draw: Callable[[Any], None]) -> Markup | None:
    try:
        with _figure(name, title, width, height) as (fig, out):
            draw(fig)
    except (ValueError, ArithmeticError, TypeError):
        # Matplotlib refuses NaN, infinite and overflowing axis limits (past about 1e16 its transforms fall
        # back to object arrays and raise TypeError), and a zero budget divides by zero; no analysed record
        # produces them: a hand-built report with them gets no chart rather than no report.
        return None
    return Markup(out[0])


def _style_axes(ax: Any) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _set_endpoint_labels(ax: Any, labels: Sequence[str]) -> None:
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_label(label) for label in labels], parse_math=False)
    ax.invert_yaxis()


def _budget_line(ax: Any, x: float, color: str, text: str) -> None:
    ax.axvline(x, color=color, linewidth=1.2, linestyle=(0, (4, 3)))
    ax.annotate(
        text,
        xy=(x, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, 2),
        textcoords="offset points",
        color=color,
        fontsize=8,
        va="bottom",
        parse_math=False,
    )


def _height(rows: int, per_row: float = 0.34, extra: float = 1.1) -> float:
    return max(1.4, rows * per_row + extra)


def latency_percentiles(endpoints: Sequence[Endpoint], budgets: Budgets) -> Markup | None:
    """p50, p95 and p99 of the slowest endpoints on a log scale, against both budget lines."""
    rows = sorted(endpoints, key=lambda e: -e.p95_ms)[:MAX_ENDPOINTS]
    if not rows:
        return None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        _style_axes(ax)
        positions = range(len(rows))
        bar = 0.26
        for offset, (label, attr, color) in enumerate(
            zip(("p50", "p95", "p99"), ("p50_ms", "p95_ms", "p99_ms"), PERCENTILE_COLORS, strict=True)
        ):
            values = [max(getattr(e, attr), 0.1) for e in rows]
            ax.barh([p + (offset - 1) * bar for p in positions], values, height=bar, color=color, label=label)
        _set_endpoint_labels(ax, [endpoint_label(e.method, e.route) for e in rows])
        ax.set_xscale("log")
        low = min(max(min(e.p50_ms for e in rows), 0.1), budgets.user_ms) / 2
        high = max(max(e.max_ms for e in rows), budgets.platform_ms) * 1.6
        ax.set_xlim(low, high)
        ax.xaxis.set_major_formatter(_ms_formatter())
        ax.xaxis.set_minor_formatter(_ms_formatter() if high / low < 30 else "")
        _budget_line(ax, budgets.user_ms, USER_BUDGET, f"target {fmt_ms(budgets.user_ms)}")
        _budget_line(ax, budgets.platform_ms, PLATFORM_BUDGET, f"timeout {fmt_ms(budgets.platform_ms)}")
        fig.legend(loc="outside lower center", ncols=3)
        ax.set_xlabel("request duration (log scale)")

    return _render(
        "chart-percentiles",
        "Latency percentiles per endpoint against the budgets",
        7.6,
        _height(len(rows), 0.42),
        draw,
    )


def measured_vs_projected(endpoints: Sequence[Endpoint], budgets: Budgets) -> Markup | None:
    """Measured p95 beside the p95 projected without the deferrable calls, where the two differ."""
    rows = [e for e in endpoints if e.p95_ms - e.projected_p95_ms >= 1.0]
    rows.sort(key=lambda e: -(e.p95_ms - e.projected_p95_ms))
    rows = rows[:MAX_ENDPOINTS]
    if not rows:
        return None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        _style_axes(ax)
        positions = list(range(len(rows)))
        bar = 0.38
        measured = [e.p95_ms for e in rows]
        projected = [e.projected_p95_ms for e in rows]
        ax.barh([p - bar / 2 for p in positions], measured, height=bar, color=MEASURED, label="p95 measured")
        ax.barh(
            [p + bar / 2 for p in positions], projected, height=bar, color=PROJECTED, label="p95 projected"
        )
        for p, value in zip(positions, measured, strict=True):
            ax.annotate(
                fmt_ms(value),
                (value, p - bar / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=MUTED,
            )
        for p, value in zip(positions, projected, strict=True):
            ax.annotate(
                fmt_ms(value),
                (value, p + bar / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=PROJECTED,
            )
        _set_endpoint_labels(ax, [endpoint_label(e.method, e.route) for e in rows])
        ax.xaxis.set_major_formatter(_ms_formatter())
        top = max(measured)
        ax.set_xlim(0, top * 1.18)
        if budgets.user_ms <= top * 1.18:
            _budget_line(ax, budgets.user_ms, USER_BUDGET, f"target {fmt_ms(budgets.user_ms)}")
        fig.legend(loc="outside lower center", ncols=2)
        ax.set_xlabel("p95 request duration")

    return _render(
        "chart-projection", "Measured and projected p95 per endpoint", 7.6, _height(len(rows), 0.5), draw
    )


def time_by_category(endpoints: Sequence[Endpoint]) -> Markup | None:
    """Mean time per request in each category of call, stacked per endpoint."""
    rows = [e for e in endpoints if any(v > 0 for v in e.time_by_category.values())]
    rows.sort(key=lambda e: -sum(e.time_by_category.values()))
    rows = rows[:MAX_ENDPOINTS]
    if not rows:
        return None
    categories = sorted(
        {c for e in rows for c, v in e.time_by_category.items() if v > 0},
        key=lambda c: -sum(e.time_by_category.get(c, 0.0) for e in rows),
    )

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        _style_axes(ax)
        left = [0.0] * len(rows)
        for index, category in enumerate(categories):
            values = [max(e.time_by_category.get(category, 0.0), 0.0) for e in rows]
            color = CATEGORY_COLORS.get(category, _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)])
            ax.barh(
                range(len(rows)),
                values,
                left=left,
                height=0.6,
                color=color,
                label=_label(category_label(category)),
                edgecolor="white",
                linewidth=0.6,
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
        _set_endpoint_labels(ax, [endpoint_label(e.method, e.route) for e in rows])
        ax.xaxis.set_major_formatter(_ms_formatter())
        ax.set_xlim(0, max(left) * 1.04)
        ax.set_xlabel("mean time per request")
        legend = fig.legend(loc="outside lower center", ncols=min(len(categories), 5))
        for text in legend.get_texts():
            text.set_parse_math(False)

    legend_rows = math.ceil(len(categories) / 5)
    height = _height(len(rows), 0.4, 1.3 + 0.25 * legend_rows)
    return _render("chart-categories", "Mean time per request by category", 7.6, height, draw)


def waterfall(example: ExampleRequest, index: int = 0) -> Markup | None:
    """The calls of one recorded request on its timeline, coloured by what should happen to each."""
    calls = sorted(example.calls, key=lambda c: c.t_ms)[:MAX_WATERFALL_ROWS]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        _style_axes(ax)
        labels = [endpoint_label(example.method, example.route)]
        ax.barh(0, example.ms, left=0, height=0.55, color="#d5dde6")
        for row, call in enumerate(calls, start=1):
            disposition = getattr(call.disposition, "value", str(call.disposition))
            ax.barh(
                row,
                max(call.ms, example.ms / 400),
                left=call.t_ms,
                height=0.55,
                color=DISPOSITION_COLORS.get(disposition, MUTED),
            )
            ax.annotate(
                fmt_ms(call.ms),
                (call.t_ms + call.ms, row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7.5,
                color=MUTED,
            )
            labels.append("   " * call.depth + f"{call.kind}: {one_line(call.label)}")
        _set_endpoint_labels(ax, labels)
        ax.xaxis.set_major_formatter(_ms_formatter())
        # A call can outlast the recorded response (streaming, a clock step): keep it on the chart.
        end = max([example.ms, 1.0, *(c.t_ms + c.ms for c in calls)])
        ax.set_xlim(0, end * 1.12)
        if 0 < example.projected_ms < example.ms:
            _budget_line(
                ax, example.projected_ms, PROJECTED, f"after the move: {fmt_ms(example.projected_ms)}"
            )
        from matplotlib.patches import Patch

        present = sorted({getattr(c.disposition, "value", str(c.disposition)) for c in calls})
        names = {
            "defer": "defer",
            "keep_sync": "keep synchronous",
            "review": "review",
            "deferred": "already a task",
        }
        handles = [Patch(color=DISPOSITION_COLORS.get(d, MUTED), label=names.get(d, d)) for d in present]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        ax.set_xlabel("time since the request started")

    return _render(
        f"chart-waterfall-{index}",
        "Timeline of a representative slow request",
        7.6,
        _height(len(calls) + 1, 0.3, 1.5),
        draw,
    )
