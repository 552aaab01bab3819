"""The email and task hooks are registered, installed when their library is imported, and quietly absent when
it is not installed."""

from __future__ import annotations

import importlib
import sys

import pytest

from async_audit.conf import validate
from async_audit.record.hooks import HOOKS, ON_IMPORT, hook_available, installed_hooks, waiting_hooks
from async_audit.record.hooks._imports import findable

OURS = ["django.mail", "smtplib", "celery", "rq", "django.tasks", "dramatiq", "huey", "django_q"]


@pytest.mark.parametrize("name", OURS)
def test_registered_and_installed_where_the_library_is(name: str) -> None:
    assert name in HOOKS
    if not hook_available(name):
        return
    for module in ON_IMPORT.get(name, ()):
        if findable(module):
            importlib.import_module(module)  # what the site does; installs a hook still waiting
    assert name in installed_hooks()
    assert name not in waiting_hooks()


@pytest.mark.parametrize(
    ("name", "modules"),
    [
        ("dramatiq", ["dramatiq", "dramatiq.actor"]),
        ("huey", ["huey", "huey.api"]),
        ("celery", ["celery", "celery.app.task"]),
        ("rq", ["rq", "rq.queue"]),
    ],
)
def test_a_missing_library_makes_the_hook_unavailable_and_a_requested_one_an_error(
    name: str, modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_module = HOOKS[name].partition(":")[0]
    monkeypatch.delitem(sys.modules, hook_module, raising=False)
    for module in modules:
        # None in sys.modules makes ``import`` raise ImportError, as when the package is not installed.
        monkeypatch.setitem(sys.modules, module, None)
    assert hook_available(name) is False
    problems = validate({"HOOKS": [name]})
    assert [p.id for p in problems] == ["async_audit.E005"]
