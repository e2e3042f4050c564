"""Built-in full-text search: the BM25 schema function, BM25 search, text_match and phrase_match.

* ``apply_functions`` analyses each BM25 function's VARCHAR input with the field's analyzer and
  stores, in the sparse output field, term frequencies keyed by a stable 32-bit hash of each
  token (as Milvus does), so no vocabulary is shared between rows or persisted.
* ``search_bm25`` scores with statistics over the *live* rows at query time (N, average length,
  df of the query terms), so scores always equal a BM25 computed from scratch over the live rows,
  whatever inserts, upserts and deletes happened (Milvus's formula:
  ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, ``k1``/``b`` from the index's ``bm25_k1``/``bm25_b``).
* ``text_match``/``phrase_match`` use a positional inverted index per ``enable_match`` field.

Both indexes are posting lists in row numbers built lazily, caught up on new rows and rebuilt
when ``collection.generation`` changes (see docs/dev/engine-api.md).
"""

from __future__ import annotations

import os
import threading
import zlib
from itertools import repeat
from operator import itemgetter
from typing import Any, Sequence

import numpy as np

from ..errors import DataError, FilterError, ParamError
from ..schema import DataType, FunctionType
from ..text import Analyzer, TokenBatch, build_analyzer
from . import npzbytes
from .rows import SparseRow, SparseRows
from .storage import safe_name, write_atomic_with

DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
_HASH_MOD = 0xFFFFFFFF  # sparse indices must lie in [0, 2^32 - 1)
_STATE_KEY = "fulltext"
_TAIL_MIN = 1 << 16  # entries the tail may hold before it is merged into the main part
# up to this many entries a stable argsort groups them by term (about as fast as SciPy's counting
# sort there, and the 0.2 s import of scipy.sparse is not paid); above it, SciPy's O(n) sort
_SMALL_BUILD = 1 << 17
_lock = threading.RLock()


def _new_lock_in_fork_child() -> None:  # a parent thread may have held _lock at the fork
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_fork_child)


def token_hash(token: str) -> int:
    """The stable 32-bit key of a token in BM25 sparse vectors (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(token.encode("utf-8")) % _HASH_MOD


def _unique_int(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int array (a plain sort: faster than NumPy's hashing unique
    on large, mostly distinct keys)."""
    if len(a) < 2:
        return a.copy()
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def _distinct_hashes(keys: np.ndarray) -> np.ndarray:
    """``_unique_int`` of token hashes (see ``_hash_slots``)."""
    if len(keys) < _SLOTS_MIN:
        return _unique_int(keys)
    return _hash_slots(np.asarray(keys, dtype=np.int64))[0]


_SLOTS_MIN = 1 << 16   # keys from which a direct table beats sorting them
_SLOT_BITS = 20


def _hash_slots(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token hashes are uniform 32-bit values, few distinct among millions of postings: each key
    is written to a slot of a direct table by its low bits, and only the keys that lost their
    slot to another value are sorted with the slots' winners (a pass and a small sort instead
    of sorting millions). Returns ``(distinct keys sorted, the table: winner of each slot or
    _NO_KEY, positions of the keys that lost their slot)``. Done in blocks: the temporaries stay
    small and are reused (on a VM, every fresh page of a large temporary costs a page fault)."""
    table = np.full(1 << _SLOT_BITS, _NO_KEY, dtype=np.uint32)   # token hashes are < 2^32 - 1
    for a in range(0, len(keys), _BLOCK):
        block = keys[a:a + _BLOCK]
        table[block & _slot_mask()] = block   # of equal slots, one key wins
    lost = [a + np.flatnonzero(table[block & _slot_mask()] != block)
            for a in range(0, len(keys), _BLOCK) for block in (keys[a:a + _BLOCK],)]
    lost_at = np.concatenate(lost) if lost else np.zeros(0, np.int64)
    winners = table[table != _NO_KEY].astype(np.int64)
    return _unique_int(np.concatenate([winners, keys[lost_at]])), table, lost_at


_NO_KEY = np.uint32(0xFFFFFFFF)
_BLOCK = 1 << 18


def _slot_mask() -> int:
    return (1 << _SLOT_BITS) - 1


def _term_ids_of(state: "Postings", keys: np.ndarray) -> np.ndarray:
    """The postings' term id (int32) of every key, adding the new ones (callers hold _lock)."""
    if len(keys) < _SLOTS_MIN:
        uniq = _unique_int(keys)
        return state.term_ids(uniq.tolist(), add=True).astype(np.int32)[np.searchsorted(uniq, keys)]
    uniq, table, lost = _hash_slots(keys)
    ids = state.term_ids(uniq.tolist(), add=True).astype(np.int32)
    used = np.flatnonzero(table != _NO_KEY)
    slot_term = np.full(len(table), -1, dtype=np.int32)
    slot_term[used] = ids[np.searchsorted(uniq, table[used].astype(np.int64))]
    terms = np.empty(len(keys), dtype=np.int32)
    for a in range(0, len(keys), _BLOCK):   # right for every key that won its slot
        terms[a:a + _BLOCK] = slot_term[keys[a:a + _BLOCK] & _slot_mask()]
    if len(lost):
        terms[lost] = ids[np.searchsorted(uniq, keys[lost])]
    return terms


def _index_in(uniq: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(uniq, keys)`` for keys that all occur in the sorted, distinct ``uniq``:
    a direct table on the keys' low bits, with a binary search only for keys whose slot more
    than one value of ``uniq`` shares (millions of keys: a gather instead of a cache-missing
    binary search per key)."""
    if len(uniq) < 2 or len(keys) < 4 * len(uniq):
        return np.searchsorted(uniq, keys)
    bits = min(max(int(len(uniq)).bit_length() + 5, 10), 22)   # ~32 slots per value, <= 16 MiB
    mask = (1 << bits) - 1
    slot_of_uniq = uniq & mask
    table = np.full(1 << bits, -1, dtype=np.int32)
    table[slot_of_uniq] = np.arange(len(uniq), dtype=np.int32)
    shared = np.bincount(slot_of_uniq, minlength=1 << bits) > 1
    table[shared] = -1
    out = table[keys & mask].astype(np.int64)
    again = np.flatnonzero(out < 0)
    if len(again):
        out[again] = np.searchsorted(uniq, keys[again])
    return out


_hash_memo: dict[str, int] = {}   # token -> token_hash: most tokens of a batch were seen before
_HASH_MEMO_LIMIT = 1 << 21


def _hashes(vocab: Sequence[str]) -> np.ndarray:
    """``token_hash`` of each token (memoised: one dict lookup per known token)."""
    memo = _hash_memo
    out = np.fromiter(map(memo.get, vocab, repeat(-1, len(vocab))), dtype=np.int64, count=len(vocab))
    missing = np.flatnonzero(out < 0)
    if len(missing):
        if len(memo) > _HASH_MEMO_LIMIT:
            memo.clear()
        new = [vocab[i] for i in missing.tolist()]
        hashed = np.fromiter(map(zlib.crc32, map(str.encode, new)), dtype=np.int64, count=len(new))
        hashed %= _HASH_MOD   # token_hash of each, in C-level passes (a cold batch has thousands)
        memo.update(zip(new, hashed.tolist()))
        out[missing] = hashed
    return out


def _token_list_hashes(toks: list[str]) -> np.ndarray:
    """``token_hash`` of every entry of an analyzer's append-only token list
    (``Analyzer.token_ids``), kept in the list's ``derived`` dict and extended by new entries only."""
    derived = getattr(toks, "derived", None)
    if derived is None:
        return _hashes(toks)
    known = derived.get("token_hash")
    if known is None or len(known) < len(toks):
        done = 0 if known is None else len(known)
        new = _hashes(toks[done:])
        known = new if known is None else np.concatenate([known, new])
        derived["token_hash"] = known   # replaced whole: a concurrent reader keeps a complete array
    return known


# ---------------------------------------------------------------------------------------------
# analyzers of a field (one, or several chosen per row by a language field)
class FieldAnalyzers:
    """The analyzer(s) of a VARCHAR field: ``analyzer_params`` or ``multi_analyzer_params``."""

    def __init__(self, field: Any) -> None:
        params = field.params
        self.field = field.name
        multi = params.get("multi_analyzer_params")
        if multi is None:
            self.by_field = None
            self.analyzers = {"default": build_analyzer(params.get("analyzer_params"))}
            self.alias: dict[str, str] = {}
            return
        if params.get("analyzer_params") is not None:
            raise ParamError(f"field {field.name!r}: give analyzer_params or multi_analyzer_params, not both")
        if not isinstance(multi, dict) or not isinstance(multi.get("analyzers"), dict) or not multi["analyzers"]:
            raise ParamError(f"field {field.name!r}: multi_analyzer_params needs a non-empty 'analyzers' dict")
        by_field = multi.get("by_field")
        if not isinstance(by_field, str) or not by_field:
            raise ParamError(f"field {field.name!r}: multi_analyzer_params needs 'by_field' (the language field)")
        if "default" not in multi["analyzers"]:
            raise ParamError(f"field {field.name!r}: multi_analyzer_params needs a 'default' analyzer")
        self.by_field = by_field
        self.analyzers = {str(name): build_analyzer(p) for name, p in multi["analyzers"].items()}
        alias = multi.get("alias") or {}
        if not isinstance(alias, dict) or not all(v in self.analyzers for v in alias.values()):
            raise ParamError(f"field {field.name!r}: multi_analyzer_params 'alias' must map names to analyzers")
        self.alias = {str(k): str(v) for k, v in alias.items()}

    @property
    def names(self) -> list[str]:
        return list(self.analyzers)

    def resolve(self, name: Any) -> str:
        """The analyzer name for a language value (alias or name; unknown -> "default")."""
        if name is None:
            return "default"
        name = str(name)
        name = self.alias.get(name, name)
        return name if name in self.analyzers else "default"

    def get(self, name: Any = None, *, strict: bool = False) -> Analyzer:
        if strict and name is not None and self.alias.get(str(name), str(name)) not in self.analyzers:
            raise ParamError(f"field {self.field!r} has no analyzer {name!r}; analyzers: {self.names}")
        return self.analyzers[self.resolve(name)]

    def analyze_rows(self, texts: Sequence[str], languages: Sequence[Any] | None) -> tuple[TokenBatch, np.ndarray]:
        """One TokenBatch for all texts (each with its row's analyzer) and the analyzer index of
        each text (position in ``names``)."""
        n = len(texts)
        if self.by_field is None or languages is None:
            return self.analyzers["default"].analyze_batch(texts), np.zeros(n, dtype=np.int8)
        names = self.names
        which = np.fromiter((names.index(self.resolve(lang)) for lang in languages), dtype=np.int8, count=n)
        parts = []
        for k, name in enumerate(names):
            rows = np.flatnonzero(which == k)
            if len(rows):
                parts.append((rows, self.analyzers[name].analyze_batch([texts[i] for i in rows])))
        return _merge_batches(parts, n), which


def _merge_batches(parts: list[tuple[np.ndarray, TokenBatch]], n: int) -> TokenBatch:
    """Reassemble per-group batches (rows given by index arrays) into one batch in row order."""
    vocab_index: dict[str, int] = {}
    lengths = np.zeros(n, dtype=np.int64)
    for rows, b in parts:
        lengths[rows] = b.lengths
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.empty(int(offsets[-1]), dtype=np.int64)
    positions = np.empty(int(offsets[-1]), dtype=np.int64)
    for rows, b in parts:
        remap = np.fromiter((vocab_index.setdefault(t, len(vocab_index)) for t in b.vocab), dtype=np.int64, count=len(b.vocab))
        dest = np.repeat(offsets[rows], b.lengths) + (np.arange(len(b.ids)) - np.repeat(b.offsets[:-1], b.lengths))
        ids[dest] = remap[b.ids]
        positions[dest] = b.positions
    return TokenBatch(list(vocab_index), ids, offsets, positions)


def field_analyzers(collection: Any, field_name: str) -> FieldAnalyzers:
    """Cached analyzers of a field of a collection."""
    cache = collection.extensions.setdefault(_STATE_KEY, {})
    key = ("analyzers", field_name)
    fa = cache.get(key)
    if fa is None:
        field = collection.schema.field(field_name)
        if field is None:
            raise ParamError(f"collection {collection.name!r} has no field {field_name!r}")
        fa = cache[key] = FieldAnalyzers(field)
    return fa


# ---------------------------------------------------------------------------------------------
# the BM25 function on insert/upsert
def _bm25_functions(schema: Any) -> list[Any]:
    return [fn for fn in schema.functions if int(fn.type) == int(FunctionType.BM25)]


def apply_functions(collection: Any, rows: list) -> list:
    """Fill each BM25 function's output field in ``rows`` (dicts, modified in place and returned)
    with row ``i`` of :func:`function_columns`' batch (a ``SparseRow`` that reads as the
    ``{token_hash: term_frequency}`` dict of the analysed input text)."""
    for dst, vectors in function_columns(collection, rows).items():
        for i, row in enumerate(rows):
            if type(row) is dict or isinstance(row, dict):
                row[dst] = SparseRow(vectors, i)   # the column is taken whole by build_batch
    return rows


def function_columns(collection: Any, rows: list) -> dict[str, SparseRows]:
    """Each BM25 function's output column for ``rows`` (not modified): ``{output field:
    SparseRows}``, row ``i`` the term frequencies of row ``i``'s analysed input text, keyed by
    token hash. Writing an output field yourself is a DataError; a NULL or missing text (or a
    row that is not a dict: validation rejects it) gives an empty vector."""
    schema = collection.schema
    out: dict[str, SparseRows] = {}
    plain = set(map(type, rows)) <= {dict}   # every row a plain dict (one C-level pass)
    for fn in _bm25_functions(schema):
        src, dst = fn.input_field_names[0], fn.output_field_names[0]
        if not plain or any(map(dict.__contains__, rows, repeat(dst))):
            for i, row in enumerate(rows):
                if isinstance(row, dict) and dst in row:
                    raise DataError(
                        f"row {i}, field {dst!r}: this field is the output of BM25 function {fn.name!r} "
                        f"and is filled from {src!r}; do not write it"
                    )
        texts = _input_texts(rows, src, schema.field(src).default_value, plain)
        if not _all_utf8(texts):  # a lone surrogate: validation names the row and field
            texts = [t if _all_utf8([t]) else "" for t in texts]
        fa = field_analyzers(collection, src)
        languages = None
        if fa.by_field is not None:
            languages = [row.get(fa.by_field) if isinstance(row, dict) else None for row in rows]
        if languages is None:   # one analyzer: its token ids, hashed through a per-token table
            toks, ids, offsets = fa.get().token_ids(texts)
            keys = _token_list_hashes(toks)[ids]
        else:
            batch, _ = fa.analyze_rows(texts, languages)
            keys, offsets = _hashes(batch.vocab)[batch.ids], batch.offsets
        out[dst] = SparseRows(*_term_frequencies(keys, offsets))
    return out


def _input_texts(rows: list, src: str, default: Any, plain: bool) -> list[str]:
    """Each row's text of field ``src`` ("" for anything that is not a string: validation
    rejects what must be rejected)."""
    if plain:
        try:   # every row a dict with the field: one C-level pass
            texts = list(map(itemgetter(src), rows))
        except KeyError:
            texts = [row.get(src, default) for row in rows]
    else:
        texts = [row.get(src, default) if isinstance(row, dict) else "" for row in rows]
    if set(map(type, texts)) <= {str}:
        return texts
    return [t if isinstance(t, str) else "" for t in texts]


def _all_utf8(texts: list[str]) -> bool:
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _term_frequencies(keys: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``(indptr, token hashes ascending, term frequencies)`` of the documents whose token
    hashes are ``keys[offsets[i]:offsets[i + 1]]``."""
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    width = int(lengths.max()) if n else 0
    if 0 < n * width <= _GRID_SLACK * len(keys):
        return _term_frequencies_grid(keys, offsets, lengths, width)
    pairs = np.repeat(np.arange(n, dtype=np.int64) << 32, lengths)   # (document, hash) keys
    pairs |= keys   # hashes are < 2^32
    # already in document order: timsort ("stable") sorts the short runs and merges them, about
    # twice as fast here as quicksort over the whole batch (the same array: keys are integers)
    pairs.sort(kind="stable")
    first = np.ones(len(pairs), dtype=bool)   # the first of each run of equal keys
    np.not_equal(pairs[1:], pairs[:-1], out=first[1:])
    at = np.flatnonzero(first)
    counts = np.diff(at, append=len(pairs)).astype(np.float32)
    pairs = pairs[at]
    indptr = np.searchsorted(pairs >> 32, np.arange(n + 1)).astype(np.int64)
    return indptr, pairs & 0xFFFFFFFF, counts


# the grid path while its padding is at most this many times the tokens (documents of similar
# lengths, as a batch mostly is); beyond, the run sort above
_GRID_SLACK = 3
_PAD = np.uint32(0xFFFFFFFF)   # no token hash (they are < 2^32 - 1): sorts after every hash


def _term_frequencies_grid(keys: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, width: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_term_frequencies`` with the documents as the rows of one (documents x longest) uint32
    grid, padded with ``_PAD`` and sorted along its rows: NumPy sorts many short rows of 32-bit
    keys with SIMD sorting networks, several times faster than sorting the (document << 32 |
    hash) keys of the whole batch. Runs of equal hashes in a row are a document's terms."""
    n = len(lengths)
    cells = np.arange(0, (n + 1) * width, width, dtype=np.int64)   # each row's first cell; the end
    grid = np.full((n, width), _PAD, dtype=np.uint32)
    flat = grid.reshape(-1)
    at = np.arange(len(keys), dtype=np.int64)   # token j of document i goes to i * width + (j - offsets[i])
    at += np.repeat(cells[:-1] - offsets[:-1], lengths)
    flat[at] = keys.astype(np.uint32, copy=False)
    grid.sort(axis=1)
    first = np.empty((n, width), dtype=bool)   # the first of each run of equal hashes in a row
    first[:, 0] = True
    np.not_equal(grid[:, 1:], grid[:, :-1], out=first[:, 1:])
    first &= grid != _PAD
    starts = np.flatnonzero(first)   # row-major: documents in order, hashes ascending in each
    indptr = np.searchsorted(starts, cells).astype(np.int64)
    # a run ends where the next one starts, or, for a document's last term, at its length
    ends = np.empty(len(starts), dtype=np.int64)
    ends[:-1] = starts[1:]
    has = indptr[1:] > indptr[:-1]
    ends[indptr[1:][has] - 1] = cells[:-1][has] + lengths[has]
    counts = (ends - starts).astype(np.float32)
    return indptr, flat[starts].astype(np.int64), counts


# ---------------------------------------------------------------------------------------------
# posting lists in row numbers: a big sorted part plus a small tail rebuilt on catch-up
class Postings:
    """(row, term, payload) entries grouped by term, for rows ``[0, rows)`` of one generation.

    ``gather(term)`` returns the rows and payloads of a term in row order. Entries added by
    ``extend`` go to a tail (rebuilt on each catch-up) that is merged into the main part when it
    grows past a quarter of it, so catching up costs amortised O(new entries).
    """

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.rows = 0
        self.term_of: dict[Any, int] = {}  # term key -> dense term id
        self._main = _Sorted.empty()
        self._tail_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._tail_nnz = 0
        self._tail = _Sorted.empty()
        self.doc_len = np.zeros(0, dtype=np.float64)  # BM25: sum of tf per row
        self.analyzer_of_row = np.zeros(0, dtype=np.int8)  # match: index of each row's analyzer
        self.saved_rows = 0  # rows covered by the file last saved (persistence)
        self.bm25: Any = None  # bm25.Bm25Stats: live document frequencies (rebuilt, not saved)

    def to_arrays(self, kind: str) -> dict[str, np.ndarray]:
        keys = list(self.term_of)
        if kind == "bm25":
            key_array = np.asarray(keys, dtype=np.int64)
        else:
            key_array = np.asarray(keys, dtype=np.str_) if keys else np.zeros(0, dtype="<U1")
        tail_rows, tail_terms, tail_payload = self._concat(include_main=False)
        return {
            "meta": np.array([_FILE_VERSION, self.generation, self.rows, self._main.n_rows], dtype=np.int64),
            "keys": key_array,
            "main_indptr": self._main.indptr, "main_rows": self._main.rows, "main_payload": self._main.payload,
            "tail_rows": tail_rows, "tail_terms": tail_terms, "tail_payload": tail_payload,
            "doc_len": self.doc_len, "analyzer_of_row": self.analyzer_of_row,
        }

    @classmethod
    def from_arrays(cls, z: dict[str, np.ndarray]) -> "Postings":
        _, gen, rows, main_rows = (int(v) for v in z["meta"][:4])
        state = cls(gen)
        state.term_of = dict(zip(z["keys"].tolist(), range(len(z["keys"]))))
        # copy=False: the arrays may be read-only views of the verified file bytes, used as they are
        state._main = _Sorted(z["main_indptr"].astype(np.int64, copy=False),
                              z["main_rows"].astype(np.int32, copy=False),
                              z["main_payload"].astype(np.float32, copy=False), main_rows)
        if len(z["tail_rows"]):
            part = (z["tail_rows"].astype(np.int32, copy=False), z["tail_terms"].astype(np.int32, copy=False),
                    z["tail_payload"].astype(np.float32, copy=False))
            state._tail_parts, state._tail_nnz = [part], len(part[0])
            state._tail = _Sorted.build(*part)
        state.doc_len = z["doc_len"].astype(np.float64, copy=False)
        state.analyzer_of_row = z["analyzer_of_row"].astype(np.int8, copy=False)
        state.rows = state.saved_rows = rows
        return state

    def term_ids(self, keys: Sequence[Any], add: bool) -> np.ndarray:
        term_of = self.term_of
        if add:
            return np.fromiter((term_of.setdefault(k, len(term_of)) for k in keys), dtype=np.int64, count=len(keys))
        return np.fromiter((term_of.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

    def extend(self, rows: np.ndarray, terms: np.ndarray, payload: np.ndarray, upto: int) -> None:
        """Add entries of rows ``[self.rows, upto)`` (in row order). Callers hold ``_lock``;
        readers only see finished structures, so ``gather`` needs no lock."""
        if len(rows):
            # compact: 4-byte rows and terms, float32 payloads (tf counts and positions are exact)
            self._tail_parts.append((rows.astype(np.int32, copy=False), terms.astype(np.int32, copy=False),
                                     payload.astype(np.float32, copy=False)))
            self._tail_nnz += len(rows)
            if self._tail_nnz > max(_TAIL_MIN, self._main.nnz // 4):
                self._main = _Sorted.build(*self._concat(include_main=True))
                self._tail_parts, self._tail_nnz, self._tail = [], 0, _Sorted.empty()
            else:
                self._tail = _Sorted.build(*self._concat(include_main=False))
            self._parts = (self._main, self._tail)   # one assignment: gather sees both or neither
        self.rows = upto

    def _concat(self, include_main: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = list(self._tail_parts)
        if include_main and self._main.nnz:
            parts.insert(0, self._main.row_major())
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32)
        if len(parts) == 1:   # nothing to join (the first catch-up of a whole column): no copy
            return parts[0]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))  # type: ignore[return-value]

    def gather(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        # main and tail from one tuple: a merge running meanwhile would otherwise pair the new
        # main with the old tail (entries twice) or the old main with the empty tail (lost)
        main, tail = getattr(self, "_parts", None) or (self._main, self._tail)
        r1, p1 = main.get(term)
        r2, p2 = tail.get(term)
        if not len(r2):
            return r1, p1
        return np.concatenate([r1, r2]), np.concatenate([p1, p2])


def _csr_of(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> Any:
    """A SciPy CSR matrix over these (valid, same-dtype index) arrays as they are. Its
    constructor would copy any of them that is a view of a buffer more than twice its size
    (SciPy's prune: the payload is a view of the sparse column, whose buffer grows ahead), so
    the arrays are set on an empty matrix of the shape instead."""
    import scipy.sparse as sp

    m = sp.csr_array(shape, dtype=data.dtype)
    m.indptr, m.indices, m.data = indptr, indices, data
    return m


def _index_dtype(nnz: int) -> type:
    return np.int32 if nnz < (1 << 31) - 1 else np.int64


class _Sorted:
    """Entries grouped by term (rows ascending inside a term) with a term -> slice pointer array."""

    __slots__ = ("indptr", "rows", "payload", "n_rows")

    def __init__(self, indptr: np.ndarray, rows: np.ndarray, payload: np.ndarray, n_rows: int = 0) -> None:
        self.indptr, self.rows, self.payload, self.n_rows = indptr, rows, payload, n_rows

    @classmethod
    def empty(cls) -> "_Sorted":
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))

    @classmethod
    def build(cls, rows: np.ndarray, terms: np.ndarray, payload: np.ndarray) -> "_Sorted":
        """From entries in row order (rows non-decreasing): a counting sort by term (SciPy's
        CSR -> CSC conversion, O(entries)), which keeps row order, and the payload order of
        equal rows, inside each term."""
        if not len(rows):
            return cls.empty()
        n_rows, n_terms = int(rows[-1]) + 1, int(terms.max()) + 1
        if len(rows) <= _SMALL_BUILD:   # a tail: a stable argsort, same order, no scipy import
            order = np.argsort(terms, kind="stable")
            indptr = np.zeros(n_terms + 1, dtype=np.int64)
            np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
            return cls(indptr, np.asarray(rows[order], dtype=np.int32),
                       np.asarray(payload[order], dtype=np.float32), n_rows)
        import scipy.sparse as sp

        # int32 pointers while they fit: SciPy then keeps int32 indices throughout (an int64
        # indptr makes it copy the entries' indices to int64 and back)
        indptr = np.zeros(n_rows + 1, dtype=_index_dtype(len(rows)))
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        csc = _csr_of(indptr, terms, payload, (n_rows, n_terms)).tocsc()
        return cls(np.asarray(csc.indptr, dtype=np.int64), np.asarray(csc.indices, dtype=np.int32),
                   np.asarray(csc.data, dtype=np.float32), n_rows)

    def row_major(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries back in row order (CSC -> CSR, again a counting sort that keeps the
        order of equal (row, term) entries)."""
        import scipy.sparse as sp

        n_terms = len(self.indptr) - 1
        indptr = self.indptr.astype(_index_dtype(len(self.rows)), copy=False)
        csr = sp.csc_array((self.payload, self.rows, indptr), shape=(self.n_rows, n_terms)).tocsr()
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int32), np.diff(csr.indptr))
        return rows, np.asarray(csr.indices, dtype=np.int32), np.asarray(csr.data, dtype=np.float32)

    @property
    def nnz(self) -> int:
        return len(self.rows)

    def get(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term < 0 or term + 1 >= len(self.indptr):
            return self.rows[:0], self.payload[:0]
        a, b = self.indptr[term], self.indptr[term + 1]
        return self.rows[a:b], self.payload[a:b]


def _state(collection: Any, key: tuple, ahead_ok: bool = False) -> Any:
    """The shared postings of ``key``. ``ahead_ok``: the caller restricts itself to the view's
    rows, so postings a newer snapshot extended (rows [0, n) of a generation never change) serve."""
    cache = collection.extensions.setdefault(_STATE_KEY, {})
    state = cache.get(key)
    gen = getattr(collection, "generation", 0)
    check = getattr(collection, "check_current", None)   # a read view (engine/readview.py)
    if check is not None:
        check()   # a compaction moved on: never rebuild postings for an old generation
        if ahead_ok and state is not None and state.generation == gen:
            return state
        if state is not None and state.generation == gen and state.rows > collection.num_rows_total:
            from .readview import StaleViewError   # a newer snapshot caught the postings up

            raise StaleViewError(f"postings {key!r} cover rows past this view")
    if state is None or state.generation != gen or state.rows > collection.num_rows_total:
        state = cache[key] = _load_state(collection, key) or Postings(gen)
        _register_checkpoint_hook(collection)
    return state


# ---------------------------------------------------------------------------------------------
# persistence: posting lists are a cache of the columns, saved at checkpoints so that reopening
# a database does not re-analyse every text. Rows [0, k) of a generation never change (writes
# append, deletes only tombstone, compaction and truncate start a new generation), so a file
# saved for (generation g, k rows) is valid whenever the collection is at generation g with at
# least k rows; anything else (or any read error) means "rebuild".
_FILE_VERSION = 1


def _state_path(data_dir: Any, key: tuple) -> Any:
    return data_dir / f"fulltext-{key[0]}-{safe_name(key[1])}.npz"


def _register_checkpoint_hook(collection: Any) -> None:
    collection = getattr(collection, "owner", collection)   # the hook saves the collection, not a view
    cache = collection.extensions.setdefault(_STATE_KEY, {})
    hooks = getattr(collection, "checkpoint_hooks", None)
    if hooks is None or cache.get("hook") is not None:
        return

    def save_fulltext_indexes(data_dir: Any) -> None:
        _save_states(collection, data_dir)

    cache["hook"] = save_fulltext_indexes
    hooks.append(save_fulltext_indexes)


def _save_states(collection: Any, data_dir: Any) -> None:
    if data_dir is None:
        return
    with _lock:
        for key, state in list(collection.extensions.get(_STATE_KEY, {}).items()):
            if not (isinstance(key, tuple) and key[0] in ("bm25", "match") and isinstance(state, Postings)):
                continue
            if state.generation != collection.generation or state.rows == 0 or state.saved_rows == state.rows:
                continue
            path = _state_path(data_dir, key)
            arrays = state.to_arrays(key[0])
            write_atomic_with(path, lambda f: np.savez(f, **arrays))
            record = getattr(collection, "record_ext_file", None)
            if record is not None:  # its checksum goes into the next manifest
                record(path)
            state.saved_rows = state.rows


def _load_state(collection: Any, key: tuple) -> "Postings | None":
    data_dir = getattr(collection, "data_dir", None)
    if data_dir is None:
        return None
    path = _state_path(data_dir, key)
    if not path.exists():
        return None
    verified_bytes = getattr(collection, "ext_file_bytes", None)
    try:
        if verified_bytes is not None:   # one read, verified against the manifest's checksum
            data = verified_bytes(path)
            if data is None:
                return None  # damaged or unrecorded: rebuilt from the columns, rewritten at the next checkpoint
            z = npzbytes.arrays(data)   # views of the verified bytes: no copy, no second CRC pass
        else:
            with np.load(path, allow_pickle=False) as f:
                z = {name: f[name] for name in f.files}
        version, gen, rows = (int(v) for v in z["meta"][:3])
        if version != _FILE_VERSION or gen != collection.generation or rows > collection.num_rows_total:
            return None
        return Postings.from_arrays(z)
    except Exception:  # any unreadable file (BadZipFile, EOFError, ...) is a cache miss
        return None

# ---------------------------------------------------------------------------------------------
# BM25 search
class _SmallPages:
    """NumPy advises MADV_HUGEPAGE on its large buffers. On a virtual machine whose balloon
    reports free 2 MiB blocks to the host (free page reporting, order 9), a fresh huge page is
    often such a block, and its first touch waits for the host to back it: the ~100 MB of
    temporaries of a 100k-document posting build took 0.02 s of page faults in one process and
    0.3-0.5 s in the next (same faults, same code; bench/speed_bm25_ingest.py's bimodal index
    phase). 4 KiB pages cost a steady ~0.08 s there. Used under ``_lock``; process-wide while
    held (other threads' new buffers meanwhile get 4 KiB pages: speed only, same bytes)."""

    def __enter__(self) -> None:
        self.prev = _set_madvise_hugepage(False) if _set_madvise_hugepage else None

    def __exit__(self, *exc: object) -> None:
        if self.prev is not None:
            _set_madvise_hugepage(self.prev)


try:
    from numpy._core.multiarray import _set_madvise_hugepage   # NumPy 2 (private, hence optional)
except ImportError:  # pragma: no cover
    _set_madvise_hugepage = None


def _bm25_catch_up(state: Postings, m: Any, total: int) -> None:
    """Add rows ``[state.rows, total)`` of the sparse matrix ``m`` (callers hold _lock)."""
    with _SmallPages():
        _bm25_catch_up_rows(state, m, total)


def _bm25_catch_up_rows(state: Postings, m: Any, total: int) -> None:
    start = state.rows
    a, b = int(m.indptr[start]), int(m.indptr[total])
    counts = np.diff(np.asarray(m.indptr[start : total + 1], dtype=np.int64))
    # built in the postings' own dtypes (int32 rows and terms, float32 tf: counts are exact),
    # so extend() copies nothing
    local = np.repeat(np.arange(total - start, dtype=np.int32), counts)
    keys = np.asarray(m.indices[a:b], dtype=np.int64)
    tf = np.asarray(m.data[a:b], dtype=np.float32)
    terms = _term_ids_of(state, keys)
    dl = np.bincount(local, weights=tf, minlength=total - start)
    rows = local + np.int32(start) if start else local
    state.doc_len = np.concatenate([state.doc_len, dl])
    state.extend(rows, terms, tf, total)
    if state.bm25 is not None:
        state.bm25.append(terms, dl, len(state.term_of))


def _bm25_current(collection: Any, field: str, live: np.ndarray) -> bool:
    """Whether the postings and counts need nothing from the sparse column (reading it costs
    a pass over the whole column on a freshly opened database)."""
    with _lock:   # the postings saved at the last checkpoint, loaded on first use
        state = _state(collection, ("bm25", field), ahead_ok=True)
    if state.generation != collection.generation or state.rows != collection.num_rows_total:
        return False
    stats = state.bm25
    return stats is None or (stats.rows == state.rows and np.array_equal(stats.live, _fit(live, state.rows)))


def _bm25_statistics(collection: Any, field: str, live: np.ndarray):
    """Postings caught up to the view's rows, and the counts over the rows ``live`` marks among
    them: ``(state, stats, df, n_live, len_live, allowed, n)`` with ``allowed`` the live mask
    of length ``n`` (the view's rows). Posting lists may hold rows past ``n`` that a newer
    snapshot added: callers drop them.

    The shared counts (``state.bm25``) are maintained across queries, not recounted, but only
    by a view whose rows are exactly the postings' rows. A view older than the postings counts
    its own rows afresh and never writes the shared counts (its column ``m`` is too short to
    extend them). Everything shared is read and written under ``_lock`` only."""
    from .bm25 import Bm25Stats

    n = collection.num_rows_total
    m = None if _bm25_current(collection, field, live) else collection.sparse_vectors(field)
    while True:
        with _lock:
            state = _state(collection, ("bm25", field), ahead_ok=True)
            if m is not None:
                n = min(n, m.shape[0])
            if state.rows >= n or m is not None:
                if state.rows < n:
                    _bm25_catch_up(state, m, n)
                return _bm25_counts(state, m, _fit(live, n), n, Bm25Stats)
        # Read the column outside _lock: the collection's own lock is always taken first
        # (filters call text_match while holding it), never inside _lock.
        m = collection.sparse_vectors(field)


def _bm25_counts(state: Postings, m: Any, live: np.ndarray, n: int, Bm25Stats: Any):
    """(callers hold ``_lock``) See ``_bm25_statistics``; ``live`` has length ``n``."""
    if state.rows > n:   # an older snapshot: its own counts, rows [n, state.rows) dead
        stats = Bm25Stats()
        stats.recount(state, _fit(live, state.rows))
    else:
        stats = state.bm25
        if stats is None or stats.rows != state.rows or (m is None and not np.array_equal(stats.live, live)):
            stats = state.bm25 = Bm25Stats()
            stats.recount(state, live)
        else:
            def terms_of_rows(rows: np.ndarray) -> np.ndarray:
                starts = np.asarray(m.indptr, dtype=np.int64)[rows]
                counts = np.asarray(m.indptr, dtype=np.int64)[rows + 1] - starts
                at = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
                keys = np.asarray(m.indices, dtype=np.int64)[at]
                return state.term_ids(keys.tolist(), add=False)

            stats.sync(state, live, terms_of_rows)
    # df, live and the lengths are replaced, never written in place: safe to use after _lock
    return state, stats, stats.df, stats.n_live, stats.len_live, stats.live[:n], n


def bm25_params(collection: Any, field: str) -> tuple[float, float]:
    """k1 and b of a BM25 field: its index's ``bm25_k1``/``bm25_b``, else 1.2 and 0.75."""
    k1, b = DEFAULT_K1, DEFAULT_B
    for spec in (collection.meta or {}).get("indexes", []) or []:
        if isinstance(spec, dict) and spec.get("field_name") == field:
            p = spec.get("params") or {}
            k1 = p.get("bm25_k1", k1)
            b = p.get("bm25_b", b)
    try:
        k1, b = float(k1), float(b)
    except (TypeError, ValueError):
        raise ParamError(f"field {field!r}: bm25_k1 and bm25_b must be numbers, got {k1!r}, {b!r}") from None
    if not 1.2 <= k1 <= 3.0:
        raise ParamError(f"field {field!r}: bm25_k1 must be in [1.2, 3.0], got {k1}")
    if not 0.0 <= b <= 1.0:
        raise ParamError(f"field {field!r}: bm25_b must be in [0, 1], got {b}")
    return k1, b


def _input_field(collection: Any, output_field: str) -> str:
    for fn in _bm25_functions(collection.schema):
        if output_field in fn.output_field_names:
            return fn.input_field_names[0]
    raise ParamError(f"field {output_field!r} is not the output of a BM25 function")


def search_bm25(collection: Any, field: str, texts: Sequence[str], limit: int, mask: np.ndarray | None,
                params: dict | None, pk_of: Any = None, exhaustive: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``limit`` rows by BM25 for each query text, among rows allowed by ``mask`` (None = all
    live rows). Returns ``(rows (nq, limit) int64, -1 padded; scores (nq, limit) float32)``,
    best first, equal float32 scores by primary key (``pk_of``: row numbers -> keys; else by
    row). ``params``: ``drop_ratio_search``, ``analyzer_name`` (multi-analyzer fields).
    MaxScore pruning (engine/bm25.py) gives the same rows and scores as scoring every posting
    (``exhaustive=True``, the reference)."""
    from . import bm25
    from .index.sparse import parse_drop_ratio_search

    params = dict(params or {})
    drop_ratio = parse_drop_ratio_search(params)
    k1, b = bm25_params(collection, field)
    fa = field_analyzers(collection, _input_field(collection, field))
    analyzer = fa.get(params.get("analyzer_name"), strict=True)
    nq = len(texts)
    out_rows = np.full((nq, limit), -1, dtype=np.int64)
    out_scores = np.zeros((nq, limit), dtype=np.float32)
    if nq == 0 or limit <= 0:
        return out_rows, out_scores
    if not _all_utf8(list(texts)):
        i = next(i for i, t in enumerate(texts) if not _all_utf8([t]))
        raise ParamError(f"search text {i} holds a lone surrogate character, which is not valid "
                         "Unicode (text must be valid UTF-8)")
    query_hashes = _query_hashes(analyzer, texts)
    state, stats, df_all, n_live, len_live, live, total = _bm25_statistics(collection, field, collection.mask())
    if n_live == 0:
        return out_rows, out_scores
    allowed = live if mask is None else live & _fit(mask, total)
    doc_len = state.doc_len[:total]
    avgdl = float(len_live) / n_live
    if avgdl <= 0:
        return out_rows, out_scores
    for q, hashes in enumerate(query_hashes):
        ids = state.term_ids(hashes.tolist(), add=False)
        known = (ids >= 0) & (ids < len(df_all))   # terms first seen past this view: df 0
        ids = ids[known]
        if not len(ids):
            continue
        qterms, first, qcount = np.unique(ids, return_index=True, return_counts=True)
        # terms in the order of their hashes, not of their ids: the ids depend on when the
        # postings were built (one catch-up at a time, or all at once by a rebuild), and the
        # terms' float64 contributions are summed in this order
        by_hash = np.argsort(hashes[known][first], kind="stable")
        qterms, qcount = qterms[by_hash], qcount[by_hash]
        df = df_all[qterms].astype(np.float64)
        idf = np.log1p((n_live - df + 0.5) / (df + 0.5))
        weight = qcount * idf
        use = np.flatnonzero(_keep_after_drop(weight, drop_ratio) & (df > 0))
        if not len(use):
            continue
        lists = [_rows_below(state.gather(int(t)), total) for t in qterms[use]]
        if exhaustive or sum(len(r) for r, _ in lists) <= bm25.PRUNE_MIN:   # short lists: score all
            cand, scores = bm25.score_exhaustive(lists, weight[use], k1, b, avgdl, doc_len, allowed)
            cand, scores32 = bm25.select_with_ties(cand, scores.astype(np.float32), limit)
        else:
            by_impact = [bm25.impact_order(state, stats, int(t), k1, b, avgdl, total) for t in qterms[use]]
            cand, scores32 = bm25.top_candidates(lists, weight[use], by_impact, limit, k1, b, avgdl,
                                                 doc_len, allowed)
        if not len(cand):
            continue
        top_rows, top_keys = _select_by_key(cand, scores32, limit, pk_of)
        out_rows[q, : len(top_rows)] = top_rows
        out_scores[q, : len(top_rows)] = -top_keys
    return out_rows, out_scores


def _query_hashes(analyzer: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """The token hashes of each query text, in token order. One text (a search's usual query)
    takes the analyzer's single-text path, a few microseconds with its chunks memoised; a
    batch's vocabulary and arrays cost ~40-80 us to build for a few words. Both give the same
    tokens."""
    if len(texts) == 1:
        return [_hashes(analyzer(texts[0]))]
    batch = analyzer.analyze_batch(list(texts))
    hashes = _hashes(batch.vocab)
    return [hashes[batch.ids[batch.offsets[q]:batch.offsets[q + 1]]] for q in range(len(texts))]


def _rows_below(entries: tuple[np.ndarray, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """A posting list (rows ascending) cut to the rows ``[0, n)`` a view sees."""
    rows, payload = entries
    end = int(np.searchsorted(rows, n))
    return rows[:end], payload[:end]


_FEW = 64   # candidates _select_by_key orders in Python


def _select_by_key(cand: np.ndarray, scores32: np.ndarray, limit: int, pk_of: Any) -> tuple[np.ndarray, np.ndarray]:
    """Best ``limit`` of the candidates by (score descending, primary key or row ascending)."""
    if pk_of is not None and len(cand) <= _FEW:
        # the usual answer: about ``limit`` candidates. Python's sort of them by (score
        # descending, primary key ascending) is the same order; topk.select's NumPy passes
        # cost ~100 us on so few rows. Primary keys are read only when two scores are equal.
        s = scores32.tolist()
        if len(set(s)) == len(s):
            order = sorted(range(len(s)), key=s.__getitem__, reverse=True)[:limit]
        else:
            pks = pk_of(cand).tolist()   # ints or strs: Python orders them as NumPy does
            order = sorted(range(len(s)), key=lambda i: (-s[i], pks[i]))[:limit]
        top = np.array(order, dtype=np.int64)
        return cand[top].astype(np.int64), -scores32[top]
    if pk_of is not None:
        from .index import topk

        rows, keys = topk.select(-scores32[None, :], cand.astype(np.int64), limit, pk_of)
        n = int((rows[0] >= 0).sum())
        return rows[0, :n], keys[0, :n]
    order = np.lexsort((cand, -scores32))[:limit]
    return cand[order].astype(np.int64), -scores32[order]


def _keep_after_drop(weight: np.ndarray, ratio: float) -> np.ndarray:
    """Milvus drop_ratio_search: ignore the floor(ratio * n) smallest query weights."""
    keep = np.ones(len(weight), dtype=bool)
    drop = int(np.floor(ratio * len(weight)))
    if drop > 0:
        keep[np.argsort(weight, kind="stable")[:drop]] = False
    return keep


def _fit(mask: np.ndarray, n: int) -> np.ndarray:
    """A bool mask cut or padded (with False) to length n."""
    mask = np.asarray(mask, dtype=bool)
    if len(mask) == n:
        return mask
    if len(mask) > n:
        return mask[:n]
    return np.concatenate([mask, np.zeros(n - len(mask), dtype=bool)])


# ---------------------------------------------------------------------------------------------
# text_match / phrase_match
def _match_field(collection: Any, field: str) -> Any:
    f = collection.schema.field(field)
    if f is None:
        raise FilterError(f"text_match/phrase_match: collection {collection.name!r} has no field {field!r}")
    if f.dtype != DataType.VARCHAR or not f.params.get("enable_analyzer") or not f.params.get("enable_match"):
        raise FilterError(
            f"text_match/phrase_match on field {field!r} needs a VARCHAR field with "
            "enable_analyzer=True and enable_match=True"
        )
    return f


def _match_index(collection: Any, field: str) -> Postings:
    """Positional posting lists (payload = token position) of an enable_match field."""
    fa = field_analyzers(collection, field)
    source = collection.source  # columns are read before _lock, as in _bm25_statistics
    text_values = source.column(field).values
    lang_values = source.column(fa.by_field).values if fa.by_field is not None else None
    with _lock:
        state = _state(collection, ("match", field))
        total = min(collection.num_rows_total, len(text_values))
        if state.rows < total:
            start = state.rows
            texts = [str(t) for t in text_values[start:total].tolist()]
            languages = None
            if lang_values is not None:
                languages = lang_values[start:total].tolist()
            batch, which = fa.analyze_rows(texts, languages)
            rows = np.repeat(np.arange(start, total, dtype=np.int64), batch.lengths)
            terms = state.term_ids(batch.vocab, add=True)[batch.ids]
            state.analyzer_of_row = np.concatenate([state.analyzer_of_row, which])
            state.extend(rows, terms, batch.positions.astype(np.float64), total)
        return state


def _per_analyzer(collection: Any, field: str, text: str):
    """Yield (rows-of-this-analyzer mask or None, query TokenBatch) for each analyzer of the field."""
    state = _match_index(collection, field)
    fa = field_analyzers(collection, field)
    for k, name in enumerate(fa.names):
        group = None if fa.by_field is None else state.analyzer_of_row[: state.rows] == k
        if group is not None and not group.any():
            continue
        yield state, group, fa.analyzers[name].analyze_batch([text])


def text_match(collection: Any, field: str, query: str, minimum_should_match: int = 1) -> np.ndarray:
    """Rows whose analysed ``field`` contains at least ``minimum_should_match`` of the distinct
    analysed query tokens (1 = any of them)."""
    _match_field(collection, field)
    if not isinstance(query, str):
        raise FilterError(f"text_match: the query must be a string, got {query!r}")
    msm = minimum_should_match
    if isinstance(msm, bool) or not isinstance(msm, (int, np.integer)) or msm < 1:
        raise FilterError(f"text_match: minimum_should_match must be an integer >= 1, got {msm!r}")
    total = collection.num_rows_total
    result = np.zeros(total, dtype=bool)
    for state, group, batch in _per_analyzer(collection, field, query):
        terms = state.term_ids(list(dict.fromkeys(batch.vocab)), add=False)
        counts = np.zeros(total, dtype=np.int64)
        for t in terms[terms >= 0]:   # a newer snapshot may extend the postings meanwhile: cut
            rows, _ = _rows_below(state.gather(int(t)), total)
            has = np.zeros(total, dtype=bool)
            has[rows] = True
            counts += has
        hit = counts >= msm
        result |= hit if group is None else hit & _fit(group, total)
    return result


def phrase_match(collection: Any, field: str, phrase: str, slop: int = 0) -> np.ndarray:
    """Rows whose analysed ``field`` contains the analysed phrase's tokens in order, allowing
    ``slop`` position moves in total (Lucene/Milvus sloppy phrase: with positions ``p_i`` of the
    document tokens matched to query positions ``q_i``, ``max(p_i - q_i) - min(p_i - q_i) <= slop``;
    so slop 0 = exact phrase, slop 1 = one extra word in between, slop 2 also allows swapping
    two adjacent words)."""
    _match_field(collection, field)
    if not isinstance(phrase, str):
        raise FilterError(f"phrase_match: the phrase must be a string, got {phrase!r}")
    if isinstance(slop, bool) or not isinstance(slop, (int, np.integer)) or slop < 0:
        raise FilterError(f"phrase_match: slop must be an integer >= 0, got {slop!r}")
    total = collection.num_rows_total
    result = np.zeros(total, dtype=bool)
    for state, group, batch in _per_analyzer(collection, field, phrase):
        if not len(batch.ids):
            continue
        hit = _phrase_rows(state, batch, int(slop), total)
        result |= hit if group is None else hit & _fit(group, total)
    return result


_POS_SPAN = 1 << 31  # keys are row * 2^32 + (relative position + 2^31)


def _phrase_rows(state: Postings, batch: TokenBatch, slop: int, total: int) -> np.ndarray:
    qpos = batch.positions - batch.positions.min()
    term_ids = state.term_ids(batch.vocab, add=False)[batch.ids]
    hit = np.zeros(total, dtype=bool)
    if (term_ids < 0).any():
        return hit
    cache = {t: _rows_below(state.gather(t), total) for t in set(term_ids.tolist())}   # view's rows only
    # a slop wider than any document's span is the same as that span: bound the expansion
    widest = max(int(pos.max()) if len(pos) else 0 for _, pos in cache.values()) + int(qpos.max())
    slop = min(slop, widest)
    # Anchors s such that each query token i has an occurrence with p - q_i in [s, s + slop].
    anchors: np.ndarray | None = None
    offsets = np.arange(slop + 1, dtype=np.int64)
    for t, q in zip(term_ids.tolist(), qpos.tolist()):
        rows, pos = cache[t]
        if anchors is not None:  # only rows still in the running
            keep = np.isin(rows, anchors >> 32)
            rows, pos = rows[keep], pos[keep]
        rel = pos.astype(np.int64) - q + _POS_SPAN
        keys = ((rows.astype(np.int64) << 32) + rel)[:, None] - offsets[None, :]
        keys = _unique_int(keys.ravel())
        anchors = keys if anchors is None else np.intersect1d(anchors, keys, assume_unique=True)
        if not len(anchors):
            return hit
    if anchors is None:
        return hit
    rows = _unique_int(anchors >> 32)
    if len(set(term_ids.tolist())) < len(term_ids):
        # A token repeated in the phrase needs distinct document positions: check exactly.
        rows = np.array([r for r in rows.tolist() if _phrase_ok_repeated(
            r, anchors, term_ids, qpos, slop, cache)], dtype=np.int64)
    hit[rows] = True
    return hit


def _phrase_ok_repeated(row: int, anchors: np.ndarray, term_ids: np.ndarray, qpos: np.ndarray, slop: int,
                        cache: dict[int, tuple[np.ndarray, np.ndarray]]) -> bool:
    """Exact check for one row: some anchor s admits distinct positions for repeated tokens."""
    row_anchors = (anchors[(anchors >> 32) == row] & 0xFFFFFFFF) - _POS_SPAN
    positions = {}
    for t in set(term_ids.tolist()):
        rows, pos = cache[t]
        positions[t] = np.sort(pos[rows == row].astype(np.int64)).tolist()
    groups: dict[int, list[int]] = {}
    for t, q in zip(term_ids.tolist(), qpos.tolist()):
        groups.setdefault(t, []).append(q)
    for s in row_anchors.tolist():
        ok = True
        for t, qs in groups.items():
            # intervals [s+q, s+q+slop] of equal length, by start: greedy is optimal
            avail, j = positions[t], 0
            for q in sorted(qs):
                lo, hi = s + q, s + q + slop
                while j < len(avail) and avail[j] < lo:
                    j += 1
                if j == len(avail) or avail[j] > hi:
                    ok = False
                    break
                j += 1
            if not ok:
                break
        if ok:
            return True
    return False
