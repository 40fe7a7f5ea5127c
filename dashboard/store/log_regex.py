"""Users' regexes for log search, run by RE2: time linear in the text, whatever the pattern.

Why not Python's `re`: it backtracks, and holds the GIL while it does. One search for `(a+)+$`
over a 27-character log line froze every other API call of the head for 5.8 s (measured; each
more character doubles it). RE2 (google-re2) never backtracks, and its matcher releases the GIL.
What it gives up is listed in UNSUPPORTED; such a pattern is a 400 that says so.

Speed: one call into RE2 costs ~2 us, more than `re` spends on a short line, so lines are not
matched one call each. A chunk of lines is joined with newlines (by SQLite's group_concat when the
search has no filters), RE2 searches that text once in multi-line mode with `never_nl` (no match
can cross a line), and only a line it lands in is matched again on its own, which is the exact
per-line answer. A chunk without a hit
costs one query and one call. Measured on 1,000,000 stored lines and a pattern matching none:
0.66 s (median of 6), where `re` called by SQLite per line took 0.82 s; with a node filter (one
statement read in chunks, see read_logs._regex_hits) 2.5 s against 2.2 s.
"""
from __future__ import annotations

import re

import re2

from rayscope.dashboard.errors import BadRequest

UNSUPPORTED = ("backreferences (\\1, (?P=name)), lookahead and lookbehind ((?=, (?!, (?<=, (?<!), "
               "atomic groups (?>...), possessive quantifiers (a*+), conditionals, the x flag; "
               "\\Z is written \\z")

# Patterns whose meaning changes when lines are joined: \A and \z anchor the whole text, and a
# flag group that turns multi-line mode off makes ^ and $ do the same. These are matched line by
# line (a backslash before them, as in \\A, only costs that slower path).
_WHOLE_TEXT_ANCHORS = re.compile(r"\\[Az]|\(\?[a-zA-Z]*-[a-zA-Z]*m")


def _options() -> re2.Options:
    opts = re2.Options()
    opts.never_nl = True  # no match spans the newline that joins two lines
    opts.never_capture = True  # only "does it match" is asked
    opts.log_errors = False  # a bad pattern is the caller's 400, not a line on the head's stderr
    return opts


class LineRegex:
    """A user's pattern, checked once; `matching` says which of many lines it matches."""

    def __init__(self, pattern: str) -> None:
        raw = pattern.encode()
        try:
            self._line = re2.compile(raw, _options())
            self._joined = None if _WHOLE_TEXT_ANCHORS.search(pattern) else re2.compile(b"(?m)" + raw, _options())
        except re2.error as err:
            why = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else str(err)
            raise BadRequest(f"regex {pattern!r} is not accepted by RE2 ({why}); log search runs RE2, which "
                             f"takes linear time for every pattern and does not support: {UNSUPPORTED}") from None

    @property
    def joinable(self) -> bool:
        """Whether matching lines joined by newlines (`matching_joined`) gives the per-line answer."""
        return self._joined is not None

    def matches(self, line: bytes) -> bool:
        return self._line.search(line) is not None

    def matching_joined(self, text: bytes) -> list[int]:
        """Indexes of the lines of `text` (lines joined by newlines, none holding one) that match."""
        assert self._joined is not None
        out: list[int] = []
        pos, line_no, counted_to = 0, 0, 0
        while pos <= len(text):
            m = self._joined.search(text, pos)
            if m is None:
                break
            start = text.rfind(b"\n", 0, m.start()) + 1
            end = text.find(b"\n", m.start())
            end = len(text) if end < 0 else end
            line_no += text.count(b"\n", counted_to, start)
            counted_to = start
            if self.matches(text[start:end]):  # the exact answer for that line alone
                out.append(line_no)
            pos = end + 1
        return out
