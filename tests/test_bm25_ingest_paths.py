"""The BM25 ingest path's faster pieces against plain references: the one-word chunk index
(chunks of <= 8 bytes keyed by their bytes alone) against a dict, the chunk keys of the
<= 8-byte fast path against the general keys, the grid term-frequency count against NumPy's
unique (both paths, documents of very different lengths), and the BM25 function's output
through a real insert against the analyzer applied row by row."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
from test_text_batch_paths import bm25_schema

import embedb
from embedb.engine import fulltext
from embedb.text import analyzer as analyzer_module, build_analyzer, chunkkeys


def test_one_word_chunk_index_against_a_dict():
    rng = np.random.default_rng(1)
    index, ref = chunkkeys.ChunkIndex(bits=4, words=1), {}
    for _ in range(40):
        w0 = rng.integers(1, 300, size=300).astype(np.uint64) * np.uint64(0x0101010101)
        got = index.lookup(w0)
        assert got.tolist() == [ref.get(k, -1) for k in w0.tolist()]
        new = [k for k in dict.fromkeys(w0.tolist()) if k not in ref]
        if new:
            ids = np.arange(len(ref), len(ref) + len(new))
            index.add(np.array(new, dtype=np.uint64), None, ids)
            ref.update(zip(new, ids.tolist()))
    assert index.count == len(ref)


def test_chunk_keys_split_by_width_against_a_dict():
    rng = np.random.default_rng(2)
    words = [bytes(rng.integers(97, 123, size=int(k)).astype(np.uint8)) for k in rng.integers(1, 17, size=400)]
    keys, ref = chunkkeys.ChunkKeys(), {}
    for _ in range(20):
        picked = [words[i] for i in rng.integers(0, len(words), size=200)]
        data = b" ".join(picked)
        starts, ends = chunkkeys.spans(data)
        lengths = ends - starts
        w0, w1 = chunkkeys.keys(data, starts, lengths)
        assert keys.lookup(w0, w1, lengths).tolist() == [ref.get(w, -1) for w in picked]
        new = [w for w in dict.fromkeys(picked) if w not in ref]
        at = np.array([picked.index(w) for w in new], dtype=np.int64)
        ids = np.arange(len(ref), len(ref) + len(new))
        keys.add(w0[at], w1[at], lengths[at], ids)
        ref.update(zip(new, ids.tolist()))
    assert keys.count == len(ref)


def test_first_word_keys_equal_the_general_keys():
    data = b"a ab abcdefg abcdefgh \xc3\xa9t\xc3\xa9 x zz"
    starts, ends = chunkkeys.spans(data)
    w0, w1 = chunkkeys.keys(data, starts, ends - starts)
    fast, none = chunkkeys.keys(data, starts, ends - starts, first_only=True)
    assert none is None and fast.tolist() == w0.tolist() and not w1.any()


def reference_tf(keys: np.ndarray, offsets: np.ndarray):
    lens = np.diff(offsets)
    docs = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    pairs, counts = np.unique(docs * 2**32 + keys, return_counts=True)
    indptr = np.searchsorted(pairs // 2**32, np.arange(len(lens) + 1))
    return indptr.tolist(), (pairs % 2**32).tolist(), counts.tolist()


@pytest.mark.parametrize("slack", [0, 3, 10**9])   # 0: always the run sort; 10**9: always the grid
def test_term_frequencies_both_paths_equal_numpy_unique(monkeypatch, slack):
    monkeypatch.setattr(fulltext, "_GRID_SLACK", slack)
    rng = np.random.default_rng(slack % 1000)
    for trial in range(150):
        n = int(rng.integers(0, 40))
        lens = rng.integers(0, 30, n)
        if trial % 3 == 0 and n:
            lens[rng.integers(0, n)] = 500   # one long document among short ones
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        keys = rng.integers(0, 2**32 - 1, int(offsets[-1]))
        if trial % 2:
            keys %= 5   # many repeats
        if trial % 5 == 0 and len(keys):
            keys[:] = 2**32 - 2   # the largest hash, next to the grid's padding value
        indptr, indices, data = fulltext._term_frequencies(keys, offsets)
        assert (indptr.tolist(), indices.tolist(), data.tolist()) == reference_tf(keys, offsets)
        assert (indptr.dtype, indices.dtype, data.dtype) == (np.int64, np.int64, np.float32)


def texts_of_mixed_lengths(seed: int, n: int, longest: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(2000)] + ["Running", "the", "über", "abcdefghijkl", "x" * 40, "Straße"]
    out = []
    for _ in range(n):
        k = int(rng.choice([0, 3, 40, 60, longest], p=[0.05, 0.2, 0.4, 0.3, 0.05]))
        out.append(" ".join(rng.choice(words, k)) + ("!" if k % 2 else ""))
    return out


@pytest.mark.parametrize("params", [None, {"type": "english"}])
def test_inserted_bm25_vectors_equal_the_analyzer_row_by_row(tmp_path, params):
    client = embedb.MilvusClient(str(tmp_path / "bm25.db"))
    schema = bm25_schema(client, params)
    index = client.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("docs", schema=schema, index_params=index)
    # similar lengths (the grid count), then a few long documents among short ones (the run sort)
    texts = texts_of_mixed_lengths(3, 300, 60) + texts_of_mixed_lengths(4, 600, 400)
    for start in range(0, len(texts), 300):   # a cold analyzer, then warm batches
        client.insert("docs", [{"id": start + i, "text": t} for i, t in enumerate(texts[start:start + 300])])
    client.close()
    client = embedb.MilvusClient(str(tmp_path / "bm25.db"))   # as stored
    got = {r["id"]: r["sparse"] for r in client.query("docs", filter="id >= 0", output_fields=["sparse"])}
    analyzer = build_analyzer(params)
    analyzer = analyzer_module.Analyzer(analyzer.tokenizer, analyzer.filters, params=analyzer.params)
    for i, t in enumerate(texts):
        want = Counter(fulltext.token_hash(tok) for tok in analyzer(t))
        assert dict(got[i]) == {k: float(v) for k, v in want.items()}, i
        assert list(got[i]) == sorted(want)
    client.close()


WRITER = textwrap.dedent(r'''
    import json, os, sys
    import embedb
    path, texts = sys.argv[1], json.loads(sys.argv[2])
    c = embedb.MilvusClient(path)
    s = c.create_schema(auto_id=False)
    s.add_field("id", embedb.DataType.INT64, is_primary=True)
    s.add_field("text", embedb.DataType.VARCHAR, max_length=20000, enable_analyzer=True)
    s.add_field("sparse", embedb.DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("user", embedb.DataType.SPARSE_FLOAT_VECTOR, nullable=True)
    s.add_function(embedb.Function(name="bm25", function_type=embedb.FunctionType.BM25,
                                   input_field_names=["text"], output_field_names=["sparse"]))
    ix = c.prepare_index_params()
    ix.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    ix.add_index(field_name="user", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    c.create_collection("docs", schema=s, index_params=ix)
    c.insert("docs", [{"id": i, "text": t, "user": None if i % 3 == 0 else {2**32 - 2: 0.5, i: 1.5}}
                      for i, t in enumerate(texts)])
    os._exit(0)   # no close, no checkpoint: the next open replays the log
''')


def test_log_entry_sparse_indices_replay_as_written(tmp_path):
    """A sparse batch's log entry holds its indices as uint32 (codec._sparse_parts); a crash
    before any checkpoint replays them to the same vectors, the largest index included."""
    texts = texts_of_mixed_lengths(5, 200, 60)
    path = str(tmp_path / "crash.db")
    subprocess.run([sys.executable, "-c", WRITER, path, json.dumps(texts)], check=True)
    client = embedb.MilvusClient(path)
    got = {r["id"]: r for r in client.query("docs", filter="id >= 0", output_fields=["sparse", "user"])}
    analyzer = build_analyzer(None)
    for i, t in enumerate(texts):
        want = Counter(fulltext.token_hash(tok) for tok in analyzer(t))
        assert dict(got[i]["sparse"]) == {k: float(v) for k, v in want.items()}
        assert got[i]["user"] is None if i % 3 == 0 else dict(got[i]["user"]) == {2**32 - 2: 0.5, i: 1.5}
    client.close()


@pytest.mark.parametrize("nullable", [False, True])
def test_sparse_log_parts_equal_the_column_parts(nullable):
    """codec's direct CSR parts hold what Column.parts held (indices narrowed to uint32)."""
    import scipy.sparse as sp

    from embedb.engine import codec
    from embedb.engine.columns import Column, ColumnSpec
    from embedb.engine.rows import ColumnBatch

    rng = np.random.default_rng(0)
    lens = rng.integers(0, 6, 40)
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(2**32 - 1, k, replace=False)) for k in lens]).astype(np.int64)
    indices[-1] = 2**32 - 2
    mat = sp.csr_array((rng.random(len(indices)).astype(np.float32), indices, indptr), shape=(40, 2**32 - 1))
    spec = ColumnSpec("sparse", None, None, nullable)
    valid = {"s": rng.random(40) < 0.7} if nullable else {}
    got = codec.batch_arrays(ColumnBatch(40, {"s": mat}, valid), {"s": spec})
    col = Column(spec)
    col.append(mat, valid.get("s"))
    want = col.parts(0, 40)
    assert sorted(got) == sorted(f"s/{k}" for k in want)
    for k, arr in want.items():
        assert got[f"s/{k}"].tolist() == arr.tolist(), k
    assert got["s/indices"].dtype == np.uint32
    _, _, decoded = codec.decode_payload(codec.encode_payload("write", {"n": 40}, got))
    assert decoded["s/indices"].dtype == np.uint32 and decoded["s/indices"].tolist() == indices.tolist()
