"""Celery (``shared_task``), enqueued with ``delay_on_commit`` where the installed Celery has it."""

from __future__ import annotations

import re
from pathlib import Path

from async_audit.extract.base import Call, StubGenerator
from async_audit.extract.spec import ImportSpec, TaskSpec


class CeleryGenerator(StubGenerator):
    name = "celery"
    label = "Celery"
    retries = (
        "Transient errors (OSError covers socket, SMTP and requests errors) are retried with exponential "
        "backoff and jitter, at most 5 times; acks_late re-runs a task whose worker died mid-way."
    )

    def __init__(self, delay_on_commit: bool | None = None) -> None:
        self.delay_on_commit = celery_has_delay_on_commit() if delay_on_commit is None else delay_on_commit

    @classmethod
    def for_project(cls, source_root: Path | None) -> CeleryGenerator:
        pinned = pinned_version(source_root, "celery") if source_root is not None else None
        if pinned is not None:
            return cls(delay_on_commit=pinned >= (5, 4))
        return cls()

    def task_imports(self, spec: TaskSpec) -> list[ImportSpec]:
        return [ImportSpec("celery", "shared_task")]

    def enqueue_callable(self, task: str) -> str:
        return f"{task}.delay"

    def on_commit(self, task: str, kwargs: list[str]) -> tuple[Call, list[ImportSpec]]:
        if self.delay_on_commit:
            # Celery 5.4+ with Django: DjangoTask.delay_on_commit wraps transaction.on_commit itself.
            return Call(f"{task}.delay_on_commit", list(kwargs)), []
        return super().on_commit(task, kwargs)


_PIN = re.compile(r"""(?im)^\s*["']?celery(?:\[[^\]]*\])?\s*(?:==|~=|>=|===)\s*(\d+)\.(\d+)""")
_LOCK = re.compile(r"""(?m)^name\s*=\s*"celery"\s*\nversion\s*=\s*"(\d+)\.(\d+)""")


def pinned_version(source_root: Path, package: str = "celery") -> tuple[int, int] | None:
    """The Celery version the project pins (requirements files, pyproject.toml, poetry/uv locks), if any.

    The project's own pin beats whatever is installed on the machine that runs the audit.
    """
    names = [
        "requirements*.txt",
        "requirements/*.txt",
        "pyproject.toml",
        "setup.cfg",
        "poetry.lock",
        "uv.lock",
    ]
    for pattern in names:
        for path in sorted(source_root.glob(pattern))[:20]:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            match = _LOCK.search(text) if path.suffix == ".lock" else _PIN.search(text)
            if match:
                return int(match.group(1)), int(match.group(2))
    return None


def celery_has_delay_on_commit() -> bool:
    """True when the Celery importable here is 5.4 or later (``DjangoTask.delay_on_commit``)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        parts = version("celery").split(".")
        return (int(parts[0]), int(parts[1])) >= (5, 4)
    except (PackageNotFoundError, ValueError, IndexError):
        return False
