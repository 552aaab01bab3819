from __future__ import annotations

import os
from pathlib import Path

import pytest

from async_audit.report import source
from async_audit.report.source import highlight_code, highlight_excerpt, read_excerpt


def test_reads_the_lines_around_the_call(source_root: Path) -> None:
    excerpt = read_excerpt(source_root, "accounts/views.py", 11)
    assert excerpt is not None
    assert (excerpt.first, excerpt.line, excerpt.last) == (7, 11, 14)
    assert excerpt.lines[11 - 7].strip().startswith("send_mail(")
    html = highlight_excerpt(excerpt)
    assert '<span class="hll">' in html and ">11<" in html


def test_clamped_at_the_start_and_end(source_root: Path) -> None:
    excerpt = read_excerpt(source_root, "accounts/views.py", 1, context=3)
    assert excerpt is not None and excerpt.first == 1
    assert read_excerpt(source_root, "accounts/views.py", 999) is None
    assert read_excerpt(source_root, "accounts/views.py", 0) is None


@pytest.mark.parametrize(
    "file", ["../outside.py", "/etc/passwd", "accounts/../../outside.py", "missing.py", "accounts"]
)
def test_never_reads_outside_the_root(source_root: Path, file: str) -> None:
    (source_root.parent / "outside.py").write_text("secret = 1\n")
    assert read_excerpt(source_root, file, 1) is None


def test_symlinks_out_of_the_root_are_not_followed(source_root: Path) -> None:
    (source_root.parent / "outside.py").write_text("secret = 1\n")
    os.symlink(source_root.parent / "outside.py", source_root / "link.py")
    assert read_excerpt(source_root, "link.py", 1) is None


def test_large_files_are_skipped(source_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_SOURCE_BYTES", 10)
    assert read_excerpt(source_root, "accounts/views.py", 1) is None


def test_no_root_no_excerpt() -> None:
    assert read_excerpt(None, "accounts/views.py", 1) is None


def test_undecodable_bytes_are_replaced(source_root: Path) -> None:
    (source_root / "latin.py").write_bytes(b"name = '\xe9t\xe9'\n")
    excerpt = read_excerpt(source_root, "latin.py", 1)
    assert excerpt is not None and "\ufffd" in excerpt.lines[0]


def test_highlighted_code_is_escaped() -> None:
    html = highlight_code("# </pre><script>alert(1)</script>\n")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<pre" in highlight_code("--- a\n+++ b\n", "diff")
