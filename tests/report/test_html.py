from __future__ import annotations

import re
from pathlib import Path

import pytest

from async_audit.analyze.model import Report
from async_audit.errors import InputError
from async_audit.report import HTMLRenderer
from tests.report.sample import empty_report, make_report, write_source_tree


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    # Charts take a second or two to draw: render once for the tests that only read the page.
    root = write_source_tree(tmp_path_factory.mktemp("project"))
    return HTMLRenderer().render(make_report(source_root=root))


def test_self_contained(html: str) -> None:
    # Nothing is loaded from anywhere: no external scripts, styles, images or fonts.
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html
    assert not re.search(r"""url\(\s*['"]?(?!#)""", html)  # only references inside the page
    assert "default-src 'none'" in html


def test_sections_in_reading_order(html: str) -> None:
    ids = ["summary", "endpoints", "charts", "findings", "keep-sync", "plan", "method"]
    positions = [html.index(f'<section id="{i}">') for i in ids]
    assert positions == sorted(positions)


def test_executive_summary_has_the_figures(html: str) -> None:
    summary = html[html.index('<section id="summary">') : html.index('<section id="endpoints">')]
    assert "2 call sites do work" in summary
    assert "p95 falls from 4.2 s to 380 ms" in summary
    assert "45%" in summary  # capacity freed
    assert "1 over the 30 s timeout" in summary
    assert 'href="#finding-f-defer-email"' in summary


def test_charts_are_inline_svg(html: str) -> None:
    svgs = re.findall(r"<svg\b[^>]*>", html)
    assert len(svgs) == 4  # percentiles, projection, categories, one waterfall
    assert all('class="chart-svg"' in s and "viewBox" in s for s in svgs)
    # Several SVGs in one page: their internal ids must not collide.
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_each_finding_has_evidence_reason_source_and_stub(html: str) -> None:
    for finding in make_report().findings:
        assert f'id="finding-{finding.id}"' in html
    email = html[html.index('id="finding-f-defer-email"') :]
    email = email[: email.index("</article>")]
    assert "The welcome email is sent before the redirect" in email
    assert "905 ms" in email
    assert 'class="hll"' in email  # the call site's line is highlighted
    assert "lines 7–14" in email
    assert "send_welcome_email" in email and "transaction" in email


def test_no_source_lines_without_a_source_root(report: Report) -> None:
    report.sources.source_root = None
    report.endpoints, report.examples = [], []  # nothing to chart: faster
    html = HTMLRenderer().render(report)
    assert 'class="hll"' not in html


def test_refactor_plan_is_ordered(html: str) -> None:
    plan = html[html.index('<section id="plan">') :]
    actions = re.findall(r'<div class="action">(.*?)</div>', plan)
    assert actions[0].startswith("Move the email (smtp) at accounts/views.py:11 (signup)")
    assert "transaction.on_commit" in actions[0]
    assert actions[-1].startswith("Record again")
    assert not any("Stripe" in a or "payment" in a for a in actions)  # keep-sync work is not in the plan


def test_empty_report() -> None:
    html = HTMLRenderer().render(empty_report())
    assert "No requests were recorded." in html
    assert "<svg" not in html


def test_a_template_directory_overrides_one_partial(report: Report, tmp_path: Path) -> None:
    report.endpoints, report.examples = [], []
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "_brand.html").write_text(
        '<header class="cover"><h1>Globex Consulting for {{ report.client }}</h1></header>\n'
    )
    html = HTMLRenderer(templates=tmp_path).render(report)
    assert "<h1>Globex Consulting for Acme Ltd</h1>" in html
    assert '<section id="findings">' in html  # every other template is still the packaged one


def test_an_override_with_an_undefined_variable_fails(report: Report, tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "_brand.html").write_text("{{ no_such_variable }}")
    with pytest.raises(InputError, match="no_such_variable"):
        HTMLRenderer(templates=tmp_path).render(report)


def test_an_override_with_a_syntax_error_fails(report: Report, tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "_brand.html").write_text("{% if %}")
    with pytest.raises(InputError, match=r"_brand\.html, line 1"):
        HTMLRenderer(templates=tmp_path).render(report)


def test_a_missing_template_directory_fails(report: Report, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="templates directory not found"):
        HTMLRenderer(templates=tmp_path / "missing").render(report)


def test_a_static_report_says_what_it_cannot_measure(report: Report) -> None:
    report.endpoints, report.examples, report.capacity = [], [], None
    report.sources.kind = "static"
    html = HTMLRenderer().render(report)
    assert "2 call sites in the source look like work to move" in html
    assert "needs recorded requests" in html
