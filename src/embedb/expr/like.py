"""LIKE patterns matched in time linear in the text.

A LIKE pattern is a sequence of *segments* separated by ``%`` (any run of characters); each
segment is a fixed-width run of literal characters and ``_`` (exactly one character). ``\\%``,
``\\_`` and ``\\\\`` stand for the literal characters; any other backslash is literal.

Because every segment has a fixed width, the leftmost place where a segment fits is always the
best one for the segments after it, so one greedy left-to-right pass decides a row: no
backtracking, ``O(len(text) * len(pattern))`` at worst (a backtracking regex of ``.*`` pieces
is exponential in the number of ``%``). Patterns without a floating part (``abc``, ``a_c``,
``ab%``) run on the whole column with NumPy (``==``, ``np.strings.startswith``); the others
run the pass row by row with C string methods (``str.find``, ``startswith``), which measured
several times faster than ``np.strings.find`` on StringDType columns. A floating segment with
literals on both sides of a ``_`` (``%a_b%``) is found with a fixed-width regex (no
quantifiers, so no backtracking either). NumPy mishandles NUL characters (strings.py): a
pattern holding one runs the pass row by row, and so do the NumPy paths that read lengths or
suffixes (``a_c``, ``%ab``) on a column that holds one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .strings import NUL, each_row, has_nul

S = np.strings

Matcher = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Segment:
    """A fixed-width piece between ``%``: ``width`` characters, ``chunks`` of literal text at
    their offsets (the gaps between chunks are ``_``)."""

    width: int
    chunks: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class LikePattern:
    segments: tuple[Segment, ...]
    anchored_start: bool  # the pattern does not start with '%'
    anchored_end: bool    # the pattern does not end with '%'


def like_tokens(pattern: str) -> list[str | None]:
    """The pattern as literal characters, with ``None`` for ``%`` and ``""`` for ``_``."""
    tokens: list[str | None] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n and pattern[i + 1] in "%_\\":
            tokens.append(pattern[i + 1])
            i += 2
            continue
        tokens.append(None if ch == "%" else "" if ch == "_" else ch)
        i += 1
    return tokens


def parse_like(pattern: str) -> LikePattern:
    """Split a LIKE pattern into its fixed-width segments (see the module docstring)."""
    tokens = like_tokens(pattern)
    segments: list[Segment] = []
    chunks: list[tuple[int, str]] = []
    buf: list[str] = []  # literal characters of the chunk being read
    width = 0
    for tok in tokens + [None]:
        if tok:  # a literal character ('' is '_', None is '%')
            buf.append(tok)
            width += 1
            continue
        if buf:
            chunks.append((width - len(buf), "".join(buf)))
            buf = []
        if tok is None:  # '%' (or the end): the current segment is complete
            if width:
                segments.append(Segment(width, tuple(chunks)))
            chunks, width = [], 0
        else:  # '_'
            width += 1
    anchored_start = not tokens or tokens[0] is not None
    anchored_end = not tokens or tokens[-1] is not None
    if not tokens:
        segments.append(Segment(0, ()))
    return LikePattern(tuple(segments), anchored_start, anchored_end)


class LikeMatcher:
    """``matcher(values)``: which values of a StringDType array match the whole pattern, exact
    for any strings. ``fast`` runs on the whole column; when it reads lengths or suffixes
    (``str_len``, ``endswith``: NumPy drops trailing NULs there) and the column holds a NUL,
    the per-row ``exact`` pass runs instead. ``nul``: a callable answering whether the values
    hold a NUL (a column's cached answer); without it they are scanned when it matters."""

    __slots__ = ("fast", "exact", "reads_lengths")

    def __init__(self, fast: Matcher, exact: Callable[[str], bool], reads_lengths: bool) -> None:
        self.fast, self.exact, self.reads_lengths = fast, exact, reads_lengths

    def __call__(self, values: np.ndarray, nul: Callable[[], bool] | None = None) -> np.ndarray:
        if self.reads_lengths and (nul() if nul is not None else has_nul(values)):
            return each_row(values, self.exact)
        return self.fast(values)


@functools.lru_cache(maxsize=256)
def compile_like(pattern: str) -> LikeMatcher:
    """A matcher ``StringDType array -> bool array``: which values match the whole pattern."""
    p = parse_like(pattern)
    exact = _row_matcher(p)
    if NUL in pattern:   # NumPy drops a literal's trailing NULs and stops comparing at NULs
        return LikeMatcher(functools.partial(each_row, fn=exact), exact, False)
    fast, reads_lengths = _fast_matcher(p, exact)
    return LikeMatcher(fast, exact, reads_lengths)


def _fast_matcher(p: LikePattern, exact: Callable[[str], bool]) -> tuple[Matcher, bool]:
    """The whole-column matcher of a NUL-free pattern, and whether it reads lengths or
    suffixes (inexact on values with trailing NULs). Comparisons and prefixes with a NUL-free
    literal are exact on any values (see strings.py)."""
    if not p.anchored_start and not p.segments:  # '%'
        return (lambda v: np.ones(len(v), dtype=bool)), False
    if p.anchored_start and p.anchored_end and len(p.segments) == 1:
        seg = p.segments[0]
        if len(seg.chunks) == 1 and len(seg.chunks[0][1]) == seg.width:
            literal = seg.chunks[0][1]
            return (lambda v: v == literal), False  # no wildcard at all
        return functools.partial(_head_only, seg, True), True
    if len(p.segments) == 1:
        seg = p.segments[0]
        literal = seg.chunks[0][1] if len(seg.chunks) == 1 and len(seg.chunks[0][1]) == seg.width \
            else None
        if p.anchored_start:  # 'ab%', 'a_c%'
            if literal is not None:
                return (lambda v: S.startswith(v, literal)), False
            return functools.partial(_head_only, seg, False), True
        if p.anchored_end and literal is not None:  # '%ab'
            return (lambda v: S.endswith(v, literal)), True
        if not p.anchored_end and literal is not None:  # '%ab%'
            return (lambda v: each_row(v, lambda s: literal in s)), False
    return functools.partial(each_row, fn=exact), False


def _head_only(seg: Segment, exact_length: bool, v: np.ndarray) -> np.ndarray:
    """The pattern is one segment at the start (and, if ``exact_length``, nothing after it)."""
    length = S.str_len(v)
    ok = length == seg.width if exact_length else length >= seg.width
    for offset, text in seg.chunks:
        ok &= S.startswith(v, text, offset)
    return ok


def _row_matcher(p: LikePattern) -> Callable[[str], bool]:
    """The greedy pass for one value (see the module docstring)."""
    segments = list(p.segments)
    whole = p.anchored_start and p.anchored_end and len(segments) == 1   # 'a_c', ''
    head = segments.pop(0) if p.anchored_start else None
    tail = segments.pop() if p.anchored_end and segments else None
    min_length = sum(seg.width for seg in p.segments)
    steps = []  # per floating segment: (kind, width, offset, text or regex)
    for seg in segments:
        if not seg.chunks:
            steps.append((0, seg.width, 0, ""))
        elif len(seg.chunks) == 1:
            offset, text = seg.chunks[0]
            steps.append((1, seg.width, offset, text))
        else:
            steps.append((2, seg.width, 0, _segment_regex(seg)))

    def match(s: str) -> bool:
        n = len(s)
        if n < min_length:
            return False
        pos = 0
        if head is not None:
            for offset, text in head.chunks:
                if not s.startswith(text, offset):
                    return False
            if whole:
                return n == head.width
            pos = head.width
        for kind, width, offset, what in steps:
            if kind == 1:  # one literal, maybe with '_' around it
                found = s.find(what, pos + offset)
                if found < 0:
                    return False
                pos = found - offset + width
            elif kind == 0:  # only '_'
                pos += width
            else:
                m = what.search(s, pos)
                if m is None:
                    return False
                pos = m.start() + width
        if pos > n:
            return False
        if tail is not None:
            start = n - tail.width
            if start < pos:
                return False
            for offset, text in tail.chunks:
                if not s.startswith(text, start + offset):
                    return False
        return True

    return match


@functools.lru_cache(maxsize=256)
def _segment_regex(seg: Segment) -> re.Pattern:
    # Fixed width, no quantifiers: a search tries each start once, O(len(text) * width).
    parts, at = [], 0
    for offset, text in seg.chunks:
        parts.append("." * (offset - at))
        parts.append(re.escape(text))
        at = offset + len(text)
    parts.append("." * (seg.width - at))
    return re.compile("".join(parts), re.S)
