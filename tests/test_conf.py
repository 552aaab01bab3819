"""``ASYNC_AUDIT``: every key validated with a stable id, bad values falling back to their defaults, the
cache refreshed on ``setting_changed``, and no configuration, however wrong, failing a request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from async_audit import conf
from async_audit.conf import DEFAULTS, build_config, get_config, validate
from async_audit.testing import capture_records

TESTS_DIR = Path(__file__).resolve().parent


def ids(raw: Any) -> list[str]:
    return [p.id for p in validate(raw)]


def test_no_setting_is_fine_and_gives_the_defaults() -> None:
    assert validate(None) == []
    with override_settings(ASYNC_AUDIT=None):
        config = get_config()
        assert config.enabled is True
        assert config.sink == "file"
        assert config.sample_rate == 1.0
        assert config.always_record_slower_than_ms == 1000.0
        assert config.slow_sql_ms == 100.0
        assert config.max_calls_per_request == 200
        assert config.queue_size == 10_000
        assert config.max_file_bytes == 256 * 1024 * 1024
        assert config.hooks is None
        assert config.ignores("/static/app.css") and config.ignores("/favicon.ico")
        assert not config.ignores("/signup/")
        assert config.output_dir == Path(settings.BASE_DIR) / "async-audit"
        (root,) = config.project_roots
        assert Path(root.path) == Path(settings.BASE_DIR).resolve()


def test_good_values_raise_nothing() -> None:
    raw = {
        "ENABLED": False,
        "OUTPUT_DIR": Path("/srv/records"),
        "SINK": "log",
        "SAMPLE_RATE": 0,
        "ALWAYS_RECORD_SLOWER_THAN_MS": None,
        "PROJECT_ROOTS": [str(TESTS_DIR), "tests"],
        "SLOW_SQL_MS": 2.5,
        "MAX_CALLS_PER_REQUEST": 0,
        "IGNORE_PATHS": ("/health", r"^/api/v\d+/ping$"),
        "HOOKS": ["sql"],
        "QUEUE_SIZE": 1,
        "MAX_FILE_MB": 1,
    }
    assert set(raw) == set(DEFAULTS)  # every key is exercised here
    assert validate(raw) == []


def test_not_a_dict_is_e001() -> None:
    assert ids(["ENABLED"]) == ["async_audit.E001"]
    assert ids("yes") == ["async_audit.E001"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ENABLED", "yes"),
        ("ENABLED", 1),
        ("OUTPUT_DIR", 42),
        ("SINK", "stdout"),
        ("SINK", None),
        ("SAMPLE_RATE", 1.5),
        ("SAMPLE_RATE", -0.1),
        ("SAMPLE_RATE", "0.5"),
        ("SAMPLE_RATE", True),
        ("ALWAYS_RECORD_SLOWER_THAN_MS", -1),
        ("ALWAYS_RECORD_SLOWER_THAN_MS", "1s"),
        ("PROJECT_ROOTS", "myproject"),
        ("PROJECT_ROOTS", [1, 2]),
        ("SLOW_SQL_MS", None),
        ("SLOW_SQL_MS", -5),
        ("MAX_CALLS_PER_REQUEST", -1),
        ("MAX_CALLS_PER_REQUEST", 2.5),
        ("MAX_CALLS_PER_REQUEST", True),
        ("IGNORE_PATHS", "/static/"),
        ("IGNORE_PATHS", [1]),
        ("HOOKS", "sql"),
        ("HOOKS", [None]),
        ("QUEUE_SIZE", 0),
        ("QUEUE_SIZE", "10"),
        ("MAX_FILE_MB", 0),
        ("MAX_FILE_MB", 0.5),
    ],
)
def test_a_bad_value_is_e002_and_falls_back_to_the_default(key: str, value: Any) -> None:
    (problem,) = validate({key: value})
    assert problem.id == "async_audit.E002" and problem.level == "error" and problem.key == key
    assert key in problem.msg and repr(value) in problem.msg
    with override_settings(ASYNC_AUDIT={key: value}):
        config = get_config()
    defaults = build_config_defaults()
    field = {
        "MAX_FILE_MB": "max_file_bytes",
        "IGNORE_PATHS": "ignore_prefixes",
    }.get(key, key.lower())
    if key == "OUTPUT_DIR":
        assert config.output_dir == defaults.output_dir
    elif key == "PROJECT_ROOTS":
        assert config.project_roots == defaults.project_roots
    else:
        assert getattr(config, field) == getattr(defaults, field)


def build_config_defaults() -> conf.Config:
    with override_settings(ASYNC_AUDIT={}):
        return build_config()


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("SAMPLERATE", "SAMPLE_RATE"),
        ("sample_rate", "SAMPLE_RATE"),
        ("SAMPEL_RATE", "SAMPLE_RATE"),
        ("OUTPUTDIR", "OUTPUT_DIR"),
        ("IGNORE_PATH", "IGNORE_PATHS"),
        ("MAX_CALLS", None),
        ("BANANA", None),
    ],
)
def test_an_unknown_key_is_w001_with_a_did_you_mean(key: str, suggestion: str | None) -> None:
    (problem,) = validate({key: 1})
    assert problem.id == "async_audit.W001" and problem.level == "warning"
    assert repr(key) in problem.msg
    assert problem.hint is not None
    if suggestion:
        assert problem.hint == f"Did you mean {suggestion!r}?"
    else:
        assert problem.hint.startswith("Known keys: ") and "SAMPLE_RATE" in problem.hint


def test_an_invalid_ignore_regex_is_e003_and_is_skipped() -> None:
    raw = {"IGNORE_PATHS": ["/health", "^/api/(", r"^/ping$"]}
    assert ids(raw) == ["async_audit.E003"]
    with override_settings(ASYNC_AUDIT=raw):
        config = get_config()
        assert config.ignores("/health/x") and config.ignores("/ping") and not config.ignores("/api/(")


def test_an_unknown_project_root_is_w002_and_is_skipped() -> None:
    raw = {"PROJECT_ROOTS": ["no_such_package_here", "/no/such/dir", str(TESTS_DIR)]}
    assert ids(raw) == ["async_audit.W002", "async_audit.W002"]
    with override_settings(ASYNC_AUDIT=raw):
        (root,) = get_config().project_roots
        assert root.path == str(TESTS_DIR)


def test_a_package_name_is_a_project_root_relative_to_its_parent() -> None:
    # A dotted name is never a directory here, so it is looked up as a package (a plain name that is also a
    # directory under the working directory is taken as the directory).
    with override_settings(ASYNC_AUDIT={"PROJECT_ROOTS": ["tests.site"]}):
        (root,) = get_config().project_roots
    assert root.package == "tests.site"
    assert root.path == str(TESTS_DIR / "site") and root.relative_to == str(TESTS_DIR)


def test_unknown_and_unavailable_hooks_are_e004_and_e005(monkeypatch: pytest.MonkeyPatch) -> None:
    from async_audit.record import hooks

    problems = validate({"HOOKS": ["sql", "carrier_pigeon"]})
    assert [p.id for p in problems] == ["async_audit.E004"]
    assert problems[0].hint is not None and "sql" in problems[0].hint
    monkeypatch.setattr(hooks, "hook_available", lambda name: False)
    assert ids({"HOOKS": ["sql"]}) == ["async_audit.E005"]


def test_problems_are_logged_when_the_config_is_built(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="async_audit"):
        with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 7, "SAMPLERATE": 0.5}):
            config = get_config()
    assert config.sample_rate == 1.0
    assert {p.id for p in config.problems} == {"async_audit.E002", "async_audit.W001"}
    assert "async_audit.E002" in caplog.text and "async_audit.W001" in caplog.text


def test_the_cache_is_refreshed_on_setting_changed(tmp_path: Path) -> None:
    first = get_config()
    assert get_config() is first  # cached
    with override_settings(ASYNC_AUDIT={"SAMPLE_RATE": 0.25, "OUTPUT_DIR": str(tmp_path)}):
        assert get_config().sample_rate == 0.25
        assert get_config().output_dir == tmp_path
    assert get_config().sample_rate == first.sample_rate
    with override_settings(BASE_DIR=tmp_path, ASYNC_AUDIT={}):
        assert get_config().output_dir == tmp_path / "async-audit"
    with override_settings(DEBUG=True):
        assert get_config() == first  # other settings leave it alone


@pytest.mark.parametrize(
    "raw",
    [
        "nonsense",
        {"ENABLED": "yes", "SAMPLE_RATE": "all", "IGNORE_PATHS": ["^("], "HOOKS": ["nope"], 7: 8},
        {"PROJECT_ROOTS": ["\x00bad"], "OUTPUT_DIR": "", "MAX_FILE_MB": -1},
    ],
)
def test_no_configuration_fails_a_request(raw: Any) -> None:
    with override_settings(ASYNC_AUDIT=raw):
        with capture_records() as records:
            response = Client().get("/hello/")
    assert response.status_code == 200 and response.content == b"hello"
    assert len(records) == 1


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(st.sampled_from([*DEFAULTS, "OTHER", "sample_rate"]), JSON_LIKE, max_size=6) | JSON_LIKE
)
def test_validate_and_build_never_raise(raw: Any) -> None:
    problems = validate(raw)
    assert all(p.id.startswith("async_audit.") and p.level in ("error", "warning") for p in problems)
    with override_settings(ASYNC_AUDIT=raw):
        config = build_config()
    assert isinstance(config.queue_size, int) and config.queue_size >= 1
    assert 0.0 <= config.sample_rate <= 1.0
