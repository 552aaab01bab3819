from __future__ import annotations

import json
import json.decoder
import sys
from typing import Any

import django.core.handlers.base
import requests.hooks
from requests.hooks import dispatch_hook

from async_audit.record import frames
from async_audit.record.frames import _BY_CODE, _SKIP, _THIRD, call_site


def _walk_through_libraries() -> list[tuple[list[frames.Frame], str | None]]:
    seen: list[tuple[list[frames.Frame], str | None]] = []

    def hook(data: Any, **kwargs: Any) -> Any:
        seen.append(call_site(sys._getframe()))
        return data

    # The standard library (json) calls back into the project, which goes through a third-party package
    # (requests' hook dispatch) into the project again.
    json.loads("{}", object_hook=lambda d: dispatch_hook("response", {"response": [hook]}, d))
    return seen


def test_the_walk_gives_the_same_answer_from_its_per_module_entries() -> None:
    frames._clear_cache()
    cold = _walk_through_libraries()
    warm = _walk_through_libraries()
    stack, via = cold[0]
    assert via is None  # the innermost frame is the project's own
    # Qualified names where Python has them (3.11+), plain names before.
    assert [function.rsplit(".", 1)[-1] for _, _, function in stack][:3] == [
        "hook",
        "<lambda>",
        "_walk_through_libraries",
    ]
    assert all(file == "record/test_frames.py" for file, _, _ in stack)
    # The same code, called again from other lines: only the lines of the outer frames differ.
    assert [(f, fn) for f, _, fn in warm[0][0]] == [(f, fn) for f, _, fn in stack]


def test_whole_modules_are_classified_once_and_the_rest_by_code_object() -> None:
    frames._clear_cache()
    _walk_through_libraries()
    kinds = {
        name: frames._modules[id(vars(module))][1:]
        for name, module in [
            ("json.decoder", json.decoder),
            ("requests.hooks", requests.hooks),
            ("tests", sys.modules[__name__]),
        ]
        if id(vars(module)) in frames._modules
    }
    assert kinds["json.decoder"] == (_SKIP, None)
    assert kinds["requests.hooks"] == (_THIRD, "requests")
    assert kinds["tests"][0] == _BY_CODE  # the project's own code: its frames' lines and functions are needed
    # A module holding a code object where walks stop is never classified whole.
    entry = frames._module_entry(_Frame(vars(django.core.handlers.base)), frames.get_config())  # type: ignore[arg-type]
    assert entry[1] == _BY_CODE


class _Frame:
    """What the classifier reads of a frame: a code object compiled under the module's file, its globals."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.f_code = compile("pass", namespace["__file__"], "exec")
        self.f_globals = namespace
