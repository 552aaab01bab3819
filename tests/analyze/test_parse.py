from __future__ import annotations

import json

from async_audit.analyze import _parse
from async_audit.analyze._parse import parse_lines
from async_audit.record.sink import LOG_PREFIX
from tests.analyze.records import request


def test_only_ascii_whitespace_makes_a_line_blank() -> None:
    # "\x1c" and a no-break space are whitespace to str.strip(), but such a line is no record: it is counted.
    chunk = parse_lines(b"\x1c\n\xc2\xa0\n \t\r\n\n")
    assert (chunk.records, chunk.skipped) == (0, 2)


def test_a_byte_order_mark_goes_but_a_line_of_only_the_mark_is_counted() -> None:
    record = b'{"v": 1}'  # invalid as a record, but JSON: one skipped line either way
    assert parse_lines(b"\xef\xbb\xbf\n").skipped == 1
    assert parse_lines(b"\xef\xbb\xbf" + record + b"\n").skipped == 1
    assert parse_lines(b"\xef\xbb\xbf  \n" + record).skipped == 2


def test_the_log_marker_is_the_one_the_log_sink_writes() -> None:
    assert _parse.LOG_MARKER == LOG_PREFIX


def test_log_lines_carry_records_after_the_marker() -> None:
    record = json.dumps(request(5.0))
    data = (
        (
            f"2026-11-28 10:00:00,001 INFO async_audit.records async-audit {record}\n"  # a record
            "2026-11-28 10:00:00,002 WARNING django.request Not Found: /x\n"  # the site's log: other
            f"async-audit {record}\r\n"  # an unconfigured logger: the message alone
            f"app[web.1]: async-audit {record[:50]}\n"  # torn by the drain: skipped, a lost record
            # the sink's own warning: the marker, but no record after it
            "2026-11-28 10:00:00,003 WARNING async_audit async-audit could not write 1 record(s)\n"
            "\n"
            f"{record}\n"  # a plain record line among log lines
        ).encode()
    )
    chunk = parse_lines(data)
    assert (chunk.records, chunk.skipped, chunk.other, chunk.marked) == (3, 3, 2, 3)
    found = _parse.log_records(data)
    assert found is not None
    lines, other, marked = found
    assert (other, marked) == (2, 3)
    want = [record.encode(), record.encode() + b"\r", record[:50].encode(), record.encode()]
    assert lines.split(b"\n")[:-1] == want


def test_lines_the_fast_log_path_leaves_to_the_line_by_line_path() -> None:
    record = json.dumps(request(5.0))
    assert _parse.log_records(f"\ufeffasync-audit {record}\n".encode()) is None
    assert _parse.log_records(f"INFO x\n   {record}\n".encode()) is None
