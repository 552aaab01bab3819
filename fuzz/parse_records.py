"""Coverage-guided fuzzing of the record parser (``async_audit.analyze._parse``) with atheris (libFuzzer).

Each input is the bytes of a piece of a record file. It goes through ``parse_lines`` (the loader's inner loop:
line splitting, JSON decoding, type checks, column building), then into the loader's frame builder, and the
analyzer's entry check. Anything but a clean ``InputError`` is a crash, and so is a broken invariant: every
non-blank line is either a record or counted as skipped.

    mkdir -p fuzz/work
    .venv/bin/python fuzz/parse_records.py fuzz/work fuzz/corpus -atheris_runs=5000   # short: about a minute
    .venv/bin/python fuzz/parse_records.py fuzz/work fuzz/corpus -max_total_time=3600 # longer

``fuzz/corpus`` holds the seeds (valid records, counters, a torn line); what the fuzzer finds goes into
``fuzz/work`` (not committed).

Needs ``pip install atheris`` (binary wheels for CPython 3.12 on Linux; on older Pythons it builds from source
and needs Clang with libFuzzer). Crashing inputs are written as ``crash-<sha1>`` in the current directory.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["async_audit"]):
    from async_audit.analyze import _parse
    from async_audit.analyze.load import LoadStats, _Builder, _Categories, _finish
    from async_audit.errors import InputError

import numpy as np


def test_one_input(data: bytes) -> None:
    chunk = _parse.parse_lines(data)
    lines = [line for line in data.split(b"\n") if line.strip()]
    if chunk.records + chunk.skipped > max(len(lines), 1):
        raise AssertionError(f"{chunk.records} records + {chunk.skipped} skipped from {len(lines)} lines")
    if chunk.bad_version is not None:
        return  # the loader stops here with RecordFormatError, naming the line
    builder = _Builder()
    files = _Categories()
    builder.add(chunk, int(files.remap(np.zeros(1, dtype=np.int32), ["fuzz"])[0]))
    try:
        recordings = _finish(builder, files, LoadStats(paths=["fuzz"]), what="fuzz")
    except InputError:
        return
    if recordings.stats.records != chunk.records:
        raise AssertionError("the frame lost records the parser accepted")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
