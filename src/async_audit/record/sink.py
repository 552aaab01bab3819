"""Where records go: a background writer thread, so request threads never wait on I/O.

Request threads only ``put`` into a bounded buffer (a full buffer drops the record and counts it, it never
blocks), most often a request's raw figures (a packed tuple, see :func:`register_encoder`). The writer
thread writes each record's JSON line straight from them (no record dict is built on the way) and appends
them to one file per process
(``async-audit-<host>-<pid>-<start>.jsonl``, owner-only permissions, rotated by size) or hands them to the
``async_audit.records`` logger. Every loss (full queue, failed write) is counted and written into the next
record that gets out, so a report can say how much is missing. After ``fork`` (gunicorn ``--preload``) the
child starts with an empty queue, zero counters and its own file.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from async_audit.conf import Config, on_config_change
from async_audit.record.guard import report_internal_error

logger = logging.getLogger("async_audit")
records_logger = logging.getLogger("async_audit.records")

LOG_PREFIX = "async-audit "  # marks record lines in a log drain; the loader finds the JSON after it
_STOP = object()
_FLUSH_TIMEOUT_S = 5.0
_BATCH = 512
# One encoder for the process: ``json.dumps`` with options builds a new one per call.
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


# Encoders of packed records, by tag: a packed record is a plain tuple whose first item is its encoder's tag.
# Waiting in the buffer, a tuple of plain values (strings, numbers, None, such tuples) is let go by the cycle
# collector at its first pass over it; an object, a list or a dict would be promoted, request after request,
# to the oldest generation, and the growth of that generation is what sets off full collections of the
# site's whole heap.
PackedEncoder = Callable[[tuple[Any, ...], tuple[int, int, int]], str]
_encoders: dict[str, PackedEncoder] = {}
_NO_COUNTS = (0, 0, 0)

Packable = dict[str, Any] | tuple[Any, ...]


def encode_json(value: Any) -> str:
    """``value`` as compact JSON, non-ASCII as is, anything unusual as its ``str``."""
    return _encoder.encode(value)


def register_encoder(tag: str, encode: PackedEncoder) -> None:
    """Have ``encode(packed, counts)`` write the JSON line (no newline) of every packed tuple ``(tag, ...)``
    put into a sink; ``counts`` are the losses (queue, write) and the unsampled requests the line carries."""
    _encoders[tag] = encode


def build_record(item: Packable) -> dict[str, Any]:
    """The record a packed tuple or a record dict stands for (the packed one read back from its line)."""
    if type(item) is tuple:
        record: dict[str, Any] = json.loads(_encoders[item[0]](item, _NO_COUNTS))
        return record
    return item  # type: ignore[return-value]


def _encode(item: Packable, counts: tuple[int, int, int] | None) -> str:
    """``item``'s JSON line (no newline); ``counts`` for the first line of a batch only."""
    if type(item) is tuple:
        return _encoders[item[0]](item, _NO_COUNTS if counts is None else counts)
    record: dict[str, Any] = item  # type: ignore[assignment]
    if counts is not None:
        record["lost"] = {"queue": counts[0], "write": counts[1]}
        record["unsampled"] = counts[2]
    return _encoder.encode(record)


def _is_record(item: object) -> bool:
    return type(item) is tuple or isinstance(item, dict)


class Output:
    """Where serialised lines go; used only from the writer thread."""

    def write(self, lines: list[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileOutput(Output):
    """Appends to one file per process, rotating past ``max_bytes``; reopens if the file vanished."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fd: int | None = None
        self.path: Path | None = None
        self.size = 0
        self.torn = False
        self.part = 0
        self.start = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.host = socket.gethostname().replace(os.sep, "_") or "host"

    def _open(self) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        suffix = f"-{self.part}" if self.part else ""
        path = self.directory / f"async-audit-{self.host}-{os.getpid()}-{self.start}{suffix}.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self.fd, self.path, self.size = fd, path, os.fstat(fd).st_size
        # Reopening a file whose last write was cut off (and could not be truncated): end that line first.
        self.torn = self.size > 0 and os.pread(fd, 1, self.size - 1) != b"\n"
        return fd

    def write(self, lines: list[str]) -> None:
        fd = self.fd
        if fd is not None:
            try:
                if os.fstat(fd).st_nlink == 0:  # the file or its directory was deleted under us
                    self.close()
                    fd = None
            except OSError:
                self.close()
                fd = None
        if fd is None:
            fd = self._open()
        # A lone surrogate (a string the site decoded with surrogateescape) cannot be UTF-8: it is written as
        # the JSON escape \udc80 that stands for it, instead of failing the whole batch.
        data = "".join(lines).encode("utf-8", "backslashreplace")
        if self.torn:
            # An earlier write failed half-way and could not be undone: end its torn line so it cannot
            # swallow the first record of this batch (the loader skips and counts the torn one).
            data = b"\n" + data
        before = self.size
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            if len(view) != len(data):
                self._undo_partial(fd, before)
            raise
        self.torn = False
        self.size += len(data)
        if self.size >= self.max_bytes:
            self.close()
            self.part += 1

    def _undo_partial(self, fd: int, size: int) -> None:
        # Part of the batch reached the file (ENOSPC half-way): cut it off, so the batch is either whole or
        # absent and the count of lost records is exact.
        try:
            os.ftruncate(fd, size)
        except OSError:
            self.torn = True

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None


class LogOutput(Output):
    """One log record per line, for hosts whose disk does not last (a log drain collects them)."""

    def __init__(self) -> None:
        if not records_logger.hasHandlers():
            # Unconfigured, INFO lines would vanish (logging's last resort shows WARNING and up only).
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            records_logger.addHandler(handler)
            records_logger.setLevel(logging.INFO)
            records_logger.propagate = False

    def write(self, lines: list[str]) -> None:
        for line in lines:
            records_logger.info("%s%s", LOG_PREFIX, line.rstrip("\n"))


class Sink:
    """The process's record sink: a bounded buffer and one writer thread.

    ``put`` appends to a deque and returns: no lock, no wake-up of the writer (waking a thread per record
    costs the request a futex call and a GIL hand-over). The writer wakes every ``interval`` seconds, when
    the buffer is half full, or when asked to ``flush``, and writes everything buffered in large batches.
    """

    def __init__(self, make_output: Callable[[], Output], queue_size: int, interval: float = 0.1) -> None:
        self.make_output = make_output
        self.queue_size = queue_size
        self.interval = interval
        self.key: tuple[Any, ...] = ()  # the settings it was made from
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.buffer: deque[Any] = deque()
        self.thread: threading.Thread | None = None
        self.output: Output | None = None
        self.lost_queue = 0
        self.lost_write = 0
        self.unsampled = 0
        self.written = 0
        self.failures = 0
        self._running = False
        self._in_flight = 0  # records the writer has taken out of the buffer and not yet written
        self._wake = threading.Event()
        self._high_water = max(1, self.queue_size // 2)

    # -- request threads --------------------------------------------------------------------------------

    def put(self, record: Packable) -> None:
        """Hand a record to the writer; never blocks on it, never raises."""
        buffer = self.buffer
        size = len(buffer)
        if size >= self.queue_size:
            with self._lock:
                self.lost_queue += 1
            return
        buffer.append(record)
        if not self._running:
            self._start()
        elif size + 1 == self._high_water:
            self._wake.set()

    def count_lost(self) -> None:
        """Count a record the recorder failed to build or hand over as a lost write."""
        with self._lock:
            self.lost_write += 1

    def count_unsampled(self) -> None:
        """Count a request left out by ``SAMPLE_RATE``; the next record written carries the count."""
        with self._lock:
            self.unsampled += 1

    # -- writer thread ----------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            self.thread = threading.Thread(target=self._run, name="async-audit-writer", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                if self._drain_guarded():
                    break
            self._running = False
            self._drain_guarded()  # records put while the stop marker was being reached
        finally:
            self._running = False
            if self.output is not None:
                self.output.close()

    def _drain_guarded(self) -> bool:
        # A bug here must not end the writer: the buffer would fill and every later record be dropped.
        try:
            return self._drain()
        except Exception as exc:  # noqa: BLE001 - reported, and the writer carries on
            with self._lock:
                self.lost_write += self._in_flight  # taken out of the buffer and never written
            self._in_flight = 0
            report_internal_error(exc)
            return False

    def _drain(self) -> bool:
        """Write everything buffered; True when a stop marker was reached."""
        buffer = self.buffer
        lines: list[str] = []
        counts = (0, 0, 0)  # the losses and unsampled requests the batch's first line carries
        stop = False
        while True:
            try:
                item = buffer.popleft()
            except IndexError:
                break
            if _is_record(item):
                self._in_flight += 1
                try:
                    if lines:
                        line = _encode(item, None)
                    else:
                        counts = self._take_counts()
                        try:
                            line = _encode(item, counts)
                        except BaseException:
                            self._give_back(counts, 0)  # for the next record to carry
                            raise
                    lines.append(line + "\n")
                except Exception as exc:  # noqa: BLE001 - counted as lost, and the writer carries on
                    self._in_flight -= 1
                    with self._lock:
                        self.lost_write += 1
                    report_internal_error(exc)
                    continue
                if len(lines) >= _BATCH:
                    self._write(lines, counts)
                    lines = []
            elif item is _STOP:
                stop = True
            elif isinstance(item, threading.Event):  # a flush marker: everything before it is written
                try:
                    if lines:
                        self._write(lines, counts)
                        lines = []
                finally:
                    item.set()  # or lost and counted: a waiting flush never hangs on a writer's bug
        if lines:
            self._write(lines, counts)
        return stop

    def _take_counts(self) -> tuple[int, int, int]:
        with self._lock:
            counts = (self.lost_queue, self.lost_write, self.unsampled)
            self.lost_queue = self.lost_write = self.unsampled = 0
        return counts

    def _give_back(self, counts: tuple[int, int, int], lost: int) -> None:
        """The counts a batch's first line carried, and ``lost`` records of it, when it was not written."""
        with self._lock:
            self.lost_queue += counts[0]
            self.lost_write += counts[1] + lost
            self.unsampled += counts[2]

    def _write(self, lines: list[str], counts: tuple[int, int, int]) -> None:
        try:
            if self.output is None:
                self.output = self.make_output()
            self.output.write(lines)
        except Exception as exc:  # noqa: BLE001 - a disk problem must never reach the site
            self._give_back(counts, len(lines))
            self.failures += 1
            if self.failures <= 3 or self.failures % 100 == 0:
                logger.warning("async-audit could not write %d record(s): %s", len(lines), exc)
            if not isinstance(exc, OSError):
                report_internal_error(exc)
            if self.output is not None:
                # Keep the output object (its file name, its rotation part): it reopens on the next write.
                self.output.close()
        else:
            self.written += len(lines)
        finally:
            self._in_flight -= len(lines)

    # -- lifecycle --------------------------------------------------------------------------------------

    def flush(self, timeout: float = _FLUSH_TIMEOUT_S) -> bool:
        """Wait until everything put so far is written (or lost and counted); False on timeout."""
        if not self._running:
            return not any(_is_record(item) for item in self.buffer)
        marker = threading.Event()
        self.buffer.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def close(self, timeout: float = _FLUSH_TIMEOUT_S) -> None:
        """Write what is buffered (waiting at most ``timeout``), stop the writer and close the output."""
        thread = self.thread
        if thread is not None and thread.is_alive():
            self.buffer.append(_STOP)
            self._wake.set()
            thread.join(timeout)
            if thread.is_alive():
                # Stuck on its output (a hung network disk): what it holds is lost, and said so below.
                held = self._in_flight + sum(_is_record(item) for item in list(self.buffer))
                with self._lock:
                    self.lost_write += held
                self._report_unreported()
                return
        # Records put after the stop marker (another thread, racing the exit) were never written.
        left = 0
        while True:
            try:
                item = self.buffer.popleft()
            except IndexError:
                break
            if _is_record(item):
                left += 1
            elif item is not _STOP:
                item.set()
        with self._lock:
            self.lost_queue += left
        if self.output is not None:
            self.output.close()
            self.output = None
        self._report_unreported()

    def retire(self) -> None:
        """Stop after writing what is buffered, without waiting: the settings changed under a running site."""
        if self._running:
            self.buffer.append(_STOP)
            self._wake.set()
        elif self.output is not None:
            self.output.close()

    def _report_unreported(self) -> None:
        if self.lost_queue or self.lost_write:
            logger.warning(
                "async-audit lost %d record(s) at exit that no later record could report",
                self.lost_queue + self.lost_write,
            )

    def after_fork_in_child(self) -> None:
        # The parent's buffer, thread and file are not ours: start clean, in our own file. The parent's
        # buffered records stay the parent's to write, so none is written twice.
        output = self.output
        self._lock = threading.Lock()
        self._reset()
        if output is not None:
            output.close()  # our copy of the parent's descriptor only


_sink: Sink | None = None
_sink_lock = threading.Lock()


def get_sink() -> Sink:
    """The process's sink, made on first use from the current settings."""
    global _sink
    sink = _sink
    if sink is None:
        with _sink_lock:
            if _sink is None:
                _sink = _make_sink()
            sink = _sink
    return sink


def _sink_key(config: Config) -> tuple[Any, ...]:
    return (config.sink, config.output_dir, config.max_file_bytes, config.queue_size)


def _make_sink() -> Sink:
    from async_audit.conf import get_config

    config = get_config()
    sink: Sink
    if config.sink == "log":
        sink = Sink(LogOutput, config.queue_size)
    else:
        directory, max_bytes = config.output_dir, config.max_file_bytes
        sink = Sink(lambda: FileOutput(directory, max_bytes), config.queue_size)
    sink.key = _sink_key(config)
    return sink


def reset_sink() -> None:
    """Close the current sink (flushing it); the next record makes a new one from the settings."""
    global _sink
    with _sink_lock:
        sink, _sink = _sink, None
    if sink is not None:
        sink.close()


def _on_config_change() -> None:
    # ``setting_changed`` (tests, or a site reconfiguring itself): a sink whose output settings changed is
    # retired without waiting, so the thread that changed the settings never waits on disk either.
    global _sink
    from async_audit.conf import get_config

    with _sink_lock:
        sink = _sink
        if sink is None or sink.key == _sink_key(get_config()):
            return
        _sink = None
    sink.retire()


def _after_fork_in_child() -> None:
    global _sink_lock
    _sink_lock = threading.Lock()  # another thread may have held it at the fork
    if _sink is not None:
        _sink.after_fork_in_child()


def _at_exit() -> None:
    if _sink is not None:
        _sink.close()


on_config_change(_on_config_change)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
