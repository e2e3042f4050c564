"""Analyzers: a tokenizer followed by token filters, built from Milvus-style ``analyzer_params``.

``build_analyzer(params)`` accepts every shape Milvus accepts::

    None / {}                                   # the standard analyzer: standard + lowercase
    {"type": "english"}                         # built-in: standard, lowercase, stop, stemmer
    {"type": "standard", "stop_words": ["of"]}  # built-in with extra stop words
    {"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "german"}]}

Every language of :data:`embedb.text.LANGUAGES` also works as a built-in type, by ISO code or
English name (``{"type": "de"}`` == ``{"type": "german"}``).

Speed: the standard tokenizer pre-splits each text at ASCII separators in C (``bytes.translate``
+ ``split``); the resulting chunks get persistent ids per analyzer, and each *distinct* chunk
goes through the Unicode tokenizer and the filter chain once (memoised), so a batch costs about
one dict lookup per token plus NumPy work on flat arrays.
"""

from __future__ import annotations

import copy
import json
import threading
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from ..errors import ParamError
from . import chunkkeys
from .filters import build_filter
from .languages import STEMMERS, STOP_WORD_LANGUAGES, language_code, language_name
from .tokenizers import build_tokenizer

_MEMO_LIMIT = 1 << 18  # distinct chunks remembered per analyzer before its memo is reset (bounds memory)
# from this many characters a batch takes the NumPy chunk path (a few dozen NumPy calls: a
# query's few words are cheaper through the per-text path)
_BYTES_PATH_MIN = 4096


class TokenBatch(NamedTuple):
    """The analysed tokens of many texts, as flat arrays.

    ``vocab`` holds this batch's distinct tokens; the tokens of text ``i`` are
    ``vocab[ids[j]]`` for ``j`` in ``range(offsets[i], offsets[i + 1])``, and ``positions[j]`` is
    the position of token ``j`` in its text (positions keep the gaps of dropped stop words).
    """

    vocab: list[str]
    ids: np.ndarray  # int64
    offsets: np.ndarray  # int64, len(texts) + 1
    positions: np.ndarray  # int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def tokens(self, i: int) -> list[str]:
        vocab = self.vocab
        return [vocab[k] for k in self.ids[self.offsets[i] : self.offsets[i + 1]].tolist()]


class _Grow:
    """An int64 array with amortised appends."""

    __slots__ = ("buf", "n")

    def __init__(self) -> None:
        self.buf = np.zeros(1024, dtype=np.int64)
        self.n = 0

    def extend(self, values: Sequence[int]) -> None:
        k = len(values)
        if self.n + k > len(self.buf):
            new = np.zeros(max(2 * len(self.buf), self.n + k), dtype=np.int64)
            new[: self.n] = self.buf[: self.n]
            self.buf = new
        self.buf[self.n : self.n + k] = values
        self.n += k

    @property
    def view(self) -> np.ndarray:
        return self.buf[: self.n]


class TokenList(list):
    """An analyzer's append-only list of output tokens, with ``derived``: arrays that callers
    compute per entry (e.g. token hashes) and extend as the list grows."""

    __slots__ = ("derived",)

    def __init__(self) -> None:
        super().__init__()
        self.derived: dict[str, Any] = {}


class _ChunkTable:
    """Persistent integer ids for the chunks and output tokens an analyzer has seen, with flat
    tables per chunk id, so a warm batch maps chunks to ids with one dict lookup each."""

    def __init__(self) -> None:
        self.chunk_id: dict[Any, int] = {}
        self.tok_id: dict[str, int] = {}
        self.toks = TokenList()
        self.n_sub, self.out_len, self.out_start = _Grow(), _Grow(), _Grow()
        self.out_tok, self.out_sub = _Grow(), _Grow()
        self.index = chunkkeys.ChunkKeys()   # chunk bytes (<= 16) -> id, for the NumPy path
        # per chunk id: its one output token's id, or -1 (none or several): the BM25 path's
        # token ids are one gather of this when every chunk of a batch has exactly one
        self.one_tok = _Grow()

    def add(self, chunks: Sequence[Any], entries: Sequence[tuple[int, tuple[str, ...], tuple[int, ...]]]) -> None:
        """Register new chunks (callers hold the analyzer's lock). The tables grow first and the
        ids are published last, so a concurrent reader never sees an id without its entries."""
        tok_id, toks = self.tok_id, self.toks
        start = self.out_tok.n
        outputs = list(map(itemgetter(1), entries))
        lens = np.fromiter(map(len, outputs), dtype=np.int64, count=len(outputs))
        single = bool(len(lens)) and lens.min() == 1 == lens.max()   # the common case: one token each
        flat = list(map(itemgetter(0), outputs)) if single else list(chain.from_iterable(outputs))
        new = [t for t in dict.fromkeys(flat) if t not in tok_id]   # ids in order of first appearance
        if new:
            toks.extend(new)
            tok_id.update(zip(new, range(len(toks) - len(new), len(toks))))
        out_tok = np.fromiter(map(tok_id.__getitem__, flat), dtype=np.int64, count=len(flat))
        out_start = np.zeros(len(lens), dtype=np.int64)
        np.cumsum(lens[:-1], out=out_start[1:])
        if single:
            one_tok = out_tok
        else:
            one_tok = np.full(len(lens), -1, dtype=np.int64)
            one = np.flatnonzero(lens == 1)
            one_tok[one] = out_tok[out_start[one]]
        first = len(self.chunk_id)
        self.n_sub.extend(np.fromiter(map(itemgetter(0), entries), dtype=np.int64, count=len(entries)))
        self.out_len.extend(lens)
        self.out_start.extend(out_start + start)
        self.out_tok.extend(out_tok)
        self.out_sub.extend(list(chain.from_iterable(map(itemgetter(2), entries))))
        self.one_tok.extend(one_tok)
        self.chunk_id.update(zip(chunks, range(first, first + len(chunks))))


class Analyzer:
    """A tokenizer plus a chain of filters. ``analyzer("Some text")`` -> list of tokens.

    ``params`` is the JSON-able configuration that :func:`build_analyzer` turns back into an
    equal analyzer (saved with BM25 models and collection schemas).
    """

    def __init__(self, tokenizer: Any, filters: Sequence[Any] = (), *, params: Any = None, name: str = "custom") -> None:
        self.tokenizer = tokenizer
        self.filters = list(filters)
        self.name = name
        self.params = copy.deepcopy(params) if params is not None else {
            "tokenizer": tokenizer.to_params(),
            "filter": [f.to_params() for f in self.filters],
        }
        self._memo: dict[Any, tuple[int, tuple[str, ...], tuple[int, ...]]] = {}
        self._table = _ChunkTable()
        self._lock = threading.Lock()  # guards growing the chunk table
        # Lowercasing ASCII during the pre-split is free and equivalent when lowercase comes first.
        lowers_first = bool(self.filters) and getattr(self.filters[0], "name", "") == "lowercase"
        self._chunks = getattr(tokenizer, "chunks_lowercased", None) if lowers_first else None
        self._chunks = self._chunks or tokenizer.chunks
        # the byte translation behind self._chunks, when it is a byte-level pre-split
        # (standard tokenizer): big batches then find and key their chunks in NumPy
        self._separators = getattr(tokenizer, "separators_lowercased" if self._chunks is getattr(
            tokenizer, "chunks_lowercased", None) else "separators", None)

    def __repr__(self) -> str:
        return f"Analyzer({json.dumps(self.params, ensure_ascii=False)})"

    # Single texts ------------------------------------------------------------------------
    def __call__(self, text: str) -> list[str]:
        """The tokens of one text."""
        return self._tokens(_check_text(text, 0))

    analyze = __call__

    def _tokens(self, text: str) -> list[str]:
        chunks = self._chunks(text)
        memo = self._outputs(chunks)
        return [t for c in chunks for t in memo[c][1]]

    def analyze_detail(self, text: str) -> list[dict[str, Any]]:
        """Tokens of one text with ``start_offset``, ``end_offset`` (characters), ``position`` and
        ``position_length``: the ``with_detail`` form of ``run_analyzer``."""
        text = _check_text(text, 0)
        raw = self.tokenizer.tokenize(text)
        outputs = self._run_filters(raw)
        out = []
        cursor = 0
        for pos, (r, outs) in enumerate(zip(raw, outputs)):
            start = text.find(r, cursor)
            if start < 0:  # a tokenizer that rewrites text; fall back to no offsets
                start = cursor
            end = start + len(r)
            cursor = end
            for t in outs:
                out.append({"token": t, "start_offset": start, "end_offset": end, "position": pos, "position_length": 1})
        return out

    # Batches -----------------------------------------------------------------------------
    def analyze_batch(self, texts: Sequence[str]) -> TokenBatch:
        """Analyse many texts at once into flat arrays (see :class:`TokenBatch`)."""
        table, counts, chunk_ids = self._chunk_ids(texts)
        ids, offsets, positions = self._expand(table, counts, chunk_ids, with_positions=True)
        # renumber the analyzer-wide token ids densely for this batch (first-appearance order)
        toks = table.toks
        if len(ids) * 8 < len(toks):  # small batch (a query): O(n log n), not O(vocabulary)
            used, first_at, dense = np.unique(ids, return_index=True, return_inverse=True)
            order = np.argsort(first_at, kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order), dtype=np.int64)
            return TokenBatch(list(map(toks.__getitem__, used[order].tolist())), rank[dense.ravel()], offsets,
                              positions)
        first = np.zeros(len(toks), dtype=np.int64)
        seen = np.zeros(len(toks), dtype=bool)
        seen[ids] = True
        used = np.flatnonzero(seen)
        if len(ids):
            first_pos = np.full(len(toks), len(ids), dtype=np.int64)
            np.minimum.at(first_pos, ids, np.arange(len(ids), dtype=np.int64))
            used = used[np.argsort(first_pos[used], kind="stable")]
        first[used] = np.arange(len(used), dtype=np.int64)
        ids = first[ids]
        return TokenBatch(list(map(toks.__getitem__, used.tolist())), ids, offsets, positions)

    def token_ids(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(toks, ids, offsets)``: the tokens of text ``i`` are ``toks[ids[j]]`` for ``j`` in
        ``range(offsets[i], offsets[i + 1])``. ``toks`` is the analyzer's own append-only token
        list (the same list object for as long as its memo lives), so callers may keep values
        derived per entry of it; no batch vocabulary is built and no positions are computed
        (the BM25 function's path)."""
        table, counts, chunk_ids = self._chunk_ids(texts)
        ids, offsets, _ = self._expand(table, counts, chunk_ids, with_positions=False)
        return table.toks, ids, offsets

    def _chunk_ids(self, texts: Sequence[str]) -> tuple["_ChunkTable", np.ndarray, np.ndarray]:
        """The chunk table used, the number of chunks of each text and the chunk id of each chunk."""
        if not set(map(type, texts)) <= {str}:   # one C-level pass when all are str
            for i, t in enumerate(texts):
                _check_text(t, i)
        if self._separators is not None and sum(map(len, texts)) >= _BYTES_PATH_MIN:
            return self._chunk_ids_of_bytes(texts)
        chunk = self._chunks
        chunk_lists = [chunk(t) for t in texts]
        n = len(chunk_lists)
        counts = np.fromiter(map(len, chunk_lists), dtype=np.int64, count=n)
        flat = list(chain.from_iterable(chunk_lists))
        total = len(flat)
        table = self._table
        chunk_ids = np.fromiter(map(table.chunk_id.get, flat, repeat(-1, total)), dtype=np.int64, count=total)
        unknown = np.flatnonzero(chunk_ids < 0)
        if len(unknown):  # new chunks: run them through the filters once, then map only those
            with self._lock:
                table, fresh = self._current_table(table)
                todo = flat if fresh else [flat[i] for i in unknown.tolist()]
                self._register(table, todo)
            found = np.fromiter(map(table.chunk_id.__getitem__, todo), dtype=np.int64, count=len(todo))
            if fresh:
                chunk_ids = found
            else:
                chunk_ids[unknown] = found
        return table, counts, chunk_ids

    def _chunk_ids_of_bytes(self, texts: Sequence[str]) -> tuple["_ChunkTable", np.ndarray, np.ndarray]:
        """``_chunk_ids`` for the standard tokenizer on a big batch: the texts joined into one
        translated byte buffer, chunks found and keyed in NumPy (``chunkkeys``), looked up in the
        table's hash index; only chunks the index lacks (new ones, longer than 16 bytes) take
        the dict path. Same chunks, same ids as the per-text path."""
        n = len(texts)
        joined = " ".join(texts)   # a space never joins two chunks
        data = joined.encode("utf-8")
        if len(data) == len(joined):   # ASCII: one byte per character
            sizes = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        else:
            sizes = np.fromiter((len(t.encode("utf-8")) for t in texts), dtype=np.int64, count=n)
        text_start = np.zeros(n, dtype=np.int64)
        np.cumsum(sizes[:-1] + 1, out=text_start[1:])
        translated = data.translate(self._separators)
        starts, ends = chunkkeys.spans(translated)
        lengths = ends - starts
        first_chunk = np.empty(n + 1, dtype=np.int64)   # texts hold the chunks starting in them
        first_chunk[:n] = np.searchsorted(starts, text_start)
        first_chunk[n] = len(starts)
        counts = np.diff(first_chunk)
        longest = int(lengths.max()) if len(lengths) else 0
        w0, w1 = chunkkeys.keys(translated, starts, lengths, first_only=longest <= chunkkeys.WORD)
        table = self._table
        if longest <= chunkkeys.LONG:
            chunk_ids = table.index.lookup(w0, w1, lengths)
        else:
            chunk_ids = np.full(len(starts), -1, dtype=np.int64)
            at = np.flatnonzero(lengths <= chunkkeys.LONG)
            chunk_ids[at] = table.index.lookup(w0[at], None if w1 is None else w1[at], lengths[at])
        unknown = np.flatnonzero(chunk_ids < 0)
        if not len(unknown):
            return table, counts, chunk_ids
        with self._lock:
            table, fresh = self._current_table(table)
            if fresh:
                unknown = np.arange(len(starts))
            # one bytes object per distinct unknown chunk of <= 8 bytes (its key is w0: a cold
            # batch has tens of thousands of such positions and a few thousand distinct chunks)
            word = lengths[unknown] <= chunkkeys.WORD
            by_key, rest = unknown[word], unknown[~word]
            _, first, inverse = np.unique(w0[by_key], return_index=True, return_inverse=True)
            sliced = np.concatenate([by_key[first], rest])
            todo = [translated[a:b] for a, b in zip(starts[sliced].tolist(), ends[sliced].tolist())]
            self._register(table, todo)
            found = np.fromiter(map(table.chunk_id.__getitem__, todo), dtype=np.int64, count=len(todo))
            chunk_ids[by_key] = found[:len(first)][inverse.reshape(-1)]
            chunk_ids[rest] = found[len(first):]
            # index the keyed ones the hash index lacks (new chunks, or chunks the dict path added)
            keyed = sliced[lengths[sliced] <= chunkkeys.LONG]
            if len(keyed):
                ids_keyed = chunk_ids[keyed]
                _, first = np.unique(ids_keyed, return_index=True)   # distinct chunks (long ones repeat)
                keyed, ids_keyed = keyed[first], ids_keyed[first]
                k1 = None if w1 is None else w1[keyed]
                absent = table.index.lookup(w0[keyed], k1, lengths[keyed]) < 0
                table.index.add(w0[keyed[absent]], None if k1 is None else k1[absent], lengths[keyed[absent]],
                                ids_keyed[absent])
        return table, counts, chunk_ids

    def _current_table(self, table: "_ChunkTable") -> tuple["_ChunkTable", bool]:
        """(callers hold ``_lock``) The table to grow, reset when it passed the memo bound, and
        whether it is another one than ``table`` (then every id must be looked up again)."""
        if len(self._table.chunk_id) > _MEMO_LIMIT:
            self._table = _ChunkTable()
        return self._table, self._table is not table

    def _register(self, table: "_ChunkTable", chunks: Sequence[Any]) -> None:
        """(callers hold ``_lock``) Give the chunks the table lacks ids, their outputs computed once."""
        new = [c for c in dict.fromkeys(chunks) if c not in table.chunk_id]
        if new:
            memo = self._outputs(new)
            table.add(new, list(map(memo.__getitem__, new)))

    @staticmethod
    def _expand(table: "_ChunkTable", counts: np.ndarray, chunk_ids: np.ndarray, with_positions: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Output token ids (the table's), offsets per text and (optionally) positions from the
        chunk ids of a batch."""
        n, total = len(counts), len(chunk_ids)
        n_sub, out_len, out_start = table.n_sub.view, table.out_len.view, table.out_start.view
        out_ids, out_sub = table.out_tok.view, table.out_sub.view
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        if not with_positions and total:
            single = table.one_tok.view.take(chunk_ids)
            if single.min() >= 0:   # every chunk gave exactly one token
                return single, starts, None
        rep = out_len[chunk_ids]
        subs = n_sub[chunk_ids] if with_positions or not total else None
        simple = total and rep.min() == 1 and rep.max() == 1
        if not with_positions:
            if simple:
                return out_ids[out_start[chunk_ids]], starts, None
            cum = np.zeros(total + 1, dtype=np.int64)
            np.cumsum(rep, out=cum[1:])
            src = np.repeat(np.arange(total, dtype=np.int64), rep)
            within = np.arange(len(src), dtype=np.int64) - np.repeat(cum[:-1], rep)
            ids = out_ids[out_start[chunk_ids[src]] + within] if len(src) else np.zeros(0, np.int64)
            return ids, cum[starts], None

        # position of each chunk's first raw token within its text
        run = np.cumsum(subs) - subs
        first_of_doc = run[np.minimum(starts[:-1], max(total - 1, 0))] if total else np.zeros(n, np.int64)
        base = run - np.repeat(first_of_doc, counts)
        doc_of = np.repeat(np.arange(n, dtype=np.int64), counts)

        if simple and subs.max() == 1:
            ids = out_ids[out_start[chunk_ids]]
            positions, docs = base, doc_of
        else:
            src = np.repeat(np.arange(total, dtype=np.int64), rep)
            cum = np.zeros(total + 1, dtype=np.int64)
            np.cumsum(rep, out=cum[1:])
            within = np.arange(len(src), dtype=np.int64) - np.repeat(cum[:-1], rep)
            at = out_start[chunk_ids[src]] + within
            ids = out_ids[at] if len(src) else np.zeros(0, np.int64)
            positions = base[src] + out_sub[at] if len(src) else np.zeros(0, np.int64)
            docs = doc_of[src]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(docs, minlength=n), out=offsets[1:])
        return ids, offsets, positions

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """The tokens of each text, as lists (convenient; ``analyze_batch`` is faster)."""
        return [self._tokens(_check_text(t, i)) for i, t in enumerate(texts)]

    # The memoised filter chain -------------------------------------------------------------
    def clear_cache(self) -> None:
        """Forget the memoised outputs of the filter chain (benchmarks use it to measure cold)."""
        self._memo = {}
        self._table = _ChunkTable()

    def _outputs(self, chunks: Iterable[Any]) -> dict[Any, tuple[int, tuple[str, ...], tuple[int, ...]]]:
        """A dict that maps every given chunk to (number of raw tokens in it, output tokens,
        index of the raw token each output came from)."""
        memo = self._memo
        wanted = dict.fromkeys(chunks)
        missing = [c for c in wanted if c not in memo]
        if not missing:
            return memo
        split_many = getattr(self.tokenizer, "split_chunks", None)
        split = getattr(self.tokenizer, "split_chunk", None)
        if split_many is not None:
            pieces = split_many(missing)
        else:
            pieces = [split(c) for c in missing] if split is not None else [[c] for c in missing]
        results = self._run_filters(list(chain.from_iterable(pieces)))
        lengths = list(map(len, pieces))
        if lengths and min(lengths) == 1 == max(lengths):  # the common case: one raw token per chunk
            one, none = (0,), ()
            computed = [(1, r, one if len(r) == 1 else (none if not r else (0,) * len(r))) for r in results]
        else:
            computed = []
            k = 0
            for raw in pieces:
                outs: list[str] = []
                subs: list[int] = []
                for j in range(len(raw)):
                    r = results[k + j]
                    outs.extend(r)
                    subs.extend([j] * len(r))
                k += len(raw)
                computed.append((len(raw), tuple(outs), tuple(subs)))
        if len(memo) + len(missing) > _MEMO_LIMIT:  # bound memory on endless vocabularies
            fresh = {c: memo[c] for c in wanted if c in memo}
            fresh.update(zip(missing, computed))
            self._memo = fresh
            return fresh
        memo.update(zip(missing, computed))
        return memo

    def _run_filters(self, tokens: list[str]) -> list[tuple[str, ...]]:
        """Output tokens of each raw token through the whole filter chain."""
        origin: list[int] | None = None  # None: current[i] came from tokens[i]
        expanded = False  # did any filter turn one token into several?
        current = list(tokens)
        for f in self.filters:
            mapped = f.apply(current)
            kind = getattr(f, "kind", "expand")
            if kind == "map":
                current = list(mapped)
            elif kind == "drop":
                keep = [i for i, m in enumerate(mapped) if m is not None]
                current = [mapped[i] for i in keep]
                origin = keep if origin is None else [origin[i] for i in keep]
            else:
                expanded = True
                idx = origin if origin is not None else range(len(current))
                new_tokens: list[str] = []
                new_origin: list[int] = []
                for o, m in zip(idx, mapped):
                    if m is None:
                        continue
                    if isinstance(m, tuple):
                        new_tokens.extend(m)
                        new_origin.extend([o] * len(m))
                    else:
                        new_tokens.append(m)
                        new_origin.append(o)
                current, origin = new_tokens, new_origin
        if origin is None:
            return [(t,) if t else () for t in current]
        if not expanded:  # each raw token gave at most one output
            out: list[tuple[str, ...]] = [()] * len(tokens)
            for o, t in zip(origin, current):
                if t:
                    out[o] = (t,)
            return out
        results: list[list[str]] = [[] for _ in tokens]
        for o, t in zip(origin, current):
            if t:
                results[o].append(t)
        return [tuple(r) for r in results]


def batch_from_token_lists(token_lists: Sequence[Sequence[str]]) -> TokenBatch:
    """A :class:`TokenBatch` from already tokenised texts (for analyzers that are plain
    callables); positions are the token indexes."""
    n = len(token_lists)
    counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(token_lists))
    vocab = list(dict.fromkeys(flat))
    index = dict(zip(vocab, range(len(vocab))))
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    positions = np.arange(len(flat), dtype=np.int64) - np.repeat(offsets[:-1], counts)
    return TokenBatch(vocab, ids, offsets, positions)


def _check_text(text: Any, index: int) -> str:
    if not isinstance(text, str):
        raise ParamError(f"text {index}: expected a string, got {type(text).__name__}")
    return text


# Building analyzers from params -----------------------------------------------------------------

_BUILTIN_KEYS = {"type", "stop_words"}
_CUSTOM_KEYS = {"tokenizer", "filter", "filters"}
_cache: dict[str, Analyzer] = {}
_cache_lock = threading.Lock()


def build_analyzer(analyzer_params: Any = None) -> Analyzer:
    """An :class:`Analyzer` from Milvus-style ``analyzer_params`` (see the module docstring).

    Analyzers are cached by their parameters, so building the same one twice is free and its
    memo of token outputs is shared.
    """
    if analyzer_params is None:
        analyzer_params = {}
    if isinstance(analyzer_params, str):
        try:
            analyzer_params = json.loads(analyzer_params)
        except json.JSONDecodeError:
            analyzer_params = {"type": analyzer_params}  # a bare built-in name: "english"
    if not isinstance(analyzer_params, dict):
        raise ParamError(f"analyzer_params must be a dict, got {type(analyzer_params).__name__}")
    try:
        key = json.dumps(analyzer_params, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        raise ParamError(f"analyzer_params must be JSON-serialisable, got {analyzer_params!r}") from None
    cached = _cache.get(key)
    if cached is not None:
        return cached
    analyzer = _build(analyzer_params)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = analyzer
    return analyzer


def _build(params: dict[str, Any]) -> Analyzer:
    if "type" in params:
        unknown = set(params) - _BUILTIN_KEYS
        if unknown:
            raise ParamError(
                f"analyzer_params: unknown key(s) {sorted(unknown)} for a built-in analyzer "
                f"(allowed: 'type', 'stop_words'); use 'tokenizer' and 'filter' for a custom one"
            )
        return _builtin(params["type"], params.get("stop_words"), params)
    unknown = set(params) - _CUSTOM_KEYS
    if unknown:
        raise ParamError(
            f"analyzer_params: unknown key(s) {sorted(unknown)}; expected 'type' (built-in) or "
            f"'tokenizer' and 'filter'"
        )
    if not params:
        return _builtin("standard", None, {"type": "standard"})
    if "tokenizer" not in params:
        raise ParamError("analyzer_params: a custom analyzer needs a 'tokenizer'")
    filters = params.get("filter", params.get("filters", []))
    if isinstance(filters, (str, dict)):
        filters = [filters]
    if not isinstance(filters, list):
        raise ParamError("analyzer_params: 'filter' must be a list of filters")
    return Analyzer(
        build_tokenizer(params["tokenizer"]), [build_filter(f) for f in filters], params=params, name="custom"
    )


def _builtin(kind: Any, extra_stop: Any, params: dict[str, Any]) -> Analyzer:
    if not isinstance(kind, str):
        raise ParamError(f"analyzer type must be a string, got {kind!r}")
    if extra_stop is not None and (
        not isinstance(extra_stop, list) or not all(isinstance(w, str) for w in extra_stop)
    ):
        raise ParamError("analyzer_params: 'stop_words' must be a list of strings")
    kind_l = kind.lower()
    stop = list(extra_stop or [])
    if kind_l == "standard":
        filters: list[Any] = ["lowercase"]
        if stop:
            filters.append({"type": "stop", "stop_words": stop})
        tokenizer: Any = "standard"
    else:
        try:
            code = language_code(kind_l)
        except ParamError:
            raise ParamError(
                f"unknown analyzer type {kind!r}; valid types: 'standard', 'english', 'chinese' "
                f"or any language code/name of embedb.text.LANGUAGES"
            ) from None
        tokenizer = "jieba" if code == "zh" else "standard"
        filters = ["lowercase"]
        if code in STOP_WORD_LANGUAGES:
            stop = [f"_{language_name(code)}_"] + stop
        if stop:
            filters.append({"type": "stop", "stop_words": stop})
        if code in STEMMERS:
            filters.append({"type": "stemmer", "language": STEMMERS[code]})
    analyzer = Analyzer(
        build_tokenizer(tokenizer), [build_filter(f) for f in filters], params=params, name=kind_l
    )
    return analyzer


def analyzer_for_language(code: str = "en") -> Analyzer:
    """The built-in analyzer of a language (ISO 639-1 code or English name): Unicode word
    tokenizer (jieba for ``zh``), lowercase, the shipped stop words, Snowball stemmer."""
    return build_analyzer({"type": language_name(language_code(code))})


def build_default_analyzer(language: str = "en") -> Analyzer:
    """pymilvus.model's name for :func:`analyzer_for_language`."""
    return analyzer_for_language(language)
