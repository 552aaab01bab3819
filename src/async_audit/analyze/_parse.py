"""Turn lines of record JSON into columns: the loader's inner loop, run in worker processes on large inputs.

Parsing is the cost (the standard library's ``json``): columns are pulled out with one list comprehension
each, checked with pandas' C type inference instead of per-value Python checks, and strings are returned as
categorical codes so the parent process merges small arrays, not millions of objects.
"""

from __future__ import annotations

import gc
import json
import json.scanner
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

try:  # pandas' C loop over a list of dicts: several times faster than a comprehension per key
    from pandas._libs.lib import dicts_to_array  # type: ignore[attr-defined, unused-ignore]
except ImportError:  # pragma: no cover - a future pandas without it falls back to comprehensions
    dicts_to_array = None

# key -> (type, required, nullable); type is one of str, int, num, bool, dict, list.
_REQUEST_SPEC: dict[str, tuple[str, bool, bool]] = {
    "v": ("int", True, False),
    "id": ("str", True, False),
    "ts": ("num", True, False),
    "host": ("str", False, True),
    "pid": ("int", False, True),
    "proto": ("str", False, True),
    "method": ("str", True, False),
    "route": ("str", False, True),
    "view": ("str", False, True),
    "status": ("int", True, False),
    "ms": ("num", True, False),
    "cpu_ms": ("num", False, True),
    "db": ("dict", False, True),
    "dropped": ("int", False, True),
    "unsampled": ("int", False, True),
    "lost": ("dict", False, True),
    "calls": ("list", True, False),
}
_CALL_SPEC: dict[str, tuple[str, bool, bool]] = {
    "kind": ("str", True, False),
    "lib": ("str", True, False),
    "via": ("str", False, True),
    "t": ("num", True, False),
    "ms": ("num", True, False),
    "parent": ("int", False, True),
    "atomic": ("bool", False, True),
    "site": ("dict", False, True),
    "error": ("str", False, True),
    "method": ("str", False, True),
    "host": ("str", False, True),
    "port": ("int", False, True),
    "path": ("str", False, True),
    "status": ("int", False, True),
    "timeout": ("num", False, True),
    "backend": ("str", False, True),
    "messages": ("int", False, True),
    "recipients": ("int", False, True),
    "alias": ("str", False, True),
    "sql": ("str", False, True),
    "task": ("str", False, True),
    "queue": ("str", False, True),
    "inline": ("bool", False, True),
    "name": ("str", False, True),
}
_SITE_SPEC: dict[str, tuple[str, bool, bool]] = {
    "file": ("str", False, True),
    "line": ("int", False, True),
    "function": ("str", False, True),
}
_INFERRED_OK = {
    "str": ("string", "empty"),
    "int": ("integer", "empty"),
    "num": ("integer", "floating", "mixed-integer-float", "empty"),
    "bool": ("boolean", "empty"),
}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "num": (int, float),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
}
_INT_LIMIT = 2**53  # larger integers lose precision as float64, and no real record holds one
# Seconds since 1970 or milliseconds: 1e10 is the year 2286, or 115 days. A larger finite number (1e308) is no
# measurement, and would overflow the report's dates and chart axes.
_NUM_LIMIT = 1e10


Codes = tuple[np.ndarray, list[str]]  # categorical codes (-1 = missing) and their categories


# The recorder's log sink (``record.sink.LOG_PREFIX``) writes each record on a log line after this marker;
# whatever a logging format or a log drain puts before it (time, level, logger, "app[web.1]:") is not read.
LOG_MARKER = "async-audit "
_LOG_RECORD = LOG_MARKER + "{"
_LOG_RECORD_BYTES = _LOG_RECORD.encode()


@dataclass
class Chunk:
    """Columns of the valid records of one piece of input, and what was skipped.

    ``skipped``: lines that are not blank and give no valid record. ``other``: how many of those are no record
    line at all (neither a JSON object nor a marked log line): in a log file, its ordinary log lines, which
    the loader does not count as skipped; in a record file, broken lines like the rest. ``marked``: lines
    that carry a record after the log marker, so the file is a log file.
    """

    requests: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0
    stacks: dict[tuple[Any, ...], list[tuple[Any, Any, Any]]] = field(default_factory=dict)
    bad_version: tuple[int, object] | None = None  # (line index in the piece, version) of the first refusal
    other: int = 0
    marked: int = 0


def parse_lines(data: bytes) -> Chunk:
    """Parse one piece of a record or log file (whole lines).

    A line is a record when it is one JSON object, or when the object follows the log marker (a log line
    written by the recorder's log sink). Blank lines are ignored, every other line is counted as skipped,
    and those that are no record line at all also as ``other``.
    """
    enabled = gc.isenabled()
    gc.disable()  # millions of new containers would trigger useless collections; nothing here is cyclic
    try:
        objects: list[Any] = []
        lines: list[int] = []
        skipped = other = marked = 0
        for n, line in enumerate(_lines(data)):
            obj = _decode(line)
            if obj is _BLANK:
                continue
            if type(obj) is dict:
                objects.append(obj)
                lines.append(n)
                continue
            at = _marked_record(line)
            if at >= 0:
                marked += 1
                obj = _decode(line[at:])
                if type(obj) is dict:
                    objects.append(obj)
                    lines.append(n)
                else:
                    skipped += 1
            else:
                skipped += 1
                other += not _starts_object(line)
        chunk = parse_objects(objects, lines)
        chunk.skipped += skipped
        chunk.other, chunk.marked = other, marked
        return chunk
    finally:
        if enabled:
            gc.enable()


_BLANK = object()
_BROKEN = object()
# json.loads without its per-call wrappers (encoding detection, whitespace checks)
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _lines(data: bytes) -> Sequence[str | bytes]:
    """The piece's lines: decoded once when the whole piece is UTF-8, else as bytes, line by line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.split(b"\n")
    lines = text.split("\n")
    if lines[0].startswith("\ufeff") and lines[0][1:].strip(_ASCII_SPACE):
        # the byte order mark goes; a line of nothing but the mark is no record, and is counted
        lines[0] = lines[0][1:]
    return lines


def _decode(line: str | bytes) -> Any:
    """The line's JSON value; ``_BLANK`` for an empty line, ``_BROKEN`` for one that is not JSON."""
    if isinstance(line, str):
        try:
            value, end = _scan(line, 0)
            if end == len(line) or not line[end:].strip():
                return value
        except (StopIteration, ValueError, RecursionError):
            pass
    try:  # the standard entry point decides every case the fast path did not accept
        return json.loads(line)
    except (ValueError, RecursionError):
        # Blank means ASCII whitespace only, as for bytes: str.strip() would also take "\x1c" or a
        # no-break space for blank, and such a line would go uncounted.
        blank = not (line.strip(_ASCII_SPACE) if isinstance(line, str) else line.strip())
        return _BLANK if blank else _BROKEN


_ASCII_SPACE = " \t\n\r\x0b\x0c"
_ASCII_SPACE_BYTES = _ASCII_SPACE.encode()


def _marked_record(line: str | bytes) -> int:
    """Where the record of a log line starts (its "{" after the marker), or -1."""
    if isinstance(line, str):
        at = line.find(_LOG_RECORD)
    else:
        at = line.find(_LOG_RECORD_BYTES)
    return at + len(LOG_MARKER) if at >= 0 else -1


def _starts_object(line: str | bytes) -> bool:
    if isinstance(line, str):
        return line.lstrip(_ASCII_SPACE + "\ufeff")[:1] == "{"
    return line.lstrip(_ASCII_SPACE_BYTES)[:1] == b"{"


def log_records(data: bytes) -> tuple[bytes, int, int] | None:
    """The record lines of a piece of a log file as plain record lines, with ``(other, marked)`` counts.

    For the fast path: it gets whole lines that start with "{", each a record if that path takes the piece.
    None when a line would need the line-by-line path to decide (a byte order mark, a record line indented),
    so both paths count every line alike.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return None
    out: list[bytes] = []
    other = marked = 0
    for line in data.split(b"\n")[:-1]:  # whole lines: the piece ends with a newline
        if line[:1] == b"{":
            out.append(line)
            continue
        at = line.find(_LOG_RECORD_BYTES)
        if at >= 0:
            marked += 1
            out.append(line[at + len(LOG_MARKER) :])
        elif line.lstrip(_ASCII_SPACE_BYTES)[:1] == b"{":
            return None
        elif line.strip(_ASCII_SPACE_BYTES):
            other += 1
    return (b"\n".join(out) + b"\n" if out else b""), other, marked


def parse_objects(objects: Sequence[dict[str, Any]], lines: Sequence[int] | None = None) -> Chunk:
    """Columns of the records among ``objects`` that are valid; the others are counted as skipped."""
    chunk = Chunk()
    n = len(objects)
    req = _table(objects, list(_REQUEST_SPEC))
    version = _check_version(req["v"], lines)
    if version is not None:
        chunk.bad_version = version
        return chunk
    ok = _check(req, _REQUEST_SPEC, n) & _nonneg(req["ms"])
    db = _table(_dicts(req["db"]), ["n", "ms"])
    ok &= _check(db, {"n": ("int", False, True), "ms": ("num", False, True)}, n)
    lost = _table(_dicts(req["lost"]), ["queue", "write"])
    ok &= _check(lost, {"queue": ("int", False, True), "write": ("int", False, True)}, n)

    is_list = _is_type(req["calls"], list)
    ok &= is_list
    lists = (
        req["calls"]
        if is_list.all()
        else [c if b else [] for c, b in zip(req["calls"], is_list, strict=False)]
    )
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(lists))
    m = len(flat)
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    position = np.arange(m, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    is_dict = _is_type(flat, dict)
    calls = _table(
        flat if is_dict.all() else [c if b else {} for c, b in zip(flat, is_dict, strict=False)],
        [*_CALL_SPEC, "stack"],
    )
    call_ok = is_dict & _check(calls, _CALL_SPEC, m) & _nonneg(calls["ms"])
    site = _table(_dicts(calls["site"]), list(_SITE_SPEC))
    call_ok &= _check(site, _SITE_SPEC, m)
    parent = calls["parent"]
    call_ok &= np.isnan(parent) | ((parent >= 0) & (parent < position))
    if not call_ok.all():
        ok &= np.bincount(owner[~call_ok], minlength=n) == 0

    if not ok.all():
        keep = ok[owner]
        new_row = np.cumsum(ok) - 1
        owner, position = new_row[owner[keep]], position[keep]
        req, db, lost = _rows(req, ok), _rows(db, ok), _rows(lost, ok)
        calls, site = _rows(calls, keep), _rows(site, keep)
        chunk.skipped = n - int(ok.sum())
    chunk.records = int(ok.sum())
    _fill(chunk, req, db, lost, calls, site, owner, position)
    return chunk


Table = dict[str, Any]  # column name -> numpy array (object, or float64 once checked as a number)


def _table(dicts: Sequence[Any], keys: list[str]) -> Table:
    """Columns of a list of dicts; absent keys give NaN (treated like null)."""
    if dicts_to_array is not None and len(dicts):
        array = dicts_to_array(dicts if isinstance(dicts, list) else list(dicts), keys)
        return {key: array[:, n] for n, key in enumerate(keys)}
    return {key: np.fromiter((d.get(key) for d in dicts), dtype=object, count=len(dicts)) for key in keys}


def _dicts(values: Any) -> list[Any]:
    return [v if type(v) is dict else {} for v in values]


def _rows(table: Table, mask: np.ndarray) -> Table:
    return {key: values[mask] for key, values in table.items()}


def _check_version(versions: Any, lines: Sequence[int] | None) -> tuple[int, object] | None:
    if infer_dtype(versions, skipna=False) in ("integer", "empty"):
        if not np.any(versions.astype(np.float64) != 1):
            return None
    for n, v in enumerate(versions):
        if type(v) is int and v != 1:
            return (lines[n] if lines is not None else n), v
    return None  # only malformed versions: those records are invalid, not from a newer format


def _bad(values: Any, kind: str, nullable: bool) -> np.ndarray | None:
    """A mask of values that do not have the expected JSON type, or None when all do."""
    # One C pass: without skipna, a null among the values makes the inferred type "mixed".
    # (Absent keys come as NaN, a float: required numbers are checked for NaN after conversion.)
    if kind in _INFERRED_OK and infer_dtype(values, skipna=nullable) in _INFERRED_OK[kind]:
        return None
    types = _PY_TYPES[kind]
    seen = set(map(type, values))  # map and set run in C: the common all-valid case costs little
    if seen <= set(types) or (nullable and seen <= {*types, type(None)}):
        return None
    if nullable:
        flags = ((type(v) not in types) and not (v is None or v != v) for v in values)
    else:  # absent keys come as NaN: a required value must be present and a number must not be NaN
        flags = ((type(v) not in types) or v != v for v in values)
    mask = np.fromiter(flags, dtype=bool, count=len(values))
    return mask if mask.any() else None


def _is_type(values: Any, kind: type) -> np.ndarray:
    """Mask of values of exactly this type."""
    if set(map(type, values)) <= {kind}:
        return np.ones(len(values), dtype=bool)
    return np.fromiter((type(v) is kind for v in values), dtype=bool, count=len(values))


def _to_float(values: Any) -> np.ndarray:
    try:
        return np.asarray(values.astype(np.float64))
    except (OverflowError, ValueError, TypeError):
        return np.fromiter((_safe_float(v) for v in values), dtype=np.float64, count=len(values))


def _safe_float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (OverflowError, ValueError, TypeError):
        return math.inf  # an integer too large for a float: caught by the range checks


def _check(table: Table, spec: dict[str, tuple[str, bool, bool]], n: int) -> np.ndarray:
    """Rows (True) whose values all have their declared types and sane numbers; numbers become float64."""
    bad = np.zeros(n, dtype=bool)
    for key, (kind, required, nullable) in spec.items():
        values = table[key]
        mask = _bad(values, kind, nullable and not required)
        if mask is not None:
            bad |= mask
        if kind in ("int", "num"):
            if mask is not None:
                values = values.copy()
                values[mask] = None
            numbers = _to_float(values)
            table[key] = numbers
            if required:
                bad |= np.isnan(numbers)
            if kind == "int":
                bad |= np.abs(np.nan_to_num(numbers, nan=0.0)) >= _INT_LIMIT
            else:
                bad |= np.abs(np.nan_to_num(numbers, nan=0.0)) >= _NUM_LIMIT
    return ~bad


def _nonneg(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(values < 0)


def _codes(values: Any) -> Codes:
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int32), [str(u) for u in uniques]


def _ints(values: np.ndarray, default: int) -> np.ndarray:
    return np.where(np.isnan(values), default, values).astype(np.int64)


def _bools(values: Any) -> np.ndarray:
    return np.asarray(np.equal(values, True), dtype=bool)


def _fill(
    chunk: Chunk,
    req: Table,
    db: Table,
    lost: Table,
    calls: Table,
    site: Table,
    owner: np.ndarray,
    position: np.ndarray,
) -> None:
    """Output columns of records already known to be valid."""
    chunk.requests = {
        "id": np.asarray(req["id"], dtype=object),
        "ts": req["ts"],
        "host": _codes(req["host"]),
        "pid": _ints(req["pid"], -1),
        "proto": _codes(req["proto"]),
        "method": _codes(req["method"]),
        "route": _codes(req["route"]),
        "view": _codes(req["view"]),
        "status": _ints(req["status"], 0),
        "ms": req["ms"],
        "cpu_ms": req["cpu_ms"],
        "db_n": _ints(db["n"], 0),
        "db_ms": np.nan_to_num(db["ms"]),
        "dropped": _ints(req["dropped"], 0),
        "unsampled": _ints(req["unsampled"], 0),
        "lost_queue": _ints(lost["queue"], 0),
        "lost_write": _ints(lost["write"], 0),
    }
    chunk.calls = {
        "req": owner,
        "idx": position,
        "t": calls["t"],
        "ms": calls["ms"],
        "parent": _ints(calls["parent"], -1),
        "atomic": _bools(calls["atomic"]),
        "site_file": _codes(site["file"]),
        "site_line": _ints(site["line"], -1),
        "site_function": _codes(site["function"]),
        "inline": _bools(calls["inline"]),
    }
    for key in ("port", "status", "timeout", "messages", "recipients"):
        chunk.calls[key] = calls[key]
    for key in (
        "kind",
        "lib",
        "via",
        "error",
        "method",
        "host",
        "path",
        "backend",
        "alias",
        "sql",
        "task",
        "queue",
        "name",
    ):
        chunk.calls[key] = _codes(calls[key])
    chunk.stacks = _representative_stacks(chunk, calls["stack"])


def _representative_stacks(chunk: Chunk, stacks: Any) -> dict[tuple[Any, ...], list[tuple[Any, Any, Any]]]:
    """One stack per (route, call site): findings show it; keeping every call's stack would cost gigabytes."""
    if len(stacks) == 0:
        return {}
    route_codes, routes = chunk.requests["route"]
    file_codes, files = chunk.calls["site_file"]
    func_codes, funcs = chunk.calls["site_function"]
    keys = pd.DataFrame(
        {
            "route": route_codes[chunk.calls["req"]],
            "file": file_codes,
            "line": chunk.calls["site_line"],
            "function": func_codes,
        }
    )
    first = np.flatnonzero(~keys.duplicated().to_numpy())
    table = keys.to_numpy()
    out: dict[tuple[Any, ...], list[tuple[Any, Any, Any]]] = {}
    for row in first:
        r, f, line, fn = table[row]
        key = (
            routes[r] if r >= 0 else None,
            files[f] if f >= 0 else None,
            int(line) if line >= 0 else None,
            funcs[fn] if fn >= 0 else None,
        )
        out[key] = _frames(stacks[row])
    return out


def _frames(stack: Any) -> list[tuple[Any, Any, Any]]:
    if not isinstance(stack, list):
        return []
    frames = []
    for frame in stack[:8]:
        if isinstance(frame, dict):
            file, line, function = frame.get("file"), frame.get("line"), frame.get("function")
            frames.append(
                (
                    file if isinstance(file, str) else None,
                    line if type(line) is int else None,
                    function if isinstance(function, str) else None,
                )
            )
    return frames
