from __future__ import annotations

from async_audit.analyze._parse import parse_lines


def test_only_ascii_whitespace_makes_a_line_blank() -> None:
    # "\x1c" and a no-break space are whitespace to str.strip(), but such a line is no record: it is counted.
    chunk = parse_lines(b"\x1c\n\xc2\xa0\n \t\r\n\n")
    assert (chunk.records, chunk.skipped) == (0, 2)


def test_a_byte_order_mark_goes_but_a_line_of_only_the_mark_is_counted() -> None:
    record = b'{"v": 1}'  # invalid as a record, but JSON: one skipped line either way
    assert parse_lines(b"\xef\xbb\xbf\n").skipped == 1
    assert parse_lines(b"\xef\xbb\xbf" + record + b"\n").skipped == 1
    assert parse_lines(b"\xef\xbb\xbf  \n" + record).skipped == 2
