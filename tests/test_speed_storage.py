"""Vectors stored once: an HNSW index file holds the graph only, and the graph searches the
collection's own column (a memory map after opening) instead of a copy.

Checked on real directories: the disk size, the answers before and after reopening and against
a fresh build, the vectors queries return (originals, for every metric), compaction, upsert,
delete and rows folded in after opening, a damaged graph file, and a crash inside a checkpoint.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.engine.index.manager import indexes_of
from embedb.engine.index.storage_view import same_memory
from embedb.errors import StorageError

DIM = 32
N = 1000
HNSW = {"M": 8, "efConstruction": 40}
METRICS = ("L2", "IP", "COSINE")


def vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, dim)).astype(np.float32)
    return (centers[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def make_db(path: Path, metric: str, x: np.ndarray, dtype=DataType.FLOAT_VECTOR,
            index_type: str = "HNSW", params: dict = HNSW) -> MilvusClient:
    client = MilvusClient(str(path))
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", dtype, dim=x.shape[1])
    ix = client.prepare_index_params()
    ix.add_index("v", index_type=index_type, metric_type=metric, params=params)
    client.create_collection("c", schema=s, index_params=ix)
    client.insert("c", [{"id": i, "v": x[i]} for i in range(len(x))])
    return client


def search(client: MilvusClient, metric: str, q: np.ndarray, ef: int = 64, limit: int = 10):
    res = client.search("c", list(q), limit=limit,
                        search_params={"metric_type": metric, "params": {"ef": ef}})
    return [[(h["id"], h["distance"]) for h in hits] for hits in res]


def exact_ids(x: np.ndarray, live: np.ndarray, q: np.ndarray, metric: str, k: int) -> list[list[int]]:
    ids = np.flatnonzero(live)
    xs = x[ids].astype(np.float64)
    q = q.astype(np.float64)
    if metric == "L2":
        d = ((q[:, None, :] - xs[None]) ** 2).sum(-1)
    else:
        if metric == "COSINE":
            xs = xs / np.linalg.norm(xs, axis=1, keepdims=True)
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = -(q @ xs.T)
    return [ids[np.argsort(row, kind="stable")[:k]].tolist() for row in d]


def recall(got, want) -> float:
    hits = sum(len({i for i, _ in g} & set(w)) for g, w in zip(got, want))
    return hits / sum(len(w) for w in want)


def collection_dir(path: Path) -> Path:
    return next((path / "collections").iterdir())


def entry_impl(client: MilvusClient):
    coll = client._collection("c")
    return coll, indexes_of(coll).for_field("v").impl


# ---------------------------------------------------------------------------------- disk
@pytest.mark.parametrize("metric", METRICS)
def test_disk_holds_the_vectors_once(tmp_path, metric):
    x = vectors(N, 1)
    client = make_db(tmp_path / "d.db", metric, x)
    search(client, metric, x[:2])   # builds the index
    client.close()
    cdir = collection_dir(tmp_path / "d.db")
    ext = sorted(p.name for p in (cdir / "ext").iterdir())
    assert ext == ["index_v.hnsw"], ext
    graph = (cdir / "ext" / "index_v.hnsw").stat().st_size
    raw = x.nbytes
    assert graph < raw, "the index file must hold the graph, not a copy of the vectors"
    total = sum(p.stat().st_size for p in cdir.rglob("*") if p.is_file())
    # the id column, partition ids, insert times and tombstones: 19 bytes a row beside 128
    assert total <= 1.1 * (raw + graph) + 8 * 1024, (total, raw, graph)


# ---------------------------------------------------------------------- same answers
@pytest.mark.parametrize("metric", METRICS)
def test_answers_identical_after_reopen_and_to_a_fresh_build(tmp_path, metric):
    x, q = vectors(N, 2), vectors(20, 3)
    client = make_db(tmp_path / "a.db", metric, x)
    before = search(client, metric, q, ef=200)
    client.close()
    client = MilvusClient(str(tmp_path / "a.db"))
    after = search(client, metric, q, ef=200)
    coll, impl = entry_impl(client)
    if metric == "COSINE":   # the graph searches normalised copies, made at load
        assert impl._storage.view is not None and not same_memory(impl._storage.view.array,
                                                                   coll.dense_vectors("v"))
    else:                    # the graph searches the column itself: no copy in memory either
        assert same_memory(impl._storage.view.array, coll.dense_vectors("v"))
    client.close()
    fresh = make_db(tmp_path / "f.db", metric, x)
    rebuilt = search(fresh, metric, q, ef=200)
    fresh.close()
    assert after == before
    assert rebuilt == before
    if metric != "IP":   # HNSW is a poor inner-product searcher on this data, in faiss too
        assert recall(after, exact_ids(x, np.ones(N, bool), q, metric, 10)) >= 0.95


@pytest.mark.parametrize("metric", METRICS)
def test_query_returns_the_original_vectors(tmp_path, metric):
    x = vectors(300, 4) * np.float32(3.7)   # far from unit length: normalising would show
    client = make_db(tmp_path / "o.db", metric, x)
    search(client, metric, x[:1])
    client.close()
    client = MilvusClient(str(tmp_path / "o.db"))
    search(client, metric, x[:1])
    rows = client.query("c", filter="id >= 0", output_fields=["v"], limit=300)
    got = np.array([r["v"] for r in sorted(rows, key=lambda r: r["id"])], dtype=np.float32)
    np.testing.assert_array_equal(got, x)
    hits = client.search("c", [x[7]], limit=1, output_fields=["v"],
                         search_params={"metric_type": metric})[0]
    assert metric == "IP" or hits[0]["id"] == 7   # under IP a longer vector may beat itself
    np.testing.assert_array_equal(np.asarray(hits[0]["entity"]["v"], np.float32), x[hits[0]["id"]])
    client.close()


def test_float16_vectors_are_converted_once_and_answer_the_same(tmp_path):
    x, q = vectors(N, 5).astype(np.float16), vectors(10, 6)
    client = make_db(tmp_path / "h.db", "L2", x, dtype=DataType.FLOAT16_VECTOR)
    before = search(client, "L2", q)
    client.close()
    ext = collection_dir(tmp_path / "h.db") / "ext" / "index_v.hnsw"
    assert ext.stat().st_size < N * DIM * 4   # no float32 copy beside the graph
    client = MilvusClient(str(tmp_path / "h.db"))
    assert search(client, "L2", q) == before
    client.close()


@pytest.mark.parametrize("metric", ("L2", "COSINE"))
def test_ivf_flat_keeps_its_centroids_and_refills_its_lists_from_the_column(tmp_path, metric):
    x, q = vectors(N, 21), vectors(20, 22)
    path = tmp_path / "ivf.db"
    client = make_db(path, metric, x, index_type="IVF_FLAT", params={"nlist": 16})
    before = client.search("c", list(q), limit=10, search_params={"metric_type": metric,
                                                                   "params": {"nprobe": 4}})
    client.close()
    ext = sorted((collection_dir(path) / "ext").iterdir())
    assert [p.name for p in ext] == ["index_v.ivf", "index_v.lists.npy"]
    assert ext[0].stat().st_size < 16 * DIM * 4 + 4096   # the centroids and a header
    assert ext[1].stat().st_size <= N * 4 + 256           # the list of each row
    client = MilvusClient(str(path))
    after = client.search("c", list(q), limit=10, search_params={"metric_type": metric,
                                                                  "params": {"nprobe": 4}})
    _, impl = entry_impl(client)
    assert impl.ntotal == N
    client.close()
    assert after == before
    (collection_dir(path) / "ext" / "index_v.lists.npy").unlink()   # assigned again instead
    client = MilvusClient(str(path))
    again = client.search("c", list(q), limit=10, search_params={"metric_type": metric,
                                                                  "params": {"nprobe": 4}})
    client.close()
    assert again == before
    lists = collection_dir(path) / "ext" / "index_v.lists.npy"   # written again at that close
    data = bytearray(lists.read_bytes())
    data[len(data) - 3] ^= 0x7F   # a row's list number: damage is noticed, the index rebuilt
    lists.write_bytes(bytes(data))
    client = MilvusClient(str(path))
    damaged = client.search("c", list(q), limit=10, search_params={"metric_type": metric,
                                                                    "params": {"nprobe": 4}})
    client.close()
    assert damaged == before


# ------------------------------------------------------------ writes after opening
@pytest.mark.parametrize("metric", ("L2", "COSINE"))
def test_delete_upsert_fold_compact_and_reopen(tmp_path, metric):
    x, q = vectors(N, 7), vectors(15, 8)
    path = tmp_path / "w.db"
    client = make_db(path, metric, x)
    search(client, metric, q)
    client.close()

    client = MilvusClient(str(path))
    search(client, metric, q)              # the graph is loaded over the mapped column
    more = vectors(400, 9)                 # enough rows to be folded into the graph
    client.insert("c", [{"id": N + i, "v": more[i]} for i in range(len(more))])
    new = vectors(50, 10)
    client.upsert("c", [{"id": i, "v": new[i]} for i in range(50)])
    client.delete("c", ids=list(range(100, 300)))
    full = np.concatenate([x, more])
    full[:50] = new
    live = np.ones(len(full), bool)
    live[100:300] = False
    got = search(client, metric, q, ef=400)
    _, impl = entry_impl(client)
    assert impl.ntotal > N, "the tail was folded into the graph"
    want = exact_ids(full, live, q, metric, 10)
    assert recall(got, want) >= 0.97
    client.flush("c")
    client.close()

    client = MilvusClient(str(path))
    assert search(client, metric, q, ef=400) == got
    client.compact("c")
    compacted = search(client, metric, q, ef=400)
    assert recall(compacted, want) >= 0.97
    rows = client.query("c", filter="id >= 0", output_fields=["v"], limit=5000)
    assert len(rows) == live.sum()
    by_id = {r["id"]: r["v"] for r in rows}
    np.testing.assert_array_equal(np.asarray(by_id[7], np.float32), full[7])
    np.testing.assert_array_equal(np.asarray(by_id[N + 5], np.float32), full[N + 5])
    client.close()

    client = MilvusClient(str(path))
    assert search(client, metric, q, ef=400) == compacted
    client.close()


# -------------------------------------------------------------------------- damage
@pytest.mark.parametrize("how", ("flip", "truncate", "delete"))
def test_a_damaged_graph_file_is_rebuilt(tmp_path, how):
    x, q = vectors(N, 11), vectors(10, 12)
    path = tmp_path / "g.db"
    client = make_db(path, "L2", x)
    before = search(client, "L2", q)
    client.close()
    graph = collection_dir(path) / "ext" / "index_v.hnsw"
    data = bytearray(graph.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x5A
        graph.write_bytes(bytes(data))
    elif how == "truncate":
        graph.write_bytes(bytes(data[: len(data) // 3]))
    else:
        graph.unlink()
    client = MilvusClient(str(path))
    assert search(client, "L2", q) == before   # rebuilt from the column: the same graph
    client.close()
    client = MilvusClient(str(path))           # and written again at that close
    coll, impl = entry_impl(client)
    assert coll.ext_file_ok(graph) and impl is not None and impl.ntotal == N
    client.close()


def test_a_damaged_vector_column_is_an_error_naming_it(tmp_path):
    x, q = vectors(N, 13), vectors(3, 14)
    path = tmp_path / "c.db"
    client = make_db(path, "L2", x)
    search(client, "L2", q)
    client.close()
    part = next(collection_dir(path).glob("g*/v.values.npy"))
    data = bytearray(part.read_bytes())
    data[256 + len(data) // 2] ^= 0x5A
    part.write_bytes(bytes(data))
    client = MilvusClient(str(path))
    with pytest.raises(StorageError, match="v.values.npy"):
        search(client, "L2", q)
    client.close()


# -------------------------------------------------------------- crash in a checkpoint
CRASH = textwrap.dedent("""
    import os, sys
    import numpy as np
    from embedb import MilvusClient
    import embedb.engine.storage as storage

    path, where = sys.argv[1], sys.argv[2]
    x = np.load(sys.argv[3])
    client = MilvusClient(path)
    client.insert("c", [{"id": 10_000 + i, "v": x[i]} for i in range(len(x))])
    client.search("c", [x[0]], limit=3)     # folds the new rows into the graph
    def crash(*args, **kwargs):
        os._exit(0)
    if where == "before-manifest":            # the graph file is new, the manifest still old
        storage.Storage.write_snapshot = crash
    else:                                     # the manifest is new, the log not yet trimmed
        storage.Storage.trim_log = crash
    client.flush("c")
    os._exit(1)
""")


@pytest.mark.parametrize("where", ("before-manifest", "after-manifest"))
def test_a_crash_inside_a_checkpoint_loses_nothing(tmp_path, where):
    x, q = vectors(N, 15), vectors(10, 16)
    path = tmp_path / "k.db"
    client = make_db(path, "L2", x)
    search(client, "L2", q)
    client.close()
    more = vectors(400, 17)
    np.save(tmp_path / "more.npy", more)
    done = subprocess.run([sys.executable, "-c", CRASH, str(path), where, str(tmp_path / "more.npy")],
                          timeout=120)
    assert done.returncode == 0, "the child must die inside the checkpoint"
    full = np.concatenate([x, more])
    ids = np.concatenate([np.arange(N), 10_000 + np.arange(len(more))])
    client = MilvusClient(str(path))
    got = search(client, "L2", q, ef=400)
    want = [[int(ids[i]) for i in row] for row in exact_ids(full, np.ones(len(full), bool), q, "L2", 10)]
    assert recall(got, want) >= 0.97
    rows = client.query("c", filter="id >= 0", output_fields=["v"], limit=5000)
    assert len(rows) == len(full)
    by_id = {r["id"]: r["v"] for r in rows}
    np.testing.assert_array_equal(np.asarray(by_id[10_003], np.float32), more[3])
    client.close()
    shutil.rmtree(path)


# ---------------------------------------------------------------- files from before
def test_an_index_file_from_before_graph_and_vectors_still_loads(tmp_path):
    """Databases written before vectors were stored once hold ``index_v.faiss`` (graph and a
    copy of the vectors): it loads as it is, and is replaced by the graph alone once rows are
    added to the index."""
    import faiss

    x, q = vectors(N, 18), vectors(10, 19)
    path = tmp_path / "old.db"
    client = make_db(path, "L2", x)
    before = search(client, "L2", q)
    client.flush("c")
    coll, impl = entry_impl(client)
    ext = collection_dir(path) / "ext"
    faiss.write_index(impl.index, str(ext / "index_v.faiss"))   # the graph with its storage
    client.close()
    (ext / "index_v.hnsw").unlink()
    client = MilvusClient(str(path))   # what an older embedb left: state and manifest name it
    coll = client._collection("c")
    for d in coll.meta["indexes"]:
        d["state"]["files"] = ["index_v.faiss"]
    coll.save_meta()
    coll.record_ext_file(ext / "index_v.faiss")
    client.close()
    assert sorted(p.name for p in ext.iterdir()) == ["index_v.faiss"]

    client = MilvusClient(str(path))
    assert search(client, "L2", q) == before
    _, impl = entry_impl(client)
    assert impl.index.storage is not None and impl.ntotal == N
    more = vectors(300, 20)
    client.insert("c", [{"id": N + i, "v": more[i]} for i in range(len(more))])
    search(client, "L2", q)   # folds the new rows in
    client.close()
    assert sorted(p.name for p in ext.iterdir()) == ["index_v.hnsw"]
    client = MilvusClient(str(path))
    _, impl = entry_impl(client)
    assert impl.ntotal == N + 300
    full = np.concatenate([x, more])
    assert recall(search(client, "L2", q, ef=400), exact_ids(full, np.ones(len(full), bool), q, "L2", 10)) >= 0.97
    client.close()


def _rss_anon_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    return 0.0


SWAPS = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_speed_storage import _rss_anon_mib, vectors
    from embedb.engine.index.base import SearchRequest
    from embedb.engine.index.dense import HNSWIndex
    from embedb.engine.index.storage_view import same_memory

    x = vectors(20_000, 23, dim=128)
    idx = HNSWIndex("L2", {"M": 4, "efConstruction": 8}, 128)
    idx.build(x)
    columns = [x]
    start = _rss_anon_mib()
    for i in range(10):   # each cycle: an owned copy of 10 MiB, then a view again
        idx.add(x[:16] + i)
        columns.append(x[:16] + i)
        whole = np.concatenate(columns)
        idx.search(x[:1], whole, SearchRequest(5))
        assert idx._storage.view is not None and same_memory(idx._storage.view.array, whole)
        assert idx._storage._held.thisown and not idx.index.own_fields
    del whole
    print(_rss_anon_mib() - start)
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_storages_swapped_by_add_and_search_are_freed():
    """A view is swapped for an owned copy before faiss adds rows and back to a view at the
    next search; each storage given up is freed (SWIG would otherwise leave it to the graph,
    which does not own it). Measured in a process of its own: the pytest process's memory
    moves with whatever other tests left running."""
    proc = subprocess.run([sys.executable, "-c", SWAPS, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grown = float(proc.stdout.split()[-1])
    assert grown < 40, f"storages given up were not freed: anonymous memory grew {grown:.0f} MiB"


KILLED = textwrap.dedent("""
    import sys
    import time
    import numpy as np
    from embedb import MilvusClient

    path, start = sys.argv[1], int(sys.argv[2])
    client = MilvusClient(path)
    rng = np.random.default_rng(start)
    for b in range(start, start + 40):   # each batch acknowledged, folded in, checkpointed
        rows = [{"id": b * 50 + i, "v": rng.normal(size=32).astype(np.float32)} for i in range(50)]
        client.insert("c", rows)
        print(b, flush=True)
        client.search("c", [rows[0]["v"]], limit=3)
        client.flush("c")
    time.sleep(600)   # at most 2,000 rows a child: the checks read every row in one query
""")


@pytest.mark.slow
def test_kill_9_at_random_moments_of_index_checkpoints(tmp_path):
    import random
    import signal
    import time

    path = tmp_path / "kill.db"
    client = make_db(path, "L2", vectors(300, 24))
    client.close()
    acked = set(range(300))
    rnd = random.Random(5)
    start = 10   # ids from 500 on, above the first 300
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(start)],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(1.0 + rnd.random() * 2.0)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        for line in out.split():
            acked.update(range(int(line) * 50, int(line) * 50 + 50))
        client = MilvusClient(str(path))
        rows = client.query("c", filter="id >= 0", output_fields=["v"], limit=16384)
        ids = {r["id"] for r in rows}
        assert acked <= ids, f"acknowledged rows lost: {sorted(acked - ids)[:5]}"
        x = np.array([r["v"] for r in rows], np.float32)
        order = np.array([r["id"] for r in rows])
        q = x[:5]
        got = search(client, "L2", q, ef=400)
        want = [[int(order[i]) for i in row] for row in exact_ids(x, np.ones(len(x), bool), q, "L2", 10)]
        assert recall(got, want) >= 0.95
        client.close()
        start = max(i // 50 for i in ids) + 1
