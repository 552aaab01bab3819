"""A hook waits for the site to import its library: callbacks run after a module's first import, whole."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from async_audit.record.hooks import _imports
from async_audit.record.hooks._imports import findable, forget, waiting_for, when_imported
from tests.conftest import InternalErrors

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for throwaway modules, and a watcher of the test's own (the hooks' one may be
    waiting for libraries this run has not imported); the modules leave sys.modules after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    watcher = _imports._Watcher()
    monkeypatch.setattr(_imports, "_watcher", watcher)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]
    _imports.remove_finder(watcher)
    importlib.invalidate_caches()


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(textwrap.dedent(text))
    importlib.invalidate_caches()


def test_the_callback_runs_once_after_the_first_import_and_the_module_keeps_its_own_loader(
    modules: Path,
) -> None:
    write(modules, "watched_lib.py", "VALUE = 42\n")
    seen: list[tuple[str, int]] = []
    when_imported("watched_lib", lambda module: seen.append((module.__name__, module.VALUE)))
    assert seen == []
    assert waiting_for() == ["watched_lib"]
    assert _imports._watcher in sys.meta_path

    import watched_lib  # type: ignore[import-not-found]

    assert seen == [("watched_lib", 42)]  # after the module's code ran whole
    assert isinstance(watched_lib.__loader__, importlib.machinery.SourceFileLoader)
    assert watched_lib.__spec__.loader is watched_lib.__loader__
    assert waiting_for() == []
    assert _imports._watcher not in sys.meta_path  # nothing left to wait for
    importlib.reload(watched_lib)
    assert seen == [("watched_lib", 42)]


def test_a_module_already_imported_runs_the_callback_at_once(modules: Path) -> None:
    seen: list[ModuleType] = []
    when_imported("json", seen.append)
    assert seen == [json]
    assert waiting_for() == []


def test_a_submodule_and_a_package_are_watched_by_their_full_names(modules: Path) -> None:
    (modules / "watched_pkg").mkdir()
    write(modules, "watched_pkg/__init__.py", "")
    write(modules, "watched_pkg/sub.py", "NAME = 'sub'\n")
    seen: list[str] = []
    when_imported("watched_pkg.sub", lambda module: seen.append(module.NAME))
    import watched_pkg  # type: ignore[import-not-found]

    assert seen == []
    assert watched_pkg.__spec__.submodule_search_locations  # still a package
    importlib.import_module("watched_pkg.sub")
    assert seen == ["sub"]


def test_a_module_that_fails_to_import_gets_its_callback_on_the_import_that_succeeds(modules: Path) -> None:
    write(modules, "broken_lib.py", "raise RuntimeError('the library is broken')\n")
    seen: list[str] = []
    when_imported("broken_lib", lambda module: seen.append(module.__name__))
    with pytest.raises(RuntimeError, match="the library is broken"):  # the site sees its own error
        importlib.import_module("broken_lib")
    assert seen == []
    assert waiting_for() == ["broken_lib"]
    write(modules, "broken_lib.py", "FIXED = True\n")
    sys.modules.pop("broken_lib", None)
    importlib.import_module("broken_lib")
    assert seen == ["broken_lib"]


def test_a_failing_callback_is_reported_and_the_import_still_succeeds(
    modules: Path, internal_errors: InternalErrors
) -> None:
    write(modules, "fragile_lib.py", "VALUE = 1\n")

    def boom(module: ModuleType) -> None:
        raise ValueError("the hook's own bug")

    later: list[str] = []
    when_imported("fragile_lib", boom)
    when_imported("fragile_lib", lambda module: later.append(module.__name__))
    module = importlib.import_module("fragile_lib")
    assert module.VALUE == 1
    assert later == ["fragile_lib"]  # the other callbacks still run
    assert [str(e) for e in internal_errors] == ["the hook's own bug"]
    internal_errors.clear()


def test_a_forgotten_callback_never_runs(modules: Path) -> None:
    write(modules, "forgotten_lib.py", "")
    seen: list[str] = []

    def callback(module: ModuleType) -> None:
        seen.append(module.__name__)

    when_imported("forgotten_lib", callback)
    forget(callback)
    assert waiting_for() == []
    assert _imports._watcher not in sys.meta_path
    importlib.import_module("forgotten_lib")
    assert seen == []


def test_a_missing_module_is_not_findable_and_its_import_error_is_the_usual_one(modules: Path) -> None:
    assert findable("json") and not findable("no_such_library_anywhere")
    when_imported("no_such_library_anywhere", lambda module: None)
    with pytest.raises(ModuleNotFoundError, match="no_such_library_anywhere"):
        importlib.import_module("no_such_library_anywhere")


# The end-to-end case needs a process whose site has not imported the task libraries yet; this test run has.
SITE = """
import json, sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["async_audit"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from async_audit.record.hooks import installed_hooks, waiting_hooks

before = {"installed": installed_hooks(), "waiting": waiting_hooks(), "celery": "celery" in sys.modules,
          "redis": "redis" in sys.modules}
import celery.app.task

after = {"installed": installed_hooks(), "waiting": waiting_hooks(),
         "patched": hasattr(celery.app.task.Task.apply_async, "__async_audit_original__")}
print(json.dumps({"before": before, "after": after}))
"""


def test_a_task_library_the_site_has_not_imported_is_hooked_when_it_is_imported() -> None:
    pytest.importorskip("celery")
    pytest.importorskip("rq")
    done = subprocess.run(
        [sys.executable, "-c", SITE],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout)
    before, after = seen["before"], seen["after"]
    # At start-up: nothing of the task libraries imported, their hooks waiting.
    assert not before["celery"] and not before["redis"]
    assert "celery" not in before["installed"] and {"celery", "rq"} <= set(before["waiting"])
    assert {"sql", "http.client", "django.mail"} <= set(before["installed"])
    # The site imports Celery: its hook is installed at once, the others go on waiting.
    assert "celery" in after["installed"] and "celery" not in after["waiting"] and "rq" in after["waiting"]
    assert after["patched"]
