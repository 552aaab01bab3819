"""Load record files (JSON Lines, format version 1) into two pandas frames: requests, and calls by request.

Files, directories (searched recursively for ``*.jsonl``) and glob patterns are accepted and merged. Lines
that are torn, not JSON, or not valid records are skipped and counted; a record of an unknown major version
stops the load with the file and line. Large inputs are parsed in pieces by worker processes.

Log files are read too (the recorder's ``log`` sink, collected by a log drain): a line whose record follows
the ``async-audit `` marker, after whatever prefix the logging format or the drain added, is that record;
the file's other lines are its own log output, counted apart (``non_record_lines``), not as skipped records.
"""

from __future__ import annotations

import gc
import glob
import itertools
import multiprocessing
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from async_audit.analyze import _arrow, _parse
from async_audit.analyze._groups import code_dtype
from async_audit.analyze.model import CallSite
from async_audit.analyze.schema import CALL_COLUMNS, REQUEST_COLUMNS
from async_audit.errors import InputError, RecordFormatError

__all__ = ["LoadStats", "Recordings", "load_records", "recordings_from_dicts"]

Progress = Callable[[int, int], None]
StackKey = tuple[Any, ...]  # (route, file, line, function)

_PIECE_BYTES = 8 << 20  # a piece of a file handed to one worker
_PARALLEL_BYTES = 32 << 20  # below this, workers cost more than they save
_GLOB_CHARS = set("*?[")


@dataclass
class LoadStats:
    """What was read: files, records, skipped lines, and the recorder's own counts of what it left out."""

    paths: list[str] = field(default_factory=list)
    files: int = 0
    records: int = 0
    calls: int = 0
    skipped_lines: int = 0  # record lines that could not be read: torn, not JSON, invalid records
    skipped_by_file: dict[str, int] = field(default_factory=dict)
    log_files: int = 0  # files read as log output, with records on the lines the log sink wrote
    non_record_lines: int = 0  # the other lines of those files (the site's own log lines): not records
    hosts: list[str] = field(default_factory=list)
    processes: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    calls_dropped: int = 0
    records_lost: int = 0
    requests_unsampled: int = 0


@dataclass
class Recordings:
    """The loaded records: ``requests`` (one row per request) and ``calls`` (``req`` is the request's row).

    Columns and dtypes are those declared in ``async_audit.analyze.schema``. ``stacks`` holds one
    representative stack per (route, file, line, function) of a call site.
    """

    requests: pd.DataFrame
    calls: pd.DataFrame
    stats: LoadStats
    stacks: dict[StackKey, list[CallSite]] = field(default_factory=dict)
    request_schema: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(REQUEST_COLUMNS))
    call_schema: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(CALL_COLUMNS))


class _Categories:
    """Merges per-piece categorical codes into one set of categories per column.

    Categories are numbered in order of first appearance over the pieces, in input order. Pieces of one file
    mostly bring the same uniques in the same order: their table is looked up, not built again.
    """

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self._tables: dict[tuple[str, ...], np.ndarray] = {}

    def table(self, uniques: list[str]) -> np.ndarray:
        """Global codes of the piece's codes 0, 1, ..., then -1 (so that code -1, missing, stays -1)."""
        key = tuple(uniques)
        found = self._tables.get(key)
        if found is None:
            found = np.fromiter(
                (self.index.setdefault(u, len(self.index)) for u in uniques), np.int64, len(uniques)
            )
            found = self._tables[key] = np.append(found, -1)
        return found

    def remap(self, codes: np.ndarray, uniques: list[str]) -> np.ndarray:
        remapped: np.ndarray = self.table(uniques)[codes]
        return remapped

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(self.index), dtype=object))


class _Column:
    """One output column, filled piece by piece in place: no per-piece arrays kept, no final concatenation.

    Room is reserved from an estimate of the rows to come; running out costs one copy (``grow``).
    """

    def __init__(self, dtype: Any) -> None:
        self.data = np.empty(0, dtype=dtype)
        self.size = 0

    def reserve(self, rows: int, expected: int) -> slice:
        end = self.size + rows
        if end > len(self.data):
            room = np.empty(max(end, expected, len(self.data) * 5 // 4), dtype=self.data.dtype)
            room[: self.size] = self.data[: self.size]
            self.data = room
        out = slice(self.size, end)
        self.size = end
        return out

    def widen(self, dtype: Any) -> None:
        """Room for larger values (more categories than the codes' integer type holds)."""
        if np.dtype(dtype).itemsize > self.data.dtype.itemsize:
            self.data = self.data.astype(dtype)

    def values(self) -> np.ndarray:
        data = self.data[: self.size]
        # an estimate far off leaves unused room behind: give it back
        return data.copy() if len(self.data) > self.size * 1.1 + 4096 else data


class _Builder:
    """Accumulates pieces (in input order) into the two frames.

    ``expected_bytes``: the input's size; with the first piece's records per byte it sizes the columns.
    """

    def __init__(self, expected_bytes: int = 0) -> None:
        self.expected_bytes = expected_bytes
        self.columns: dict[str, _Column] = {}
        for prefix, schema in (("r.", REQUEST_COLUMNS), ("c.", CALL_COLUMNS)):
            for key, (dtype, _) in schema.items():
                self.columns[prefix + key] = _Column(np.int8 if dtype == "category" else _EMPTY[dtype])
        self.categories: dict[str, _Categories] = {}
        self.stacks: dict[StackKey, list[CallSite]] = {}
        self.rows = 0
        self._expected = (0, 0)

    def add(self, chunk: _parse.Chunk, file_code: int, piece_bytes: int = 0) -> None:
        n = chunk.records
        m = len(chunk.calls["req"]) if "req" in chunk.calls else 0
        if self._expected == (0, 0) and n:
            scale = max(self.expected_bytes / piece_bytes, 1.0) if piece_bytes else 1.0
            self._expected = (int(n * scale * 1.02) + 64, int(m * scale * 1.02) + 64)
        expected_requests, expected_calls = self._expected
        for key, value in chunk.requests.items():
            self._put("r." + key, value, n, expected_requests)
        self.columns["r.file"].widen(code_dtype(file_code + 1))
        where = self.columns["r.file"].reserve(n, expected_requests)
        self.columns["r.file"].data[where] = file_code
        for key, value in chunk.calls.items():
            where = self._put("c." + key, value, m, expected_calls)
            if key == "req":
                self.columns["c.req"].data[where] += self.rows
        for site_key, frames in chunk.stacks.items():
            if site_key not in self.stacks:
                self.stacks[site_key] = [CallSite(*frame) for frame in frames]
        self.rows += n

    def _put(self, name: str, value: Any, rows: int, expected: int) -> slice:
        column = self.columns[name]
        if isinstance(value, tuple):
            codes, uniques = value
            categories = self.categories.setdefault(name, _Categories())
            table = categories.table(uniques)
            column.widen(code_dtype(len(categories.index)))
            where = column.reserve(rows, expected)
            column.data[where] = table[codes]  # code -1 (missing) takes the table's last entry: -1
            return where
        where = column.reserve(rows, expected)
        column.data[where] = value
        return where

    def frames(self, files: _Categories) -> tuple[pd.DataFrame, pd.DataFrame]:
        self.categories["r.file"] = files
        self.columns["r.file"].widen(code_dtype(len(files.index)))
        return (
            self._frame(REQUEST_COLUMNS, "r."),
            self._frame(CALL_COLUMNS, "c."),
        )

    def _frame(self, schema: dict[str, tuple[str, str]], prefix: str) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for key, (dtype, _) in schema.items():
            values = self.columns[prefix + key].values()
            if dtype == "category":
                cats = self.categories.get(prefix + key, _Categories())
                data[key] = cats.categorical(values)
            elif dtype == "object":
                data[key] = pd.Series(values, dtype=object)
            else:
                data[key] = values.astype(dtype, copy=False)
        frame: pd.DataFrame = pd.DataFrame(data, copy=False)
        return frame


_EMPTY = {"category": np.int32, "object": object, "float64": np.float64, "int64": np.int64, "bool": bool}


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
            if not found:
                raise InputError(f"{path}: no *.jsonl record files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif _GLOB_CHARS & set(str(raw)):
            matched = sorted(Path(p) for p in glob.glob(str(raw), recursive=True) if os.path.isfile(p))
            if not matched:
                raise InputError(f"{raw}: no file matches this pattern")
            files.extend(matched)
        else:
            raise InputError(f"{raw}: no such file or directory")
    unique: dict[Path, None] = {}
    for f in files:
        unique.setdefault(f.resolve(), None)
    return list(unique)


def _pieces(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of whole lines, about ``_PIECE_BYTES`` each."""
    bounds = [0]
    with path.open("rb") as fh:
        while bounds[-1] + _PIECE_BYTES < size:
            fh.seek(bounds[-1] + _PIECE_BYTES)
            fh.readline()
            end = fh.tell()
            if end >= size:
                break
            bounds.append(end)
    bounds.append(size)
    return list(zip(bounds[:-1], bounds[1:], strict=False))


# (load, keys): the (route, call site) keys whose stack this process already returned in that load
_SENT: list[Any] = [None, set()]
_loads = itertools.count()


def _parse_piece(path: str, start: int, end: int, threads: bool = True, load: str = "") -> list[_parse.Chunk]:
    """The piece's records: pyarrow's reader when it takes the piece whole, else the standard library's path.

    A last line without its newline (torn, most often: the recorder's process was killed mid-write) is parsed
    apart, so a torn file costs one line on the slow path, not a piece.
    """
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    if _SENT[0] != load or not load:
        _SENT[:] = [load, set()]  # a new load (a forked worker inherits the parent's)
    chunks = _parse_piece_bytes(data, threads, _SENT[1])
    for chunk in chunks:
        _shrink(chunk)
    return chunks


def _shrink(chunk: _parse.Chunk) -> None:
    """Integer columns and codes in the smallest integer type that holds them: a worker's chunk crosses a
    pipe and is unpickled by the parent, whose time the workers wait for; the builder widens them again."""
    for columns in (chunk.requests, chunk.calls):
        for key, value in columns.items():
            if isinstance(value, tuple):
                columns[key] = (_smallest(value[0]), value[1])
            elif isinstance(value, np.ndarray) and value.dtype.kind == "i":
                columns[key] = _smallest(value)


def _smallest(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    low, high = int(values.min()), int(values.max())
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype) if values.dtype.itemsize > info.bits // 8 else values
    return values


def _parse_piece_bytes(data: bytes, threads: bool = True, sent: set[Any] | None = None) -> list[_parse.Chunk]:
    cut = data.rfind(b"\n") + 1
    body, tail = data[:cut], data[cut:]
    chunk = _arrow.parse_lines(body, use_threads=threads, seen=sent) if body else None
    if chunk is None and _parse.LOG_MARKER.encode() in body:
        chunk = _log_piece(body, threads, sent)
    if chunk is None:
        return [_parse.parse_lines(data)]
    if not tail:
        return [chunk]
    last = _parse.parse_lines(tail)
    if last.bad_version is not None:
        last.bad_version = (last.bad_version[0] + body.count(b"\n"), last.bad_version[1])
    return [chunk, last]


def _log_piece(body: bytes, threads: bool, sent: set[Any] | None) -> _parse.Chunk | None:
    """A piece of a log file on the fast path: its record lines, cut out of the log lines, read by pyarrow."""
    found = _parse.log_records(body)
    if found is None or not found[0]:
        return None
    records, other, marked = found
    chunk = _arrow.parse_lines(records, use_threads=threads, seen=sent)
    if chunk is not None:
        chunk.skipped, chunk.other, chunk.marked = other, other, marked
    return chunk


def _line_number(path: Path, start: int, index: int) -> int:
    with path.open("rb") as fh:
        return fh.read(start).count(b"\n") + index + 1


def _workers(total: int, tasks: int) -> int:
    if total < _PARALLEL_BYTES or tasks < 2:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, tasks))


def _run(tasks: list[tuple[Path, int, int]], workers: int) -> Iterable[list[_parse.Chunk]]:
    """Chunks in task order, parsed here or by a pool of worker processes."""
    load = f"{os.getpid()}-{next(_loads)}"
    if workers == 1:
        for path, start, end in tasks:
            yield _parse_piece(str(path), start, end, True, load)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))

    def submit(path: Path, start: int, end: int) -> Future[list[_parse.Chunk]]:
        with warnings.catch_warnings():
            # Python 3.12 warns about fork() in a process with threads; the workers only parse bytes.
            warnings.simplefilter("ignore", DeprecationWarning)
            # one thread each: the workers already keep every core busy
            return pool.submit(_parse_piece, str(path), start, end, False, load)

    try:
        window = workers * 2  # bounded look-ahead: few finished pieces wait in memory
        pending: deque[Future[list[_parse.Chunk]]] = deque()
        for path, start, end in tasks:
            pending.append(submit(path, start, end))
            if len(pending) > window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def load_records(paths: Sequence[str | Path], progress: Progress | None = None) -> Recordings:
    """Read record files, directories and globs into ``Recordings``.

    ``progress(done, total)`` is called in bytes as pieces finish. Raises ``InputError`` for a missing path or
    when no valid record is found, ``RecordFormatError`` (naming file and line) for an unknown major version.
    """
    enabled = gc.isenabled()
    gc.disable()  # the load creates millions of objects and no cycles: collections would only cost time
    try:
        return _load(paths, progress)
    finally:
        if enabled:
            gc.enable()


def _load(paths: Sequence[str | Path], progress: Progress | None) -> Recordings:
    files = _expand(paths)
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    tasks = [
        (f, start, end) for f, size in zip(files, sizes, strict=False) for start, end in _pieces(f, size)
    ]
    builder = _Builder(total)
    file_codes = _Categories()
    stats = LoadStats(paths=[str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)])
    stats.files = len(files)
    done = 0
    skipped: dict[Path, int] = {}  # lines that gave no record, per file
    other: dict[Path, int] = {}  # of those, lines that are no record line at all
    logs: set[Path] = set()  # files with records on log lines
    for (path, start, end), chunks in zip(tasks, _run(tasks, _workers(total, len(tasks))), strict=False):
        for chunk in chunks:
            if chunk.bad_version is not None:
                index, version = chunk.bad_version
                line = _line_number(path, start, index)
                raise RecordFormatError(
                    f"{path}:{line}: record format version {version!r} is not supported (this async-audit "
                    "reads version 1); upgrade async-audit"
                )
            code = int(file_codes.remap(np.zeros(1, dtype=np.int32), [str(path)])[0])
            builder.add(chunk, code, end - start)
            skipped[path] = skipped.get(path, 0) + chunk.skipped
            other[path] = other.get(path, 0) + chunk.other
            if chunk.marked:
                logs.add(path)
        done += end - start
        if progress is not None:
            progress(done, total)
    for path in files:
        # In a log file, a line without a record is the site's own log output; in a record file, every line
        # should be a record, so one that is not is a broken record and counts as one.
        lost = skipped.get(path, 0)
        if path in logs:
            stats.log_files += 1
            stats.non_record_lines += other.get(path, 0)
            lost -= other.get(path, 0)
        if lost:
            stats.skipped_lines += lost
            stats.skipped_by_file[str(path)] = lost
    return _finish(builder, file_codes, stats, what=", ".join(str(p) for p in files[:3]))


def recordings_from_dicts(records: Iterable[dict[str, Any]], name: str = "<memory>") -> Recordings:
    """``Recordings`` from records already in memory (``async_audit.testing.capture_records()``)."""
    objects = [r for r in records if isinstance(r, dict)]
    chunk = _parse.parse_objects(objects)
    if chunk.bad_version is not None:
        raise RecordFormatError(
            f"{name}: record {chunk.bad_version[0] + 1}: format version "
            f"{chunk.bad_version[1]!r} is not supported (this async-audit reads version 1)"
        )
    builder = _Builder()
    files = _Categories()
    builder.add(chunk, int(files.remap(np.zeros(1, dtype=np.int32), [name])[0]))
    stats = LoadStats(paths=[name], files=1, skipped_lines=chunk.skipped)
    return _finish(builder, files, stats, what=name)


def _finish(builder: _Builder, files: _Categories, stats: LoadStats, what: str) -> Recordings:
    requests, calls = builder.frames(files)
    if requests.empty:
        details = [f"{stats.skipped_lines} invalid lines skipped"] if stats.skipped_lines else []
        if stats.non_record_lines:
            details.append(f"{stats.non_record_lines} log lines without a record")
        skipped = f" ({', '.join(details)})" if details else ""
        raise RecordFormatError(f"{what}: no records found{skipped}")
    stats.records = len(requests)
    stats.calls = len(calls)
    stats.hosts = sorted(str(h) for h in requests["host"].dropna().unique())
    stats.processes = int(requests[["host", "pid"]].drop_duplicates().shape[0])
    stats.first_ts = float(requests["ts"].min())
    stats.last_ts = float((requests["ts"] + requests["ms"] / 1000.0).max())
    stats.calls_dropped = int(requests["dropped"].sum())
    stats.records_lost = int(requests["lost_queue"].sum() + requests["lost_write"].sum())
    stats.requests_unsampled = int(requests["unsampled"].sum())
    return Recordings(requests, calls, stats, builder.stacks)
