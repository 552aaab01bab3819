"""The HTML report in a real browser: headless Chromium opens it from disk, with no network."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from async_audit.report import HTMLRenderer
from tests.report.sample import make_report, write_source_tree

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))),
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None,
)
if CHROMIUM is None:
    pytest.skip(
        "headless Chromium is not installed (Debian: apt-get install chromium)", allow_module_level=True
    )

Image = pytest.importorskip("PIL.Image", reason="Pillow measures the screenshot")
ImageStat = pytest.importorskip("PIL.ImageStat")

WIDTH, HEIGHT = 1280, 4200


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The hostile report: if any recorded text escaped into markup, a script would run and log to the console.
    root = write_source_tree(tmp_path_factory.mktemp("project"))
    path = tmp_path_factory.mktemp("report") / "async-audit-report.html"
    path.write_text(HTMLRenderer().render(make_report(hostile=True, source_root=root)), encoding="utf-8")
    return path


def test_renders_without_console_errors_and_with_the_charts(page: Path, tmp_path: Path) -> None:
    done = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = done.stdout
    assert "</html>" in dom
    assert len(re.findall(r'<svg class="chart-svg"', dom)) == 4
    assert "<script" not in dom.lower()
    assert 'id="finding-f-defer-email"' in dom


def test_screenshot_is_not_blank_and_shows_the_charts(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (WIDTH, HEIGHT)
        stddev = ImageStat.Stat(rgb.convert("L")).stddev[0]
        assert stddev > 10, f"blank-looking screenshot (stddev {stddev:.1f})"
        # The percentile bars' blues (the first two appear nowhere else on the page): the charts are visible.
        colors = {color for _count, color in rgb.getcolors(maxcolors=1 << 20) or []}
        for bar in ((0x9F, 0xB8, 0xD1), (0x4A, 0x7A, 0xA8), (0x24, 0x47, 0x6B)):
            assert bar in colors, f"chart colour {bar} not on screen"
