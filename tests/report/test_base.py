from __future__ import annotations

import os
from pathlib import Path

import pytest

import async_audit.report
from async_audit.analyze.model import Report
from async_audit.errors import InputError, UsageError
from async_audit.report import Renderer, get_renderer, packaged_templates, write_reports


def test_public_api() -> None:
    assert async_audit.report.__all__ == sorted(async_audit.report.__all__)
    assert async_audit.report.__all__ == [
        "CSVRenderer",
        "DEFAULT_FORMATS",
        "HTMLRenderer",
        "JSONRenderer",
        "MarkdownRenderer",
        "RENDERERS",
        "Renderer",
        "SARIFRenderer",
        "get_renderer",
        "make_environment",
        "packaged_templates",
        "write_reports",
    ]


def test_writes_one_file_per_format_into_a_new_directory(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    paths = write_reports(report, out, ["md", "json", "csv", "sarif", "json"])
    assert [p.name for p in paths] == [
        "async-audit-report.md",
        "async-audit-report.json",
        "async-audit-report.csv",
        "async-audit-report.sarif",
    ]
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # no temporary files left behind
    assert all(p.parent == out for p in paths)
    assert b"\r\n" in (out / "async-audit-report.csv").read_bytes()  # RFC 4180 line ends kept as written
    assert b"\r\n" not in (out / "async-audit-report.md").read_bytes()
    mode = (out / "async-audit-report.md").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_a_renderer_failure_writes_nothing(report: Report, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "report").mkdir(parents=True)
    (templates / "report" / "report.md").write_text("{{ missing }}")
    with pytest.raises(InputError):
        write_reports(report, tmp_path / "out", ["json", "md"], templates=templates)
    assert not (tmp_path / "out").exists()


def test_unknown_and_missing_formats(report: Report, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown report format 'pdf' .known: csv, html, json, md, sarif"):
        write_reports(report, tmp_path, ["json", "pdf"])
    with pytest.raises(UsageError, match="no report format"):
        write_reports(report, tmp_path, [])
    with pytest.raises(UsageError):
        get_renderer("")


def test_an_output_path_that_is_a_file(report: Report, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create the output directory"):
        write_reports(report, blocker / "out", ["json"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_output_directory(report: Report, tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            write_reports(report, tmp_path, ["json"])
    finally:
        tmp_path.chmod(0o700)


def test_the_base_class_renders_nothing(report: Report) -> None:
    with pytest.raises(NotImplementedError):
        Renderer().render(report)


def test_packaged_templates_are_found() -> None:
    root = packaged_templates()
    assert (root / "report" / "report.html").is_file()
    assert (root / "report" / "report.md").is_file()
