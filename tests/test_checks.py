"""The system checks: ``ASYNC_AUDIT`` problems, the output directory and the middleware's place, each with its
stable id, through Django's own ``check`` machinery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from async_audit.checks import MIDDLEWARE_PATH, check_settings

OTHER = "django.middleware.common.CommonMiddleware"


def ours(**overrides: Any) -> list[Any]:
    with override_settings(**overrides):
        return [m for m in run_checks() if str(m.id).startswith("async_audit.")]


def test_the_test_settings_pass() -> None:
    assert ours() == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nonsense", [(Error, "async_audit.E001")]),
        ({"SAMPLE_RATE": 3}, [(Error, "async_audit.E002")]),
        ({"SAMPLE_RAT": 0.5}, [(Warning, "async_audit.W001")]),
        ({"IGNORE_PATHS": ["^("]}, [(Error, "async_audit.E003")]),
        ({"PROJECT_ROOTS": ["not_a_package_or_dir"]}, [(Warning, "async_audit.W002")]),
        ({"HOOKS": ["carrier_pigeon"]}, [(Error, "async_audit.E004")]),
        (
            {"SINK": "kafka", "QUEUE_SIZE": 0, "ENABLE": True},
            [(Warning, "async_audit.W001"), (Error, "async_audit.E002"), (Error, "async_audit.E002")],
        ),
    ],
)
def test_settings_problems_have_stable_ids(
    raw: Any, expected: list[tuple[type, str]], tmp_path: Path
) -> None:
    if isinstance(raw, dict):
        raw = {"OUTPUT_DIR": str(tmp_path), **raw}
    messages = ours(ASYNC_AUDIT=raw)
    assert sorted((m.id, type(m).__name__) for m in messages) == sorted((i, t.__name__) for t, i in expected)
    for message in messages:
        assert message.msg and "ASYNC_AUDIT" in message.msg


def test_did_you_mean_reaches_the_hint(tmp_path: Path) -> None:
    (message,) = ours(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path), "IGNORE_PATH": ["/x"]})
    assert message.id == "async_audit.W001" and message.hint == "Did you mean 'IGNORE_PATHS'?"


def test_an_output_directory_that_cannot_be_written_is_w003(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (message,) = ours(ASYNC_AUDIT={"OUTPUT_DIR": str(blocker / "records")})
    assert message.id == "async_audit.W003" and isinstance(message, Warning)
    assert "is not a directory" in message.msg
    # A directory that does not exist yet is fine: the sink creates it.
    assert ours(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path / "a" / "b")}) == []
    # The log sink, or a disabled recorder, writes no files.
    assert ours(ASYNC_AUDIT={"OUTPUT_DIR": str(blocker / "x"), "SINK": "log"}) == []
    assert ours(ASYNC_AUDIT={"OUTPUT_DIR": str(blocker / "x"), "ENABLED": False}) == []


def test_middleware_missing_is_w010_and_not_first_is_w011() -> None:
    (missing,) = ours(MIDDLEWARE=[OTHER])
    assert missing.id == "async_audit.W010" and MIDDLEWARE_PATH in (missing.hint or "")
    (late,) = ours(MIDDLEWARE=[OTHER, MIDDLEWARE_PATH])
    assert late.id == "async_audit.W011"
    assert ours(MIDDLEWARE=[MIDDLEWARE_PATH, OTHER]) == []


def test_errors_stop_manage_py_check(tmp_path: Path) -> None:
    with override_settings(ASYNC_AUDIT={"OUTPUT_DIR": str(tmp_path), "SAMPLE_RATE": "half"}):
        with pytest.raises(SystemCheckError, match=r"async_audit\.E002"):
            call_command("check")


def test_the_check_is_registered_and_callable_directly() -> None:
    assert check_settings() == []
    assert settings.ASYNC_AUDIT  # the test settings configure the recorder
