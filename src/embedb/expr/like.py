"""LIKE patterns matched in time linear in the text, vectorised over a StringDType column.

A LIKE pattern is a sequence of *segments* separated by ``%`` (any run of characters); each
segment is a fixed-width run of literal characters and ``_`` (exactly one character). ``\\%``,
``\\_`` and ``\\\\`` stand for the literal characters; any other backslash is literal.

Because every segment has a fixed width, the leftmost place where a segment fits is always the
best one for the segments after it, so one greedy left-to-right pass decides a row: no
backtracking, ``O(len(text) * len(pattern))`` at worst (a backtracking regex of ``.*`` pieces
is exponential in the number of ``%``). The pass runs on whole columns with ``np.strings``:
``startswith`` for the anchored head and tail, ``find`` from a per-row start for the floating
segments in between. Only a floating segment with literals on both sides of a ``_`` (``%a_b%``)
is searched row by row, with a fixed-width regex (no quantifiers, so no backtracking either).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

STRING_DTYPE = np.dtypes.StringDType()
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


@functools.lru_cache(maxsize=256)
def compile_like(pattern: str) -> Matcher:
    """A function ``StringDType array -> bool array``: which values match the whole pattern."""
    p = parse_like(pattern)
    if not p.anchored_start and not p.segments:  # '%'
        return lambda v: np.ones(len(v), dtype=bool)
    if p.anchored_start and p.anchored_end and len(p.segments) == 1:
        seg = p.segments[0]
        if len(seg.chunks) == 1 and len(seg.chunks[0][1]) == seg.width:
            literal = seg.chunks[0][1]
            return lambda v: v == literal  # no wildcard at all
        return lambda v: _exact(v, seg)
    return functools.partial(_match, p)


def _exact(v: np.ndarray, seg: Segment) -> np.ndarray:
    """Whole-value match of one segment (a pattern without '%')."""
    ok = S.str_len(v) == seg.width
    for offset, text in seg.chunks:
        ok &= S.startswith(v, text, offset)
    return ok


def _match(p: LikePattern, v: np.ndarray) -> np.ndarray:
    n = len(v)
    length = S.str_len(v).astype(np.int64)
    ok = np.ones(n, dtype=bool)
    pos = np.zeros(n, dtype=np.int64)  # where the next segment may start, per row
    segments = list(p.segments)
    head = segments.pop(0) if p.anchored_start else None
    tail = segments.pop() if p.anchored_end else None
    if head is not None:
        ok &= length >= head.width
        for offset, text in head.chunks:
            ok &= S.startswith(v, text, offset)
        pos += head.width
    for seg in segments:
        if not ok.any():
            break
        if not seg.chunks:  # only '_': skip that many characters
            pos += seg.width
        elif len(seg.chunks) == 1:  # one literal, maybe with '_' around it
            offset, text = seg.chunks[0]
            found = S.find(v, text, pos + offset).astype(np.int64)
            ok &= found >= 0
            pos = np.where(found >= 0, found - offset + seg.width, pos)
        else:
            _search_rows(v, seg, ok, pos)
    ok &= pos <= length
    if tail is not None:
        start = length - tail.width
        ok &= start >= pos
        start = np.maximum(start, 0)  # rows where it was negative already failed
        for offset, text in tail.chunks:
            ok &= S.startswith(v, text, start + offset)
    return ok


def _search_rows(v: np.ndarray, seg: Segment, ok: np.ndarray, pos: np.ndarray) -> None:
    """Leftmost place of a segment with inner '_' at or after ``pos``, row by row (in place)."""
    rx = _segment_regex(seg)
    rows = np.flatnonzero(ok)
    for i, s in zip(rows.tolist(), v[rows].tolist()):
        m = rx.search(s, int(pos[i]))
        if m is None:
            ok[i] = False
        else:
            pos[i] = m.start() + seg.width


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
