"""The analyzer's NumPy batch path (whole batch as one translated byte buffer, chunks keyed and
looked up in a hash index: text/chunkkeys.py) against the per-text path it speeds up: same
tokens, token ids, positions and batch vocabulary, for random texts full of Unicode, empty
strings, punctuation, NUL bytes and words around the 8- and 16-byte key widths, for every
analyzer the code supports; and the BM25 function's output built on it against a plain
per-document reference."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import embedb
from embedb.engine import fulltext
from embedb.text import LANGUAGES, analyzer as analyzer_module, build_analyzer, chunkkeys

PIECES = ["the", "The", "RUNNING", "dogs", "café", "Café", "naïve", "straße", "ÄPFEL", "x", "3.14", "foo_bar",
          "don't", "e-mail", "中文字", "東京タワー", "ひらがな", "кошки", "Ελληνικά", "İstanbul", "ǅemal", "a\u0301",
          "😀x", "\x00", "\t", "\n", "--", "!!!", "...", "“q”", "1,000", "abcdefgh", "abcdefghi", "abcdefghijklmnop",
          "abcdefghijklmnopq", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "x" * 200, "éééééééé", "éééééééééé", " ", ""]


def random_texts(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 30))
        seps = rng.choice([" ", "  ", "", ",", ". ", "\n", "-"], size=k)
        out.append("".join(str(p) + str(s) for p, s in zip(rng.choice(PIECES, size=k), seps)))
    return out + ["", " ", "...", "a" * 5000, "Ü" * 17]


def zipf_texts(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(3000)] + ["Running", "runs", "the", "and", "über"])
    return [" ".join(rng.choice(words, int(rng.integers(0, 60)))) for _ in range(n)]


ANALYZERS = ([None, {"type": "standard", "stop_words": ["the", "x"]}]
             + [{"type": code} for code in LANGUAGES if code != "zh"]
             + [{"tokenizer": "standard", "filter": ["asciifolding", "lowercase"]},        # lowercase not first
                {"tokenizer": "standard", "filter": []},                                  # case kept
                {"tokenizer": "icu", "filter": ["lowercase", {"type": "length", "max": 5}]},
                {"tokenizer": "standard", "filter": ["lowercase", {"type": "decompounder",
                                                                   "word_list": ["ab", "cd", "foo", "bar"]}]},
                {"tokenizer": "standard", "filter": ["lowercase", "alphanumonly", {"type": "regex", "expr": "^[a-w]+$"}]},
                {"tokenizer": "whitespace", "filter": ["lowercase", "removepunct"]}])


def fresh(params) -> analyzer_module.Analyzer:
    a = build_analyzer(params)
    return analyzer_module.Analyzer(a.tokenizer, a.filters, params=a.params)


def both_paths(monkeypatch, a, texts):
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 1 << 62)
    per_text = a.analyze_batch(texts)
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 0)
    whole = a.analyze_batch(texts)
    return per_text, whole


def assert_same(b1, b2):
    assert b1.vocab == b2.vocab
    for name in ("ids", "offsets", "positions"):
        assert getattr(b1, name).tolist() == getattr(b2, name).tolist(), name


@pytest.mark.parametrize("params", ANALYZERS, ids=lambda p: str(p))
def test_byte_path_equals_per_text_path(monkeypatch, params):
    texts = random_texts(1, 400) + zipf_texts(2, 300)
    want = [fresh(params)(t) for t in texts]   # one text at a time, its own analyzer
    a = fresh(params)
    for start in range(0, len(texts), 150):    # batches on a warming memo
        part = texts[start:start + 150]
        per_text, whole = both_paths(monkeypatch, a, part)
        assert [whole.tokens(i) for i in range(len(part))] == want[start:start + 150]
        assert_same(per_text, whole)
    cold = fresh(params)                        # a cold memo, the byte path first
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 0)
    toks, ids, offsets = cold.token_ids(texts)
    assert [[toks[k] for k in ids[offsets[i]:offsets[i + 1]]] for i in range(len(texts))] == want
    assert_same(cold.analyze_batch(texts), both_paths(monkeypatch, fresh(params), texts)[0])


def test_chinese_jieba_batches(monkeypatch):
    pytest.importorskip("jieba")
    texts = ["数据库 data base 中文分词", "", "東京タワーに行きました", "Mixed 中文 and English words"] * 50
    a = fresh({"type": "chinese"})
    per_text, whole = both_paths(monkeypatch, a, texts)
    assert_same(per_text, whole)
    assert [whole.tokens(i) for i in range(len(texts))] == [a(t) for t in texts]


def test_memo_resets_inside_the_byte_path(monkeypatch):
    monkeypatch.setattr(analyzer_module, "_MEMO_LIMIT", 50)
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 0)
    texts = zipf_texts(3, 200) + random_texts(4, 100)
    want = [fresh({"type": "english"})(t) for t in texts]
    a = fresh({"type": "english"})
    for start in range(0, len(texts), 60):
        batch = a.analyze_batch(texts[start:start + 60])
        assert [batch.tokens(i) for i in range(batch.offsets.size - 1)] == want[start:start + 60]


def test_chunks_added_by_the_per_text_path_are_found_later(monkeypatch):
    a = fresh(None)
    texts = zipf_texts(5, 100)
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 1 << 62)
    first = a.analyze_batch(texts)            # fills the dict only
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 0)
    assert_same(first, a.analyze_batch(texts))   # indexes them
    before = a._table.index.count
    assert_same(first, a.analyze_batch(texts))   # found in the index: nothing added
    assert a._table.index.count == before > 0


def test_concurrent_byte_path_batches_agree(monkeypatch):
    monkeypatch.setattr(analyzer_module, "_BYTES_PATH_MIN", 0)
    a = fresh({"type": "english"})
    batches = [zipf_texts(10 + b, 200) + random_texts(20 + b, 50) for b in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(a.analyze_batch, batches))
    ref = fresh({"type": "english"})
    for texts, batch in zip(batches, results):
        assert [batch.tokens(i) for i in range(len(texts))] == [ref(t) for t in texts]


def test_chunk_index_against_a_dict():
    rng = np.random.default_rng(0)
    index, ref = chunkkeys.ChunkIndex(bits=4), {}
    for step in range(30):
        w0 = rng.integers(0, 50, size=200).astype(np.uint64) * np.uint64(0x0101010101)
        w1 = rng.integers(0, 3, size=200).astype(np.uint64)
        got = index.lookup(w0, w1)
        want = np.array([ref.get((a, b), -1) for a, b in zip(w0.tolist(), w1.tolist())])
        assert got.tolist() == want.tolist()
        new = {}
        for a, b in zip(w0.tolist(), w1.tolist()):
            if (a, b) not in ref and (a, b) not in new:
                new[(a, b)] = len(ref) + len(new)
        if new:
            keys = np.array(list(new), dtype=np.uint64).reshape(-1, 2)
            index.add(keys[:, 0], keys[:, 1], np.array(list(new.values())))
            ref.update(new)


def test_chunk_keys_are_the_bytes():
    data = b"ab abcdefgh abcdefghi abcdefghijklmnop \xc3\xa9t\xc3\xa9 x"
    starts, ends = chunkkeys.spans(data)
    assert [data[a:b] for a, b in zip(starts, ends)] == data.split()
    w0, w1 = chunkkeys.keys(data, starts, ends - starts)
    for a, b, k0, k1 in zip(starts, ends, w0.tolist(), w1.tolist()):
        chunk = data[a:b].ljust(16, b"\x00")
        assert (k0, k1) == (int.from_bytes(chunk[:8], "little"), int.from_bytes(chunk[8:16], "little"))


def bm25_schema(client, params=None):
    """id (INT64 primary key), text (analysed with ``params``, else the standard analyzer) and
    sparse, filled by a BM25 function of text."""
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    kwargs = {} if params is None else {"analyzer_params": params}
    schema.add_field("text", embedb.DataType.VARCHAR, max_length=20000, enable_analyzer=True, **kwargs)
    schema.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                        input_field_names=["text"], output_field_names=["sparse"]))
    return schema


@pytest.mark.parametrize("params", [None, {"type": "english"}, {"type": "german"}])
def test_bm25_function_output_equals_counted_token_hashes(params):
    client = embedb.MilvusClient(":memory:")
    client.create_collection("docs", schema=bm25_schema(client, params))
    coll = client._db.get_collection("docs")
    analyzer = fresh(params)
    texts = random_texts(6, 300) + zipf_texts(7, 300)
    for start in range(0, len(texts), 250):
        part = texts[start:start + 250]
        rows = fulltext.apply_functions(coll, [{"id": i, "text": t} for i, t in enumerate(part)])
        for t, row in zip(part, rows):
            want = Counter(fulltext.token_hash(tok) for tok in analyzer(t))
            assert dict(row["sparse"]) == {k: float(v) for k, v in want.items()}
            assert list(row["sparse"]) == sorted(want)
    client.close()


@pytest.mark.parametrize("n_distinct", [1, 1000, 3_000_000])
def test_distinct_hashes_equal_sorted_unique(n_distinct):
    rng = np.random.default_rng(n_distinct)
    pool = rng.integers(0, 2**32 - 1, size=n_distinct)
    keys = pool[rng.integers(0, n_distinct, size=200_000)]
    assert fulltext._distinct_hashes(keys).tolist() == np.unique(keys).tolist()


@pytest.mark.parametrize("slot_bits", [20, 6])   # 6: most keys lose their slot
def test_posting_term_ids_equal_searchsorted(monkeypatch, slot_bits):
    monkeypatch.setattr(fulltext, "_SLOT_BITS", slot_bits)
    rng = np.random.default_rng(slot_bits)
    state = fulltext.Postings(0)
    seen: list[int] = []
    for n in (100_000, 1000, 300_000):   # term ids accumulate across calls, in first-seen order
        keys = rng.integers(0, 2**32 - 1, size=5000)[rng.integers(0, 5000, size=n)]
        got = fulltext._term_ids_of(state, keys)
        uniq = np.unique(keys)
        seen += [k for k in uniq.tolist() if k not in set(seen)]
        order = {k: i for i, k in enumerate(dict.fromkeys(seen))}
        assert got.dtype == np.int32
        assert got.tolist() == [order[k] for k in keys.tolist()]


def test_term_frequencies_equal_numpy_unique():
    rng = np.random.default_rng(0)
    for trial in range(200):
        lens = rng.integers(0, 20, int(rng.integers(0, 30)))
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        keys = rng.integers(0, 2**32 - 1, int(offsets[-1]))
        if trial % 2:
            keys %= 7   # many repeats
        docs = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
        pairs, counts = np.unique(docs * 2**32 + keys, return_counts=True)
        indptr, indices, data = fulltext._term_frequencies(keys, offsets)
        assert indptr.tolist() == np.searchsorted(pairs // 2**32, np.arange(len(lens) + 1)).tolist()
        assert indices.tolist() == (pairs % 2**32).tolist() and data.tolist() == counts.tolist()
        assert indices.dtype == np.int64 and data.dtype == np.float32


def test_posting_build_equals_scipy_with_its_own_checks():
    """_Sorted.build sets the arrays on an empty SciPy matrix (no prune copy of a payload that
    is a view of a larger buffer) and uses int32 pointers: same lists as the checked constructor."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n = 8000
    counts = rng.integers(0, 60, n)
    rows = np.repeat(np.arange(n, dtype=np.int32), counts)
    assert len(rows) > fulltext._SMALL_BUILD
    terms = rng.integers(0, 500, len(rows)).astype(np.int32)
    payload = np.arange(len(rows) * 3, dtype=np.float32)[:len(rows)]   # a view of a 3x buffer
    built = fulltext._Sorted.build(rows, terms, payload)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    csc = sp.csr_array((payload, terms, indptr), shape=(n, int(terms.max()) + 1)).tocsc()
    assert built.indptr.tolist() == csc.indptr.tolist()
    assert built.rows.tolist() == csc.indices.tolist() and built.payload.tolist() == csc.data.tolist()
    assert (built.indptr.dtype, built.rows.dtype, built.payload.dtype) == (np.int64, np.int32, np.float32)
    back = sp.csc_array((built.payload, built.rows, built.indptr), shape=(n, len(built.indptr) - 1)).tocsr()
    rows_back, terms_back, payload_back = built.row_major()
    assert rows_back.tolist() == np.repeat(np.arange(n), np.diff(back.indptr)).tolist()
    assert terms_back.tolist() == back.indices.tolist() and payload_back.tolist() == back.data.tolist()
