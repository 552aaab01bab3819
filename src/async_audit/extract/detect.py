"""Which task backend a site runs, and whether its configuration runs tasks inside the request anyway.

Both read either a settings module (a dotted name, or the module itself) or a source tree. A source tree is
never imported: its settings files are parsed and only literal values are read (a value computed at run time
counts as unknown), and its imports show which task libraries the code uses.
"""

from __future__ import annotations

import ast
import importlib
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from async_audit.errors import InputError

BACKENDS = ("django_tasks", "celery", "rq", "dramatiq", "huey", "django_q")

_APPS = {
    "django_tasks": "django_tasks",
    "django_tasks_db": "django_tasks",
    "django_rq": "rq",
    "huey.contrib.djhuey": "huey",
    "django_q": "django_q",
    "django_dramatiq": "dramatiq",
    "django_celery_results": "celery",
    "django_celery_beat": "celery",
}
_IMPORTS = {
    "celery": "celery",
    "django_rq": "rq",
    "rq": "rq",
    "dramatiq": "dramatiq",
    "huey": "huey",
    "django_q": "django_q",
    "django_tasks": "django_tasks",
    "django.tasks": "django_tasks",
}
_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "env", "node_modules", "__pycache__", "site-packages", ".tox"}
)
_MAX_FILES = 5000


class _Unknown:
    """A setting whose value is computed at run time."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


class SiteFacts:
    """Settings (literal values) and imported task libraries of a site."""

    def __init__(self, settings: Mapping[str, Any], imports: Counter[str]) -> None:
        self.settings = dict(settings)
        self.imports = imports

    @classmethod
    def load(cls, target: str | os.PathLike[str] | ModuleType | Mapping[str, Any]) -> SiteFacts:
        if isinstance(target, Mapping):
            return cls(target, Counter())
        if isinstance(target, ModuleType):
            return cls(_module_settings(target), Counter())
        path = Path(target)
        if path.is_dir():
            return _scan_tree(path)
        if path.suffix == ".py" and path.is_file():
            return cls(_file_settings(path), Counter())
        name = str(target)
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise InputError(
                f"neither a source directory nor an importable settings module: {name} ({exc})"
            ) from None
        return cls(_module_settings(module), Counter())


def _module_settings(module: ModuleType) -> dict[str, Any]:
    return {k: getattr(module, k) for k in dir(module) if k.isupper()}


def _file_settings(path: Path) -> dict[str, Any]:
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            # INSTALLED_APPS += [...]: keep what is known of both parts.
            previous = out.get(node.target.id)
            added = _literal(node.value)
            if isinstance(previous, list) and isinstance(added, list):
                out[node.target.id] = previous + added
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper():
                out[target.id] = _literal(value) if value is not None else UNKNOWN
    # Conditional appends (``if not HAS_BUILTIN_TASKS: INSTALLED_APPS.append("django_tasks")``) name apps too.
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            _list_call(call, out)
    return out


def _list_call(call: ast.Call, out: dict[str, Any]) -> None:
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr in {"append", "insert", "extend"}
        and isinstance(func.value, ast.Name)
        and isinstance(out.get(func.value.id), list)
        and call.args
    ):
        value = _literal(call.args[-1])
        items = value if func.attr == "extend" and isinstance(value, list) else [value]
        current = out[func.value.id]
        out[func.value.id] = current + [i for i in items if i not in current]


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        if isinstance(node, (ast.List, ast.Tuple)):
            return [_literal(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {
                _literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None
            }
        return UNKNOWN


def _python_files(root: Path) -> Iterator[Path]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                count += 1
                if count > _MAX_FILES:
                    return
                yield Path(dirpath) / name


def _scan_tree(root: Path) -> SiteFacts:
    settings: dict[str, Any] = {}
    imports: Counter[str] = Counter()
    for path in _python_files(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"INSTALLED_APPS" in data or b"CELERY" in data or path.stem.startswith("settings"):
            _merge_settings(settings, _file_settings(path))
        if any(lib.encode() in data for lib in ("celery", "rq", "dramatiq", "huey", "django_q", "tasks")):
            _count_imports(data, imports)
    return SiteFacts(settings, imports)


def _merge_settings(settings: dict[str, Any], found: dict[str, Any]) -> None:
    # Split settings (base.py, production.py): the first literal value wins, lists of apps add up.
    for key, value in found.items():
        if key not in settings or settings[key] is UNKNOWN:
            settings[key] = value
        elif isinstance(settings[key], list) and isinstance(value, list):
            settings[key] = settings[key] + [v for v in value if v not in settings[key]]


def _count_imports(data: bytes, imports: Counter[str]) -> None:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            backend = next((b for p, b in _IMPORTS.items() if name == p or name.startswith(p + ".")), None)
            if backend is not None:
                imports[backend] += 1


def _votes(facts: SiteFacts) -> Counter[str]:
    votes: Counter[str] = Counter()
    s = facts.settings
    apps = s.get("INSTALLED_APPS")
    if isinstance(apps, (list, tuple)):
        for app in apps:
            if isinstance(app, str):
                backend = _APPS.get(app) or _APPS.get(app.split(".apps.")[0])
                if backend:
                    votes[backend] += 10
    if isinstance(s.get("TASKS"), dict):
        votes["django_tasks"] += 10
    if any(k.startswith("CELERY_") for k in s):
        votes["celery"] += 10
    if "RQ_QUEUES" in s:
        votes["rq"] += 10
    if "DRAMATIQ_BROKER" in s:
        votes["dramatiq"] += 10
    if "HUEY" in s:
        votes["huey"] += 10
    if "Q_CLUSTER" in s:
        votes["django_q"] += 10
    for backend, n in facts.imports.items():
        votes[backend] += min(n, 9)
    return votes


def detect_backend(
    settings_module_or_source_root: str | os.PathLike[str] | ModuleType | Mapping[str, Any],
) -> str | None:
    """The task backend the site runs: from INSTALLED_APPS, TASKS, CELERY_*/RQ_QUEUES/HUEY/Q_CLUSTER settings
    and the task libraries its code imports; None when it runs none."""
    return _pick(_votes(SiteFacts.load(settings_module_or_source_root)))


def _pick(votes: Counter[str]) -> str | None:
    if not votes:
        return None
    best = max(votes.values())
    # A tie goes to the dedicated task system over Django's own (sites add it for a reason).
    for backend in ("celery", "rq", "dramatiq", "huey", "django_q", "django_tasks"):
        if votes.get(backend) == best:
            return backend
    return None  # pragma: no cover


def inline_backend_warning(
    settings_module_or_source_root: str | os.PathLike[str] | ModuleType | Mapping[str, Any],
    backend: str | None = None,
) -> str | None:
    """A sentence when the configured backend would run enqueued work inside the request anyway."""
    facts = SiteFacts.load(settings_module_or_source_root)
    backend = backend or _pick(_votes(facts))
    check = _INLINE_CHECKS.get(backend or "")
    return check(facts.settings) if check is not None else None


def _django_tasks_inline(s: dict[str, Any]) -> str | None:
    tasks = s.get("TASKS")
    if tasks is None:
        return (
            "Django's tasks run with the default ImmediateBackend when TASKS is not set: every enqueued task "
            "runs inside the request. Configure a backend with a worker (django-tasks-db's DatabaseBackend "
            "and its db_worker, for instance)."
        )
    default = tasks.get("default") if isinstance(tasks, dict) else None
    engine = default.get("BACKEND") if isinstance(default, dict) else None
    if isinstance(engine, str) and engine.endswith("ImmediateBackend"):
        return (
            "TASKS['default'] uses ImmediateBackend, which runs every enqueued task inside the request: "
            "use a backend with a worker in production."
        )
    return None


def _celery_inline(s: dict[str, Any]) -> str | None:
    for key in ("CELERY_TASK_ALWAYS_EAGER", "CELERY_ALWAYS_EAGER"):
        if s.get(key) is True:
            return f"{key} is True: Celery runs every task inside the request that enqueues it."
    return None


def _huey_inline(s: dict[str, Any]) -> str | None:
    huey = s.get("HUEY")
    if not isinstance(huey, dict):
        return None
    if huey.get("immediate") is True:
        return "HUEY['immediate'] is True: Huey runs every task inside the request that enqueues it."
    if "immediate" not in huey:
        state = (
            "is True here, so"
            if s.get("DEBUG") is True
            else "is unknown or False here, but wherever it is True"
        )
        return (
            f"HUEY['immediate'] is not set, so it follows DEBUG, which {state} tasks run inside the request."
        )
    return None


def _rq_inline(s: dict[str, Any]) -> str | None:
    queues = s.get("RQ_QUEUES")
    if not isinstance(queues, dict):
        return None
    sync = sorted(str(n) for n, q in queues.items() if isinstance(q, dict) and q.get("ASYNC") is False)
    if sync:
        return f"RQ_QUEUES {', '.join(sync)} have ASYNC False: their jobs run inside the request."
    return None


def _django_q_inline(s: dict[str, Any]) -> str | None:
    cluster = s.get("Q_CLUSTER")
    if isinstance(cluster, dict) and cluster.get("sync") is True:
        return "Q_CLUSTER['sync'] is True: django-q2 runs every task inside the request."
    return None


def _dramatiq_inline(s: dict[str, Any]) -> str | None:
    broker = s.get("DRAMATIQ_BROKER")
    engine = broker.get("BROKER") if isinstance(broker, dict) else None
    if isinstance(engine, str) and engine.endswith("StubBroker"):
        return "DRAMATIQ_BROKER is the StubBroker: messages wait in memory for a worker that never comes."
    return None


_INLINE_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "django_tasks": _django_tasks_inline,
    "celery": _celery_inline,
    "huey": _huey_inline,
    "rq": _rq_inline,
    "django_q": _django_q_inline,
    "dramatiq": _dramatiq_inline,
}
