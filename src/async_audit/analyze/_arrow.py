"""The loader's fast path: a piece of whole record lines read by pyarrow's JSON reader into columns.

The record format gives every key one JSON type, so pyarrow reads it with an explicit schema, in C++,
straight into columns. The reader is more lenient than the standard library's path in places (it skips blank
lines, reads two objects on one line, takes ``NaN``) and stops at the first line it cannot read, so this path
accepts a piece only when every line is one record and every record is valid, checked on whole columns; on
anything else it answers ``None`` and the caller parses the piece with ``_parse.parse_lines``, which decides
each line. Both paths give the same ``Chunk``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

from async_audit.analyze import _parse

try:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.json as pj  # type: ignore[import-untyped, unused-ignore]
except ImportError:  # pragma: no cover - without pyarrow every piece takes the standard library's path
    pa = None

__all__ = ["AVAILABLE", "parse_lines"]

AVAILABLE = pa is not None

_BOM = b"\xef\xbb\xbf"
StackKey = tuple[Any, ...]  # (route, file, line, function)
_NEWLINE, _BRACE = ord("\n"), ord("{")


def _schema() -> Any:
    string, int64, float64, boolean = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    frame = pa.struct([("file", string), ("line", int64), ("function", string)])
    call = pa.struct(
        [
            ("kind", string),
            ("lib", string),
            ("via", string),
            ("t", float64),
            ("ms", float64),
            ("parent", int64),
            ("atomic", boolean),
            ("site", frame),
            ("error", string),
            ("method", string),
            ("host", string),
            ("port", int64),
            ("path", string),
            ("status", int64),
            ("timeout", float64),
            ("backend", string),
            ("messages", int64),
            ("recipients", int64),
            ("alias", string),
            ("sql", string),
            ("task", string),
            ("queue", string),
            ("inline", boolean),
            ("name", string),
        ]
    )
    return pa.schema(
        [
            ("v", int64),
            ("id", string),
            ("ts", float64),
            ("host", string),
            ("pid", int64),
            ("proto", string),
            ("method", string),
            ("route", string),
            ("view", string),
            ("status", int64),
            ("ms", float64),
            ("cpu_ms", float64),
            ("db", pa.struct([("n", int64), ("ms", float64)])),
            ("dropped", int64),
            ("unsampled", int64),
            ("lost", pa.struct([("queue", int64), ("write", int64)])),
            ("calls", pa.list_(call)),
        ]
    )


_SCHEMA = _schema() if AVAILABLE else None


def _options() -> tuple[Any, Any]:
    parse = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
    return parse, pj.ReadOptions(use_threads=True, block_size=1 << 20)


class _Invalid(Exception):
    """A piece the fast path does not accept as a whole."""


def parse_lines(
    data: bytes, use_threads: bool = True, seen: set[StackKey] | None = None
) -> _parse.Chunk | None:
    """The piece's records as a ``Chunk``, or None when some line is not exactly one valid record.

    ``data`` holds whole lines, each ending with a newline. None also for a record of another format version
    (the standard library's path finds its line). ``seen``: (route, call site) keys whose stack this process
    already returned in this load; the chunk leaves them out and adds its own.
    """
    if not AVAILABLE or not data:
        return None
    data = data.removeprefix(_BOM)
    if not data.endswith(b"\n"):
        return None
    # Every line must start with "{": a blank line yields no row, so with this and the row count below each
    # line is exactly one object (pyarrow would read two objects on one line as two rows).
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == _NEWLINE)
    lines = len(ends)
    if raw[0] != _BRACE or not bool((raw[ends[:-1] + 1] == _BRACE).all()):
        return None
    if not data.isascii():
        try:  # pyarrow does not check UTF-8 in the values it skips or keeps; the other path skips such lines
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    parse, read = _options()
    read.use_threads = use_threads
    if not use_threads:
        read.block_size = min(len(data) + 1, 1 << 30)  # one block: every column comes back in one chunk
    try:
        table = pj.read_json(io.BytesIO(data), read_options=read, parse_options=parse)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != lines:
        return None
    try:
        chunk = _chunk(table)
        chunk.stacks = _stacks(chunk, data, ends, set() if seen is None else seen)
        return chunk
    except _Invalid:
        return None


def _column(table: Any, name: str) -> Any:
    return table.column(name).combine_chunks()


def _fields(struct: Any) -> dict[str, Any]:
    """A struct array's fields, null where the struct itself is null."""
    return {field.name: values for field, values in zip(struct.type, struct.flatten(), strict=True)}


def _require(ok: Any) -> None:
    if not ok:
        raise _Invalid


def _floats(values: Any, required: bool, nonneg: bool = False) -> np.ndarray:
    """float64 numbers with NaN for null, checked as ``_parse._check`` checks them."""
    if required:
        _require(values.null_count == 0)
    numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    if required:
        _require(not np.isnan(numbers).any())
    with np.errstate(invalid="ignore"):
        _require(bool((np.abs(np.nan_to_num(numbers, nan=0.0)) < _parse._NUM_LIMIT).all()))
        if nonneg:
            _require(not (numbers < 0).any())
    return numbers


def _ints(values: Any, required: bool, default: int) -> np.ndarray:
    """int64 with ``default`` for null, checked against ``_parse._INT_LIMIT``."""
    if required:
        _require(values.null_count == 0)
    numbers = np.asarray(values.fill_null(default).to_numpy(zero_copy_only=False), dtype=np.int64)
    _require(bool((np.abs(numbers) < _parse._INT_LIMIT).all()))
    return numbers


def _nullable_ints(values: Any) -> np.ndarray:
    """float64 with NaN for null (the schema's optional integers of calls)."""
    _ints(values, False, 0)
    return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _codes(values: Any, required: bool = False) -> _parse.Codes:
    if required:
        _require(values.null_count == 0)
    encoded = values.dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return codes, [str(u) for u in encoded.dictionary.to_pylist()]


def _bools(values: Any) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _stacks(chunk: _parse.Chunk, data: bytes, ends: np.ndarray, seen: set[StackKey]) -> dict[StackKey, Any]:
    """One stack per (route, call site) not in ``seen`` (the keys this process already sent in this load).

    The reader leaves ``stack`` out (a tenth of its time): the few representative stacks are read from their
    lines. A worker takes its pieces in input order, so the first piece holding a key always sends it.
    """
    route_codes, routes = chunk.requests["route"]
    file_codes, files = chunk.calls["site_file"]
    func_codes, funcs = chunk.calls["site_function"]
    owner, position = chunk.calls["req"], chunk.calls["idx"]
    keys = pd.DataFrame(
        {
            "route": route_codes[owner],
            "file": file_codes,
            "line": chunk.calls["site_line"],
            "function": func_codes,
        }
    )
    out: dict[StackKey, Any] = {}
    for row in np.flatnonzero(~keys.duplicated().to_numpy()):
        r, f, line, fn = (
            route_codes[owner[row]],
            file_codes[row],
            chunk.calls["site_line"][row],
            func_codes[row],
        )
        key = (
            routes[r] if r >= 0 else None,
            files[f] if f >= 0 else None,
            int(line) if line >= 0 else None,
            funcs[fn] if fn >= 0 else None,
        )
        if key in seen:
            continue
        request = int(owner[row])
        start = int(ends[request - 1]) + 1 if request else 0
        try:
            record = json.loads(data[start : int(ends[request])])
        except (ValueError, RecursionError) as exc:  # the standard library's path decides such a line
            raise _Invalid from exc
        seen.add(key)
        out[key] = _parse._frames(record["calls"][int(position[row])].get("stack"))
    return out


def _chunk(table: Any) -> _parse.Chunk:
    n = table.num_rows
    versions = _column(table, "v")
    _require(versions.null_count == 0 and bool(pc.all(pc.equal(versions, 1)).as_py()))
    db = _fields(_column(table, "db"))
    lost = _fields(_column(table, "lost"))
    chunk = _parse.Chunk(records=n)
    chunk.requests = {
        "id": np.asarray(_required(_column(table, "id")).to_numpy(zero_copy_only=False), dtype=object),
        "ts": _floats(_column(table, "ts"), True),
        "host": _codes(_column(table, "host")),
        "pid": _ints(_column(table, "pid"), False, -1),
        "proto": _codes(_column(table, "proto")),
        "method": _codes(_column(table, "method"), required=True),
        "route": _codes(_column(table, "route")),
        "view": _codes(_column(table, "view")),
        "status": _ints(_column(table, "status"), True, 0),
        "ms": _floats(_column(table, "ms"), True, nonneg=True),
        "cpu_ms": _floats(_column(table, "cpu_ms"), False),
        "db_n": _ints(db["n"], False, 0),
        "db_ms": np.nan_to_num(_floats(db["ms"], False)),
        "dropped": _ints(_column(table, "dropped"), False, 0),
        "unsampled": _ints(_column(table, "unsampled"), False, 0),
        "lost_queue": _ints(lost["queue"], False, 0),
        "lost_write": _ints(lost["write"], False, 0),
    }

    lists = _required(_column(table, "calls"))
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(lists)
    _require(flat.null_count == 0)  # a call that is not an object
    m = len(flat)
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    position = np.arange(m, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    calls = _fields(flat)
    site = _fields(calls["site"])
    parent = _ints(calls["parent"], False, -1)
    absent = calls["parent"].is_null().to_numpy(zero_copy_only=False)
    # a parent is null, or an earlier call of the same request
    _require(bool((absent | ((parent >= 0) & (parent < position))).all()))
    chunk.calls = {
        "req": owner,
        "idx": position,
        "t": _floats(calls["t"], True),
        "ms": _floats(calls["ms"], True, nonneg=True),
        "parent": parent,
        "atomic": _bools(calls["atomic"]),
        "site_file": _codes(site["file"]),
        "site_line": _ints(site["line"], False, -1),
        "site_function": _codes(site["function"]),
        "inline": _bools(calls["inline"]),
        "timeout": _floats(calls["timeout"], False),
    }
    for key in ("port", "status", "messages", "recipients"):
        chunk.calls[key] = _nullable_ints(calls[key])
    chunk.calls["kind"] = _codes(calls["kind"], required=True)
    chunk.calls["lib"] = _codes(calls["lib"], required=True)
    for key in ("via", "error", "method", "host", "path", "backend", "alias", "sql", "task", "queue", "name"):
        chunk.calls[key] = _codes(calls[key])
    return chunk


def _required(values: Any) -> Any:
    _require(values.null_count == 0)
    return values
