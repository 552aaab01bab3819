"""The rule engine: match a call's facts against rules kept as data, first match wins."""

from __future__ import annotations

import fnmatch
import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from async_audit.analyze.model import Category, Disposition
from async_audit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the oldest stack only
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = ["CallFacts", "Classification", "Rule", "RuleSet", "load_rules", "read_project_config"]

_FACT_KEYS = ("kind", "lib", "via", "host", "method", "path", "backend", "task", "name")
_RULE_KEYS = {"name", "category", "disposition", "reason", "match", "read"}
_READ_KEYS = {"category", "disposition", "reason", "paths", "methods"}
_READ_METHODS = ("GET", "HEAD", "OPTIONS")
_PROJECT_FILE = "async-audit.toml"


@dataclass(frozen=True)
class CallFacts:
    """What classification may look at: the record's (or the scanner's) facts about one call."""

    kind: str
    lib: str
    via: str | None = None
    host: str | None = None
    method: str | None = None
    path: str | None = None
    backend: str | None = None
    task: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Classification:
    """A call's category and disposition, the reason in words, and the rule that decided it."""

    category: Category
    disposition: Disposition
    reason: str
    rule: str


class _Pattern:
    """Glob patterns for one fact, compiled into one case-insensitive regular expression."""

    __slots__ = ("regex", "source")

    def __init__(self, patterns: list[str]) -> None:
        self.source = patterns
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)

    def matches(self, value: str | None) -> bool:
        return value is not None and self.regex.match(value) is not None


@dataclass(frozen=True)
class _Outcome:
    category: Category
    disposition: Disposition
    reason: str


@dataclass
class Rule:
    """One rule: alternatives of conditions, what it decides, and what it decides for reads."""

    name: str  # qualified: "builtin:stripe", "project:crm-writes"
    outcome: _Outcome
    alternatives: list[dict[str, _Pattern]]
    read: _Outcome | None = None
    read_paths: _Pattern | None = None
    read_methods: frozenset[str] = frozenset(_READ_METHODS)

    def matches(self, facts: CallFacts) -> bool:
        return any(
            all(pattern.matches(getattr(facts, key)) for key, pattern in alternative.items())
            for alternative in self.alternatives
        )

    def decide(self, facts: CallFacts) -> Classification:
        outcome = self.outcome
        if self.read is not None and self._is_read(facts):
            outcome = self.read
        return Classification(outcome.category, outcome.disposition, _fill(outcome.reason, facts), self.name)

    def _is_read(self, facts: CallFacts) -> bool:
        if self.read_paths is not None and self.read_paths.matches(facts.path):
            return True
        return facts.method is not None and facts.method.upper() in self.read_methods


@dataclass
class RuleSet:
    """Ordered rules (a project's first, then the built-in ones) and the rest of the project's settings."""

    rules: list[Rule]
    settings: Mapping[str, Any] = field(default_factory=dict)  # [tool.async_audit] keys other than rules
    config_path: Path | None = None
    _cache: dict[CallFacts, Classification] = field(default_factory=dict, repr=False)

    def classify(self, facts: CallFacts) -> Classification:
        """The first matching rule's classification (cached: the same facts always get the same answer)."""
        known = self._cache.get(facts)
        if known is not None:
            return known
        for rule in self.rules:
            if rule.matches(facts):
                result = rule.decide(facts)
                break
        else:
            result = Classification(
                Category.OTHER,
                Disposition.REVIEW,
                f"No rule matches this {facts.kind} call; review it.",
                "none",
            )
        self._cache[facts] = result
        return result

    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(reason: str, facts: CallFacts) -> str:
    values = _Defaulting({key: getattr(facts, key) or "?" for key in _FACT_KEYS})
    try:
        return reason.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return reason  # a project's reason with stray braces is shown as written


def _strings(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{where}: expected a string or a non-empty list of strings")
    return list(items)


def _enum(enum_type: type[Category] | type[Disposition], value: Any, where: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _parse_rule(raw: Any, origin: str, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a rule must be a table")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(_RULE_KEYS))})"
        )
    for key in ("name", "category", "match"):
        if key not in raw:
            raise ConfigError(f"{where}: missing {key!r}")
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a non-empty string")
    where = f"{where} ({name})"
    category = _enum(Category, raw["category"], f"{where} category")
    disposition = _enum(
        Disposition, raw.get("disposition", _default_disposition(category)), f"{where} disposition"
    )
    reason = raw.get("reason", f"Classified as {category.value} by rule {name}.")
    if not isinstance(reason, str):
        raise ConfigError(f"{where}: 'reason' must be a string")
    rule = Rule(
        f"{origin}:{name}", _Outcome(category, disposition, reason), _parse_match(raw["match"], where)
    )
    if "read" in raw:
        _parse_read(rule, raw["read"], where)
    return rule


def _parse_match(alternatives: Any, where: str) -> list[dict[str, _Pattern]]:
    if isinstance(alternatives, dict):
        alternatives = [alternatives]
    if not isinstance(alternatives, list) or not alternatives:
        raise ConfigError(f"{where}: 'match' must be a table or a non-empty list of tables")
    compiled: list[dict[str, _Pattern]] = []
    for alt in alternatives:
        if not isinstance(alt, dict) or not alt:
            raise ConfigError(f"{where}: each 'match' entry must be a non-empty table")
        bad = set(alt) - set(_FACT_KEYS)
        if bad:
            raise ConfigError(
                f"{where}: cannot match on {sorted(bad)[0]!r} (allowed: {', '.join(_FACT_KEYS)})"
            )
        compiled.append(
            {key: _Pattern(_strings(value, f"{where} match.{key}")) for key, value in alt.items()}
        )
    return compiled


def _parse_read(rule: Rule, read: Any, where: str) -> None:
    if not isinstance(read, dict):
        raise ConfigError(f"{where}: 'read' must be a table")
    unknown = set(read) - _READ_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key read.{sorted(unknown)[0]} (allowed: {', '.join(sorted(_READ_KEYS))})"
        )
    category = _enum(Category, read.get("category", "api_read"), f"{where} read.category")
    disposition = _enum(Disposition, read.get("disposition", "keep_sync"), f"{where} read.disposition")
    reason = read.get("reason", rule.outcome.reason)
    if not isinstance(reason, str):
        raise ConfigError(f"{where}: 'read.reason' must be a string")
    rule.read = _Outcome(category, disposition, reason)
    if "paths" in read:
        rule.read_paths = _Pattern(_strings(read["paths"], f"{where} read.paths"))
    if "methods" in read:
        rule.read_methods = frozenset(m.upper() for m in _strings(read["methods"], f"{where} read.methods"))


def _default_disposition(category: Category) -> str:
    if category in (Category.PAYMENT, Category.SQL, Category.API_READ, Category.SEARCH_QUERY):
        return Disposition.KEEP_SYNC.value
    if category is Category.TASK:
        return Disposition.DEFERRED.value
    if category in (Category.STORAGE, Category.COMPUTE, Category.OTHER):
        return Disposition.REVIEW.value
    return Disposition.DEFER.value


def _parse_rules(raw_rules: Any, origin: str, source: str) -> list[Rule]:
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{source}: 'rules' must be an array of tables ([[rules]])")
    rules = [_parse_rule(raw, origin, f"{source}: rule {n + 1}") for n, raw in enumerate(raw_rules)]
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"{source}: rule {rule.name.split(':', 1)[1]!r} is defined twice")
        seen.add(rule.name)
    return rules


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def builtin_rules() -> list[Rule]:
    """The knowledge base shipped in the package (builtin.toml)."""
    return list(_builtin_rules())


@functools.lru_cache(maxsize=1)
def _builtin_rules() -> tuple[Rule, ...]:
    # Parsed once per process: rules are never changed after parsing.
    text = resources.files("async_audit.rules").joinpath("builtin.toml").read_text(encoding="utf-8")
    return tuple(_parse_rules(tomllib.loads(text).get("rules", []), "builtin", "builtin.toml"))


def read_project_config(
    project_dir: Path | None = None, config_file: Path | None = None
) -> tuple[dict[str, Any], Path | None]:
    """The ``[tool.async_audit]`` table (or async-audit.toml's content) and the file it came from.

    An explicit ``config_file`` wins; otherwise ``project_dir/async-audit.toml``, then
    ``project_dir/pyproject.toml``. No file, or a pyproject.toml without the table: ``({}, None)``.
    """
    if config_file is not None:
        config_file = Path(config_file)
        if not config_file.is_file():
            raise ConfigError(f"{config_file}: no such config file")
        candidates = [config_file]
    elif project_dir is not None:
        candidates = [Path(project_dir) / _PROJECT_FILE, Path(project_dir) / "pyproject.toml"]
    else:
        return {}, None
    for path in candidates:
        if not path.is_file():
            continue
        data = _read_toml(path)
        tool = data.get("tool")
        table = tool.get("async_audit") if isinstance(tool, dict) else None
        if table is None and path.name != "pyproject.toml":
            table = data  # async-audit.toml holds the settings at the top level
        if table is None:
            if path is config_file:
                raise ConfigError(f"{path}: no [tool.async_audit] table")
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.async_audit] must be a table")
        return table, path
    return {}, None


def load_rules(project_dir: Path | None = None, config_file: Path | None = None) -> RuleSet:
    """The built-in rules, extended and overridden by the project's configuration.

    Project rules come first, so they win; a project rule named like a built-in one replaces it, and
    ``disable = ["name", ...]`` removes built-in rules. Bad configuration raises ``ConfigError``.
    """
    table, path = read_project_config(project_dir, config_file)
    source = str(path) if path is not None else "config"
    project = _parse_rules(table.get("rules", []), "project", source)
    disabled = set(_strings(table["disable"], f"{source}: disable")) if "disable" in table else set()
    replaced = {rule.name.split(":", 1)[1] for rule in project} | disabled
    builtin = builtin_rules()
    known = {rule.name.split(":", 1)[1] for rule in builtin}
    for name in sorted(disabled - known):
        raise ConfigError(f"{source}: disable: no built-in rule named {name!r}")
    rules = project + [rule for rule in builtin if rule.name.split(":", 1)[1] not in replaced]
    settings = {key: value for key, value in table.items() if key not in ("rules", "disable")}
    return RuleSet(rules, settings, path)
