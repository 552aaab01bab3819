from __future__ import annotations

import pytest

from async_audit.analyze.model import Report
from async_audit.report import MarkdownRenderer
from async_audit.report.formatting import md_escape, md_fence
from async_audit.report.markdown import squeeze_blank_lines


def test_same_content_as_the_html_minus_charts(report: Report) -> None:
    text = MarkdownRenderer().render(report)
    for heading in ("Executive summary", "Endpoints", "Findings", "Keep synchronous", "Refactor plan"):
        assert heading in text
    assert "p95 falls from 4.2 s to 380 ms" in text
    assert "- [ ] **1. Move the email \\(smtp\\) at accounts/views.py:11 \\(signup\\)" in text
    assert "```python\n" in text and "```diff\n" in text
    assert '        send_mail("Welcome", "Hello", None, [user.email])\n' in text  # the call site's source
    assert "<svg" not in text
    assert squeeze_blank_lines(text) == text  # no run of blank lines outside code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accounts/signup/", "accounts/signup/"),
        ("<b>&", "&lt;b&gt;&amp;"),
        ("a|b", "a\\|b"),
        ("[x](javascript:y)", "\\[x\\]\\(javascript:y\\)"),
        ("*a* _b_ `c` ~d~ !e", "\\*a\\* \\_b\\_ \\`c\\` \\~d\\~ \\!e"),
        ("# title", "\\# title"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("line\nbreak\r\n", "line break"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_md_escape(text: str, expected: str) -> None:
    assert md_escape(text) == expected


def test_a_fence_no_line_can_close() -> None:
    code = "x = '''\n```\n````\n'''\n"
    fenced = md_fence(code, "python")
    assert fenced.startswith("`````python\n") and fenced.endswith("\n`````")
    assert md_fence("print(1)").startswith("```\n")


def test_blank_lines_inside_code_are_kept(report: Report) -> None:
    text = MarkdownRenderer().render(report)
    assert "from django.core.mail import send_mail\n\n\n@shared_task" in text
    assert squeeze_blank_lines("a\n\n\n\nb\n```\nx\n\n\ny\n```\n") == "a\n\nb\n```\nx\n\n\ny\n```\n"


def test_evidence_reads_as_figures() -> None:
    from async_audit.report.formatting import evidence_items

    items = evidence_items(
        {"total_savings_ms": 36_780.0, "endpoint_requests": 40, "error_rate": 0.25, "decided_by": "source",
         "hosts": ["a", "b"], "atomic": True, "ratio": 1.2345}
    )  # fmt: skip
    assert items == [
        ("Atomic", "yes"),
        ("Decided by", "source"),
        ("Endpoint requests", "40"),
        ("Error rate", "25%"),
        ("Hosts", "a, b"),
        ("Ratio", "1.23"),
        ("Total savings", "37 s"),
    ]
