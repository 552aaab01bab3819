"""Exceptions of async-audit.

::

    AsyncAuditError              base of everything async-audit raises on purpose
    ├── InputError               bad input: a record file, a config file, a source tree (CLI exit 2)
    │   ├── RecordFormatError    an unknown format version, or no records at all
    │   └── ConfigError          a rules or config file that cannot be used
    └── UsageError               a bad combination of options (CLI exit 2)

The recorder never raises any of these into the audited site: its own failures are swallowed, counted and
logged (``async_audit.record.guard``).
"""

from __future__ import annotations


class AsyncAuditError(Exception):
    """Base class; its message is one line a person can act on."""


class InputError(AsyncAuditError):
    pass


class RecordFormatError(InputError):
    pass


class ConfigError(InputError):
    pass


class UsageError(AsyncAuditError):
    pass
