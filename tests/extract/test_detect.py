"""Which task backend a site runs, and when its configuration runs tasks inside the request anyway."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from async_audit.errors import InputError
from async_audit.extract import detect_backend, inline_backend_warning


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("settings", "backend"),
    [
        ({"INSTALLED_APPS": ["django.contrib.auth", "django_rq"]}, "rq"),
        ({"INSTALLED_APPS": ["huey.contrib.djhuey"]}, "huey"),
        ({"INSTALLED_APPS": ["django_q"]}, "django_q"),
        ({"INSTALLED_APPS": ["django_tasks"]}, "django_tasks"),
        ({"TASKS": {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}}, "django_tasks"),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "celery"),
        ({"DRAMATIQ_BROKER": {"BROKER": "dramatiq.brokers.redis.RedisBroker"}}, "dramatiq"),
        ({"INSTALLED_APPS": ["django.contrib.auth"]}, None),
    ],
)
def test_backend_from_settings(settings: dict[str, object], backend: str | None) -> None:
    assert detect_backend(settings) == backend


def test_backend_from_a_source_tree_without_importing_it(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "proj/settings.py": (
                "import os\nINSTALLED_APPS = ['django.contrib.auth']\n"
                "CELERY_BROKER_URL = os.environ['BROKER']\nraise SystemExit('never imported')\n"
            ),
            "proj/celery.py": "from celery import Celery\napp = Celery('proj')\n",
            "shop/tasks.py": "from celery import shared_task\n",
            ".venv/lib/rq/x.py": "import rq\n",
        },
    )

    assert detect_backend(root) == "celery"
    assert detect_backend(str(root)) == "celery"


def test_conditional_apps_and_imports_count(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "site/settings.py": (
                "import django\nINSTALLED_APPS = ['django.contrib.auth']\n"
                "if django.VERSION < (6, 0):\n    INSTALLED_APPS.append('django_tasks')\n"
            ),
            "app/tasks.py": "from django.tasks import task\n",
        },
    )

    assert detect_backend(root) == "django_tasks"
    assert detect_backend(tree(tmp_path / "empty", {"a.py": "x = 1\n"})) is None


def test_backend_from_a_settings_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fake_settings")
    module.INSTALLED_APPS = ["django_q"]  # type: ignore[attr-defined]
    assert detect_backend(module) == "django_q"
    tree(tmp_path, {"extract_site_settings.py": "RQ_QUEUES = {'default': {'URL': 'redis://127.0.0.1'}}\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert detect_backend("extract_site_settings") == "rq"
    assert detect_backend(tmp_path / "extract_site_settings.py") == "rq"
    with pytest.raises(InputError, match="neither a source directory nor an importable settings module"):
        detect_backend("no.such.settings")


@pytest.mark.parametrize(
    ("settings", "backend", "expected"),
    [
        ({}, "django_tasks", "default ImmediateBackend when TASKS is not set"),
        (
            {"TASKS": {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}},
            None,
            "uses ImmediateBackend",
        ),
        ({"TASKS": {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}}, None, None),
        ({"CELERY_TASK_ALWAYS_EAGER": True}, None, "CELERY_TASK_ALWAYS_EAGER is True"),
        ({"CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": "x"}, None, None),
        ({"HUEY": {"immediate": True}}, None, "HUEY['immediate'] is True"),
        ({"HUEY": {"name": "x"}, "DEBUG": True}, None, "follows DEBUG, which is True here"),
        ({"HUEY": {"name": "x"}, "DEBUG": False}, None, "follows DEBUG"),
        ({"HUEY": {"immediate": False}}, None, None),
        ({"RQ_QUEUES": {"default": {"ASYNC": False}, "low": {}}}, None, "RQ_QUEUES default have ASYNC False"),
        ({"Q_CLUSTER": {"sync": True}}, None, "Q_CLUSTER['sync'] is True"),
        ({"DRAMATIQ_BROKER": {"BROKER": "dramatiq.brokers.stub.StubBroker"}}, None, "StubBroker"),
    ],
)
def test_inline_backend_warnings(
    settings: dict[str, object], backend: str | None, expected: str | None
) -> None:
    warning = inline_backend_warning(settings, backend)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning


def test_inline_warning_from_a_source_tree(tmp_path: Path) -> None:
    root = tree(
        tmp_path, {"proj/settings.py": "DEBUG = True\nINSTALLED_APPS = ['huey.contrib.djhuey']\nHUEY = {}\n"}
    )

    warning = inline_backend_warning(root)

    assert warning is not None and "follows DEBUG, which is True here" in warning
