"""The email and task hooks are registered, installed when their library is, and quietly absent when not."""

from __future__ import annotations

import sys

import pytest

from async_audit.conf import validate
from async_audit.record.hooks import HOOKS, hook_available, installed_hooks

OURS = ["django.mail", "smtplib", "celery", "rq", "django.tasks", "dramatiq", "huey", "django_q"]


@pytest.mark.parametrize("name", OURS)
def test_registered_and_installed_where_the_library_is(name: str) -> None:
    assert name in HOOKS
    if hook_available(name):
        assert name in installed_hooks()


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
