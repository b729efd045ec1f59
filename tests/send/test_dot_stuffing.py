"""The DATA payload always ends with CRLF "." CRLF and doubles dots at line starts (RFC 5321)."""

from __future__ import annotations

import pytest

from commskit.send.transports.smtp import _dot_stuffed


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
        (b".a\r\n", b"..a\r\n.\r\n"),
        (b"no final newline", b"no final newline\r\n.\r\n"),
        # bare LF from a hand-made message, without a final newline either
        (b"a\nb\n.c", b"a\r\nb\r\n..c\r\n.\r\n"),
        (b"a\rb", b"a\r\nb\r\n.\r\n"),
    ],
)
def test_dot_stuffing(data: bytes, expected: bytes) -> None:
    assert _dot_stuffed(data) == expected
