from __future__ import annotations

from pathlib import Path

import pytest

from async_audit.analyze.model import Report
from tests.report.sample import make_report, write_source_tree


@pytest.fixture
def source_root(tmp_path: Path) -> Path:
    return write_source_tree(tmp_path / "project")


@pytest.fixture
def report(source_root: Path) -> Report:
    return make_report(source_root=source_root)


@pytest.fixture
def hostile_report(source_root: Path) -> Report:
    return make_report(hostile=True, source_root=source_root)
