from __future__ import annotations

import asyncio
import functools
import json
import json.decoder
import os
import sys
from typing import Any

import django.core.handlers.base
import pytest
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


# -- call_site_at: the walk in C, or by module name (Python 3.12+), or by frame object ---------------------

try:
    from async_audit.record import _callsite
except ImportError:  # not built: the pure-Python walks are still compared
    _callsite = None
if os.environ.get("ASYNC_AUDIT_PURE_PYTHON"):
    _callsite = None  # built, but turned off: never configured, so not one of the walks to compare

_WALKS = {"python": frames._python_call_site_at}
if _callsite is not None:
    _WALKS["c"] = _callsite.walk


@pytest.fixture(params=sorted(_WALKS))
def walk(request: pytest.FixtureRequest) -> Any:
    """Each ``call_site_at``, with its stack unflattened as ``call_site`` gives it; ``walk(depth)`` counts
    from its caller."""
    at = _WALKS[request.param]
    frames._clear_cache()

    def unflattened(depth: int) -> tuple[tuple[frames.Frame, ...], str | None]:
        flat, via = at(depth + 1)
        return tuple(zip(flat[::3], flat[1::3], flat[2::3], strict=True)), via

    return unflattened


def test_the_c_walk_is_built_where_the_tests_run() -> None:
    # CI's virtualenvs have a C compiler: a silently pure-Python install must not pass for the C walk.
    if os.environ.get("ASYNC_AUDIT_PURE_PYTHON"):
        pytest.skip("ASYNC_AUDIT_PURE_PYTHON is set")
    assert _callsite is not None
    assert frames.call_site_at is _callsite.walk


def test_the_c_walk_reports_a_cache_entry_of_the_wrong_shape_as_an_error() -> None:
    if _callsite is None:
        pytest.skip("the C walk is not built")
    frames._clear_cache()
    frames._modules[id(globals())] = ("not", "an entry")  # type: ignore[assignment]
    try:
        with pytest.raises(TypeError, match="wrong shape"):
            _callsite.walk(0)
    finally:
        frames._clear_cache()
    assert _callsite.walk(0)[0][0] == "record/test_frames.py"


def _both_walks(seen: list[tuple[Any, Any]], walk: Any) -> Any:
    """A callback recording both walks from its caller, as a hook does."""

    def hook(data: Any, **kwargs: Any) -> Any:
        seen.append((walk(1), call_site(sys._getframe(1))))
        return data

    return hook


def _through(callback: Any) -> None:
    # stdlib (json) -> project lambda -> third party (requests' hook dispatch) -> project callback
    json.loads("{}", object_hook=lambda d: dispatch_hook("response", {"response": [callback]}, d))


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_the_walk_by_name_agrees_with_the_walk_by_frame(cache: str, walk: Any) -> None:
    seen: list[tuple[Any, Any]] = []
    if cache == "warm":
        _through(_both_walks([], walk))
    _through(_both_walks(seen, walk))
    ((by_name, by_frame),) = seen
    assert by_name == by_frame
    assert by_name[0][0][0] == "record/test_frames.py"


def test_the_walk_by_name_names_the_outermost_package_between_project_and_hook(walk: Any) -> None:
    seen: list[tuple[Any, Any]] = []
    hook = _both_walks(seen, walk)
    # project -> requests (dispatch_hook) -> stdlib (json) -> the hook: requests is the outermost third-party
    # package below the project frame, with the standard library between.
    for _ in range(2):  # cold, then through the set of whole modules
        dispatch_hook("response", {"response": [functools.partial(json.loads, object_hook=hook)]}, "{}")
    for by_name, by_frame in seen:
        assert by_name == by_frame
        assert by_name[0][0][2].endswith(
            "test_the_walk_by_name_names_the_outermost_package_between_project_and_hook"
        )
        assert by_name[1] == "requests"


def test_the_walk_by_name_stops_at_max_stack_and_at_the_outermost_frame(walk: Any) -> None:
    def nested(n: int) -> Any:
        if n == 0:
            return walk(0), call_site(sys._getframe())
        return nested(n - 1)

    by_name, by_frame = nested(frames.MAX_STACK + 3)
    assert by_name == by_frame and len(by_name[0]) == frames.MAX_STACK
    # Outside any request there is no stop code: the walk runs to the outermost frame and ends there.
    assert all(file == "record/test_frames.py" for file, _, _ in by_name[0])


def test_a_wrapper_carrying_another_modules_name_goes_by_its_own_code(walk: Any) -> None:
    seen: list[Any] = []

    # A library's decorator made with functools.wraps around a project function: the wrapper's frame
    # carries the project module's name but runs the library's code.
    namespace: dict[str, Any] = {"__name__": "requests.fake_decorator", "__file__": requests.hooks.__file__}
    exec(  # noqa: S102 - a stand-in for a library module's decorator
        compile(
            "import functools\n"
            "def decorate(f):\n"
            "    @functools.wraps(f)\n"
            "    def wrapper(*a, **k):\n"
            "        return f(*a, **k)\n"
            "    return wrapper\n",
            requests.hooks.__file__,
            "exec",
        ),
        namespace,
    )

    def inner() -> None:
        seen.append(walk(0))

    decorated = namespace["decorate"](inner)
    assert decorated.__module__ == __name__
    for _ in range(2):
        decorated()
    for stack, via in seen:
        assert [function.rsplit(".", 1)[-1] for _, _, function in stack][:2] == [
            "inner",
            "test_a_wrapper_carrying_another_modules_name_goes_by_its_own_code",
        ]
        assert via is None


def test_a_deep_library_stack_is_walked_by_frame_object_past_the_first_frames(walk: Any) -> None:
    # An SDK's stack can be forty frames deep (Elasticsearch over elastic-transport over urllib3): the walk by
    # name reads each frame from the innermost one, so past the first frames it goes on by frame object.
    namespace: dict[str, Any] = {"__name__": "requests.fake_deep", "__file__": requests.hooks.__file__}
    exec(  # noqa: S102 - a stand-in for a deep library stack
        compile(
            "def descend(n, f):\n    return f() if n == 0 else descend(n - 1, f)\n",
            requests.hooks.__file__,
            "exec",
        ),
        namespace,
    )
    descend = namespace["descend"]
    seen: list[tuple[Any, Any]] = []

    def hook() -> None:
        seen.append((walk(1), call_site(sys._getframe(1))))

    def project(n: int, then: Any) -> None:
        if n == 0:
            then()
        else:
            project(n - 1, then)

    # project (4 frames) -> library (30) -> project (3) -> library (25) -> the hook
    for _ in range(2):  # cold, then warm
        project(3, lambda: descend(30, lambda: project(2, lambda: descend(25, hook))))
    assert frames._BY_NAME_STEPS < 25
    for by_name, by_frame in seen:
        assert by_name == by_frame
        stack, via = by_name
        assert len(stack) == frames.MAX_STACK and via == "requests"
        assert {file for file, _, _ in stack} == {"record/test_frames.py"}


def test_the_walks_agree_inside_generators_coroutines_and_callbacks_from_c(walk: Any) -> None:
    # Generator and coroutine frames live outside the thread's frame stack while suspended; a callback from
    # C code (map, sorted's key) runs above a frame of the C stack. Every walk passes them as Python does.
    def generator() -> Any:
        yield walk(0), call_site(sys._getframe())

    async def coroutine() -> Any:
        await asyncio.sleep(0)
        return walk(0), call_site(sys._getframe())

    seen = [*generator(), asyncio.run(coroutine())]
    seen += map(lambda _: (walk(0), call_site(sys._getframe())), [0])
    sorted([1, 2], key=lambda n: seen.append((walk(0), call_site(sys._getframe()))) or n)
    assert len(seen) == 5
    for by_walk, by_frame in seen:
        assert by_walk == by_frame
        assert by_walk[0][0][0] == "record/test_frames.py"
    assert [f.rsplit(".", 1)[-1] for _, _, f in seen[0][0][0]][:2] == [
        "generator",
        "test_the_walks_agree_inside_generators_coroutines_and_callbacks_from_c",
    ]
    assert seen[1][0][0][0][2].endswith("coroutine")


def test_each_walk_reads_the_line_each_frame_is_at_on_every_walk(walk: Any) -> None:
    # The C walk keeps lines by code object and instruction: the same code at other lines, and the same
    # line again, must each read true.
    def at_two_lines() -> list[tuple[Any, int]]:
        first = (walk(0), sys._getframe().f_lineno)
        second = (walk(0), sys._getframe().f_lineno)
        return [first, second]

    for _ in range(3):
        seen, call_line = at_two_lines(), sys._getframe().f_lineno
        assert seen[0][1] != seen[1][1]
        for (stack, _), line in seen:
            assert stack[0][1] == line
            assert stack[1][1] == call_line  # this test's own frame


def test_a_c_walk_that_cannot_be_set_up_leaves_the_walk_in_python(
    monkeypatch: pytest.MonkeyPatch, internal_errors: Any
) -> None:
    # A module built from other sources than this package's (an old build left in place): frames.py must
    # still import, and walk in Python; the failure is reported, never raised into the site.
    if _callsite is None:
        pytest.skip("the C walk is not built")

    def configure(*args: Any) -> None:
        raise TypeError("configure() takes other arguments")

    monkeypatch.setattr(_callsite, "configure", configure)
    assert frames._c_walk() is None
    assert [str(error) for error in internal_errors] == ["configure() takes other arguments"]
    internal_errors.clear()
