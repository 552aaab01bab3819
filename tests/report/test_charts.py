from __future__ import annotations

import re

from async_audit.analyze.model import Budgets, Report
from async_audit.report import charts
from tests.report.sample import HOSTILE


def test_no_data_no_chart() -> None:
    assert charts.latency_percentiles([], Budgets()) is None
    assert charts.measured_vs_projected([], Budgets()) is None
    assert charts.time_by_category([]) is None


def test_recorded_text_is_escaped_and_never_read_as_a_formula(report: Report) -> None:
    endpoint = report.endpoints[0]
    endpoint.route = f"price/$amount$/{HOSTILE}/\\frac"  # "$...$" would be mathtext
    svg = charts.latency_percentiles([endpoint], report.budgets)
    assert svg is not None
    assert "<script>" not in svg
    assert "$amount$" in svg  # drawn literally
    assert re.search(r'<svg class="chart-svg" role="img" aria-label="[^"]+"', svg)
    assert "width=" not in svg.split(">", 1)[0]  # sized by the page


def test_a_waterfall_draws_every_call(report: Report) -> None:
    svg = charts.waterfall(report.examples[0], 0)
    assert svg is not None
    for label in ("INSERT INTO auth_user", "email via smtp", "hooks.slack.com"):
        assert label in svg
    assert "after the move: 380 ms" in svg


def test_a_waterfall_keeps_calls_that_outlast_the_response(report: Report) -> None:
    example = report.examples[0]
    example.calls[-1].t_ms = example.ms + 500.0
    example.calls.append(type(example.calls[0])("block", "pdf", 0.0, 0.0, 0, example.calls[0].disposition))
    svg = charts.waterfall(example, 1)
    assert svg is not None and "hooks.slack.com" in svg


def test_an_example_without_calls_or_time(report: Report) -> None:
    example = report.examples[0]
    example.calls, example.ms, example.projected_ms = [], 0.0, 0.0
    assert charts.waterfall(example, 2) is not None
