"""Shorten an over-long JSON line by cutting its long string values, reading it in chunks.

Why: one export event can carry a huge string. Ray puts a failed task's exception into the
event's profile events (measured on Ray 2.60: a 20 MB exception message made a 40 MB line whose
other fields are the task's RUNNING time, worker pid and log offsets). Cutting the line's head
off would lose the whole event; cutting only its long strings keeps every field and keeps the
JSON valid. Memory stays bounded: the line is read in chunks and at most `keep` bytes of each
string are kept.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_QUOTE_OR_ESCAPE = re.compile(rb'["\\]')
CHUNK = 1 << 20


@dataclass(frozen=True)
class CutJson:
    text: bytes  # the line with every string over `keep` bytes cut, each ending in a marker
    strings_cut: int


def marker(cut: int) -> bytes:
    """What ends a cut string (JSON-safe ASCII), so a reader sees the value is not whole."""
    return f"...[{cut} bytes cut]".encode()


def cut_long_strings(read: Callable[[int, int], bytes], start: int, end: int, keep: int,
                     limit: int) -> CutJson | None:
    """The JSON text in [start, end) of a file (`read(offset, length)`) with each string value
    longer than `keep` bytes cut to its first `keep` bytes plus a marker. None when the text is
    not one complete JSON value as far as strings go (it ends inside a string), when no string
    was cut, or when the result is still over `limit` bytes (its structure alone is too big)."""
    cutter = _Cutter(keep)
    pos = start
    while pos < end:
        data = read(pos, min(CHUNK, end - pos))
        if not data:
            return None
        cutter.feed(data)
        if len(cutter.out) > limit:
            return None
        pos += len(data)
    if cutter.in_string or cutter.strings_cut == 0 or len(cutter.out) > limit:
        return None
    return CutJson(bytes(cutter.out), cutter.strings_cut)


class _Cutter:
    """A streaming scanner that only knows where JSON strings start and end (and escapes)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.out = bytearray()
        self.in_string = False
        self.escape_left = 0  # bytes of an escape sequence still to come (1 after a backslash, 4 after \\u)
        self.kept = 0  # bytes of the current string kept so far
        self.dropped = 0  # bytes of the current string dropped
        self.strings_cut = 0

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if not self.in_string:
                j = data.find(b'"', i)
                if j < 0:
                    self.out += data[i:]
                    return
                self.out += data[i : j + 1]
                self.in_string, self.kept, self.dropped = True, 0, 0
                i = j + 1
                continue
            if self.escape_left:  # the rest of an escape: kept or dropped whole with its backslash
                take = min(self.escape_left, n - i)
                if data[i : i + 1] == b"u" and self.escape_left == 1:
                    self.escape_left = 5  # \\uXXXX: the u and four hex digits
                    take = min(self.escape_left, n - i)
                self._content(data[i : i + take], whole=True)
                self.escape_left -= take
                i += take
                continue
            m = _QUOTE_OR_ESCAPE.search(data, i)
            stop = m.start() if m else n
            self._content(data[i:stop], whole=False)
            if m is None:
                return
            if data[stop : stop + 1] == b"\\":
                self._content(b"\\", whole=True, escape_start=True)
                self.escape_left = 1
                i = stop + 1
                continue
            if self.dropped:
                self.out += marker(self.dropped)
                self.strings_cut += 1
            self.out += b'"'
            self.in_string = False
            i = stop + 1

    def _content(self, part: bytes, whole: bool, escape_start: bool = False) -> None:
        """String bytes: kept while the string is under `keep`, else counted as dropped. An
        escape sequence is kept or dropped whole; plain text is cut on a UTF-8 character start."""
        if not part:
            return
        if self.dropped or (escape_start and self.kept + 6 > self.keep):
            self.dropped += len(part)
            return
        if whole and self.dropped == 0 and not escape_start:
            self.out += part  # the rest of an escape whose backslash was kept
            self.kept += len(part)
            return
        room = self.keep - self.kept
        if len(part) <= room:
            self.out += part
            self.kept += len(part)
            return
        k = room
        while k > 0 and 0x80 <= part[k] < 0xC0:  # do not split a UTF-8 character
            k -= 1
        self.out += part[:k]
        self.kept += k
        self.dropped += len(part) - k
