"""Classification rules kept as data: the built-in knowledge base (``builtin.toml``) and a project's own.

Used by the analyzer (recorded calls) and by the static scanner (call sites found in the source)::

    rules = load_rules(Path("."))
    rules.classify(CallFacts(kind="http", lib="requests", via="stripe"))
    # Classification(category=Category.PAYMENT, disposition=Disposition.KEEP_SYNC,
    #                reason="Stripe payment call: ...", rule="builtin:stripe")
"""

from __future__ import annotations

from async_audit.rules._engine import (
    CallFacts,
    Classification,
    Rule,
    RuleSet,
    builtin_rules,
    load_rules,
    read_project_config,
)

__all__ = [
    "CallFacts",
    "Classification",
    "Rule",
    "RuleSet",
    "builtin_rules",
    "load_rules",
    "read_project_config",
]
