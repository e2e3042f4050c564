"""Threads: no deadlock, no long read holding writers up, and a model-checked stress test.

* The reported freeze, replayed deterministically: a search is inside its index (holding the
  index lock) exactly while a flush's checkpoint holds the database lock and asks for that
  index lock. Before the fix the search then asked for the database lock: a deadlock.
* A search loop against insert + flush, as the user found it.
* A query or search whose filter is slow does not hold writers up: writes, a flush and a
  compaction finish while the scan is stopped in the middle, and the scan answers for the
  state it started from.
* N threads doing every operation at random for a bounded time against one database on disk,
  each thread owning a range of primary keys, so a plain dict per thread is the model: reads
  of a thread's own keys must equal its model at every moment, and the final state (also after
  reopening) must equal the union of the models. A watchdog dumps every stack and fails the
  test if anything hangs.
"""

from __future__ import annotations

import faulthandler
import random
import sys
import threading
import time

import numpy as np
import pytest

from embedb import DataType, Function, FunctionType, MilvusClient
from embedb.engine.collection import CollectionSource
from embedb.errors import CollectionNotLoadedError, MilvusException

DIM = 8
HANG_S = 60   # far beyond any legitimate wait on a loaded 2-core machine


def _vec(rng) -> list[float]:
    return rng.random(DIM).astype(np.float32).tolist()   # float32-exact, compares exactly


def _join_or_dump(threads, timeout):
    """Join every thread; on a hang, print every stack and fail."""
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    if alive:
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        pytest.fail(f"threads hung (deadlock?): {alive}; stacks dumped to stderr")


def _hnsw(client, name="c"):
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    return ip


class _PausingLock:
    """An index's lock that, the first time the thread named ``searcher`` takes it, holds it
    until the checkpoint has started (``in_checkpoint``): a search is then inside the index
    exactly while a flush holds the database lock and asks for the index lock."""

    def __init__(self, real, in_index: threading.Event, in_checkpoint: threading.Event) -> None:
        self.real, self.in_index, self.in_checkpoint = real, in_index, in_checkpoint

    def acquire(self, *args):
        got = self.real.acquire(*args)
        if threading.current_thread().name == "searcher" and not self.in_index.is_set():
            self.in_index.set()
            self.in_checkpoint.wait(10)    # the flush thread holds the database lock ...
            time.sleep(0.1)                # ... and is waiting for this index's lock
        return got

    def release(self):
        self.real.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


def test_checkpoint_waiting_for_an_index_search_does_not_deadlock(tmp_path):
    """The exact interleaving of the reported freeze, forced with events (it hangs on the
    code before the fix, where a search inside the index then asked for the database lock)."""
    from embedb.engine.index.manager import IndexManager, indexes_of

    c = MilvusClient(str(tmp_path / "d.db"))
    rng = np.random.default_rng(0)
    c.create_collection("c", dimension=DIM, metric_type="L2", index_params=_hnsw(c))
    c.insert("c", [{"id": i, "vector": _vec(rng)} for i in range(300)])
    c.search("c", [_vec(rng)], limit=3)   # index built
    entry = indexes_of(c._collection("c")).for_field("vector")
    in_checkpoint, in_index = threading.Event(), threading.Event()
    entry.lock = _PausingLock(entry.lock, in_index, in_checkpoint)
    hooks = c._collection("c").checkpoint_hooks
    at = [i for i, h in enumerate(hooks) if getattr(h, "__func__", None) is IndexManager.save][0]
    real_save = hooks[at]

    def save(directory):   # the index manager's checkpoint hook, entered under the database lock
        in_checkpoint.set()
        return real_save(directory)

    hooks[at] = save   # the collection is closed at the end of the test
    results = {}

    def searcher():
        results["hits"] = c.search("c", [_vec(rng)], limit=5, output_fields=["id"])

    def flusher():
        assert in_index.wait(10)
        c.insert("c", [{"id": 1000, "vector": _vec(rng)}])
        c.flush("c")
        results["flushed"] = True

    threads = [threading.Thread(target=searcher, name="searcher", daemon=True),
               threading.Thread(target=flusher, name="flusher", daemon=True)]
    for t in threads:
        t.start()
    _join_or_dump(threads, 30)
    assert in_checkpoint.is_set() and results.get("flushed")
    assert len(results["hits"][0]) == 5
    c.close()


def test_search_loop_against_insert_and_flush(tmp_path):
    c = MilvusClient(str(tmp_path / "d.db"))
    rng = np.random.default_rng(1)
    c.create_collection("c", dimension=DIM, metric_type="L2", index_params=_hnsw(c))
    c.insert("c", [{"id": i, "vector": _vec(rng)} for i in range(500)])
    stop = threading.Event()
    counts = {"searches": 0}

    def search_loop():
        qrng = np.random.default_rng(2)
        while not stop.is_set():
            assert len(c.search("c", [_vec(qrng)], limit=3)[0]) == 3
            counts["searches"] += 1

    t = threading.Thread(target=search_loop, daemon=True)
    t.start()
    for j in range(30):
        c.insert("c", [{"id": 1000 + j, "vector": _vec(rng)}])
        c.flush("c")
    stop.set()
    _join_or_dump([t], HANG_S)
    assert counts["searches"] > 0
    assert c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 530
    c.close()


def _pause_scans(monkeypatch, reader: threading.Thread | None = None):
    """Make the next filter evaluation in a thread other than the main one stop until released;
    returns (in_scan, release) events."""
    in_scan, release = threading.Event(), threading.Event()
    real = CollectionSource.column
    main = threading.main_thread()

    def column(self, name):
        if threading.current_thread() is not main and not in_scan.is_set():
            in_scan.set()
            release.wait(HANG_S)
        return real(self, name)

    monkeypatch.setattr(CollectionSource, "column", column)
    return in_scan, release


@pytest.mark.parametrize("read", ["query", "search"])
def test_a_slow_read_does_not_hold_writers_up(tmp_path, monkeypatch, read):
    c = MilvusClient(str(tmp_path / "d.db"))
    rng = np.random.default_rng(3)
    c.create_collection("c", dimension=DIM, metric_type="L2", index_params=_hnsw(c))
    c.insert("c", [{"id": i, "vector": _vec(rng), "tag": i % 3} for i in range(400)])
    before = sorted(r["id"] for r in c.query("c", filter="tag == 1", output_fields=["id"], limit=1000))
    in_scan, release = _pause_scans(monkeypatch)
    out = {}

    def reader():
        if read == "query":
            out["ids"] = sorted(r["id"] for r in c.query("c", filter="tag == 1", output_fields=["id", "tag"],
                                                          limit=1000))
        else:
            hits = c.search("c", [_vec(rng)], filter="tag == 1", limit=1000, output_fields=["tag"])[0]
            assert all(h["entity"]["tag"] == 1 for h in hits)
            out["ids"] = sorted(h["id"] for h in hits)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert in_scan.wait(HANG_S)
    # the read is stopped in the middle of its filter: writers must not wait for it
    wrote = threading.Event()

    def writer():
        c.insert("c", [{"id": 1000 + i, "vector": _vec(rng), "tag": 1} for i in range(10)])
        c.delete("c", ids=[1, 4, 7])
        c.flush("c")
        c.compact("c")
        wrote.set()

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    finished_while_paused = wrote.wait(30)
    release.set()
    _join_or_dump([t, w], HANG_S)
    assert finished_while_paused, "writes waited for a paused read"
    after = sorted(r["id"] for r in c.query("c", filter="tag == 1", output_fields=["id"], limit=1000))
    assert after == sorted(set(before) - {1, 4, 7}) + list(range(1000, 1010))
    # the read answers for one state: the one it started from, or (when a compaction raced its
    # index and it ran again) the one after the writes
    assert out["ids"] in (before, after)
    c.close()


def test_a_delete_with_a_slow_filter_does_not_hold_others_up(tmp_path, monkeypatch):
    c = MilvusClient(str(tmp_path / "d.db"))
    rng = np.random.default_rng(4)
    c.create_collection("c", dimension=DIM, metric_type="L2", index_params=_hnsw(c))
    c.insert("c", [{"id": i, "vector": _vec(rng), "tag": i % 3} for i in range(300)])
    in_scan, release = _pause_scans(monkeypatch)
    out = {}
    t = threading.Thread(target=lambda: out.update(c.delete("c", filter="tag == 1")), daemon=True)
    t.start()
    assert in_scan.wait(HANG_S)
    done = threading.Event()

    def others():
        c.insert("c", [{"id": 1000 + i, "vector": _vec(rng), "tag": 1} for i in range(10)])
        assert len(c.query("c", filter="tag == 1", limit=1000)) == 110
        c.search("c", [_vec(rng)], limit=3)
        done.set()

    o = threading.Thread(target=others, daemon=True)
    o.start()
    finished_while_paused = done.wait(30)
    release.set()
    _join_or_dump([t, o], HANG_S)
    assert finished_while_paused, "a delete's filter scan held other calls up"
    # the insert came in while the delete scanned: the delete is decided after it, so the new
    # rows with tag 1 are deleted too (evaluated again under the lock), exactly once
    assert out["delete_count"] == 110
    assert c.query("c", filter="tag == 1", limit=1000) == []
    assert c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 200
    c.close()


# ------------------------------------------------------------------------------ stress
N_THREADS = 6
KEYS_PER_THREAD = 200
RUN_S = 6.0


def _schema(client):
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("tag", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True, enable_match=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"],
                                 output_field_names=["sparse"]))
    return schema


WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "melon"]
FIELDS = ["vector", "tag", "text", "meta"]


def _row(rng: random.Random, pk: int, nrng) -> dict:
    return {"id": pk, "vector": _vec(nrng), "tag": rng.randrange(5),
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 6))),
            "meta": {"k": rng.randrange(100)}}


def _same(got: dict, want: dict) -> bool:
    return all(got.get(f) == want[f] for f in FIELDS)


# errors another thread's release / drop_index / create_index can cause: expected, not bugs
_RACING_ADMIN = ("not loaded", "cannot be dropped while", "at most one distinct index", "index not found")


class Worker:
    """One thread: random operations on its own key range, checked against its own model."""

    def __init__(self, k: int, path: str, deadline: float, errors: list):
        self.k, self.path, self.deadline, self.errors = k, path, deadline, errors
        self.lo, self.hi = k * KEYS_PER_THREAD, (k + 1) * KEYS_PER_THREAD
        self.model: dict[int, dict] = {}
        self.rng = random.Random(100 + k)
        self.nrng = np.random.default_rng(100 + k)
        self.client = MilvusClient(path)
        self.ops = 0

    def own(self) -> str:
        return f"id >= {self.lo} and id < {self.hi}"

    def keys(self, n):
        return self.rng.sample(range(self.lo, self.hi), n)

    # each op returns normally or raises an error that is expected while another thread has
    # the collection released (CollectionNotLoadedError)
    def op_insert(self):
        pks = [pk for pk in self.keys(self.rng.randrange(1, 8)) if pk not in self.model]
        rows = [_row(self.rng, pk, self.nrng) for pk in pks]
        if rows:
            assert self.client.insert("c", rows)["insert_count"] == len(rows)
            self.model.update({r["id"]: r for r in rows})

    def op_upsert(self):
        rows = [_row(self.rng, pk, self.nrng) for pk in self.keys(self.rng.randrange(1, 8))]
        self.client.upsert("c", rows)
        self.model.update({r["id"]: r for r in rows})

    def op_delete(self):
        if self.rng.random() < 0.5:
            pks = self.keys(self.rng.randrange(1, 6))
            self.client.delete("c", ids=pks)
            for pk in pks:
                self.model.pop(pk, None)
        else:
            tag = self.rng.randrange(5)
            got = self.client.delete("c", filter=f"{self.own()} and tag == {tag}")["delete_count"]
            gone = [pk for pk, r in self.model.items() if r["tag"] == tag]
            assert got == len(gone), (got, len(gone))
            for pk in gone:
                del self.model[pk]

    def op_get(self):
        pks = self.keys(10)
        got = {r["id"]: r for r in self.client.get("c", ids=pks, output_fields=FIELDS)}
        want = {pk: self.model[pk] for pk in pks if pk in self.model}
        assert set(got) == set(want) and all(_same(got[pk], want[pk]) for pk in want)

    def op_query(self):
        tag = self.rng.randrange(5)
        got = self.client.query("c", filter=f"{self.own()} and tag == {tag}", output_fields=FIELDS,
                                limit=KEYS_PER_THREAD)
        want = {pk: r for pk, r in self.model.items() if r["tag"] == tag}
        assert sorted(r["id"] for r in got) == sorted(want)
        assert all(_same(r, want[r["id"]]) for r in got)

    def op_text_match(self):
        word = self.rng.choice(WORDS)
        got = self.client.query("c", filter=f"{self.own()} and text_match(text, '{word}')",
                                output_fields=["id"], limit=KEYS_PER_THREAD)
        want = {pk for pk, r in self.model.items() if word in r["text"].split()}
        assert {r["id"] for r in got} == want

    def op_search(self):
        # few admissible rows: an exact search, so the hits are exactly the live own keys
        hits = self.client.search("c", [_vec(self.nrng)], anns_field="vector", filter=self.own(),
                                  limit=KEYS_PER_THREAD, output_fields=["tag"])[0]
        assert sorted(h["id"] for h in hits) == sorted(self.model)
        assert all(h["entity"]["tag"] == self.model[h["id"]]["tag"] for h in hits)

    def op_bm25(self):
        word = self.rng.choice(WORDS)
        hits = self.client.search("c", [word], anns_field="sparse", filter=self.own(),
                                  limit=KEYS_PER_THREAD, search_params={"metric_type": "BM25"})[0]
        want = {pk for pk, r in self.model.items() if word in r["text"].split()}
        assert {h["id"] for h in hits} == want

    def op_iterate(self):   # a cursor over the own keys while others compact and write
        it = self.client.query_iterator("c", batch_size=16, filter=self.own(), output_fields=["tag"])
        got = []
        while batch := it.next():
            got.extend(batch)
        it.close()
        assert [r["id"] for r in got] == sorted(self.model)
        assert all(r["tag"] == self.model[r["id"]]["tag"] for r in got)

    def op_hybrid(self):
        from embedb import AnnSearchRequest, RRFRanker

        reqs = [AnnSearchRequest([_vec(self.nrng)], "vector", {"metric_type": "L2"}, 50, expr=self.own()),
                AnnSearchRequest([self.rng.choice(WORDS)], "sparse", {"metric_type": "BM25"}, 50,
                                 expr=self.own())]
        hits = self.client.hybrid_search("c", reqs, RRFRanker(), limit=50)[0]
        ids = [h["id"] for h in hits]
        assert len(ids) == len(set(ids)) and set(ids) <= set(self.model)
        assert len(ids) == min(50, len(self.model))   # the vector request alone finds them all

    def op_flush(self):
        self.client.flush("c")

    def op_compact(self):
        self.client.compact("c")

    def op_index(self):
        kind = self.rng.choice(["HNSW", "IVF_FLAT", "FLAT"])
        params = {"HNSW": {"M": 8, "efConstruction": 32}, "IVF_FLAT": {"nlist": 4}, "FLAT": {}}[kind]
        self.client.release_collection("c")
        try:
            self.client.drop_index("c", "vector")
            ip = self.client.prepare_index_params()
            ip.add_index("vector", index_type=kind, metric_type="L2", params=params)
            self.client.create_index("c", ip)
        finally:
            self.client.load_collection("c")

    def op_load_release(self):
        self.client.release_collection("c")
        self.client.load_collection("c")

    def op_reopen(self):   # close this thread's client (the shared database stays open) and open again
        self.client.close()
        self.client = MilvusClient(self.path)

    OPS = [("insert", 6), ("upsert", 4), ("delete", 3), ("get", 4), ("query", 3), ("text_match", 2),
           ("search", 4), ("bm25", 2), ("iterate", 1), ("hybrid", 2), ("flush", 1), ("compact", 1), ("index", 1), ("load_release", 1),
           ("reopen", 1)]

    def run(self):
        names = [n for n, w in self.OPS for _ in range(w)]
        try:
            while time.monotonic() < self.deadline:
                name = self.rng.choice(names)
                try:
                    getattr(self, "op_" + name)()
                except CollectionNotLoadedError:
                    pass   # another thread is rebuilding the index or reloading
                except MilvusException as exc:
                    if not any(m in str(exc) for m in _RACING_ADMIN):
                        raise
                self.ops += 1
        except BaseException as exc:  # reported by the main thread
            self.errors.append((self.k, name, repr(exc)))
            raise


def test_stress_every_operation_from_many_threads_matches_a_model(tmp_path):
    path = str(tmp_path / "stress.db")
    setup = MilvusClient(path)
    ip = setup.prepare_index_params()
    ip.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    setup.create_collection("c", schema=_schema(setup), index_params=ip)
    errors: list = []
    deadline = time.monotonic() + RUN_S
    workers = [Worker(k, path, deadline, errors) for k in range(N_THREADS)]
    threads = [threading.Thread(target=w.run, name=f"worker-{w.k}", daemon=True) for w in workers]
    faulthandler.dump_traceback_later(RUN_S + HANG_S + 30, exit=True)   # last resort on a hang
    try:
        for t in threads:
            t.start()
        _join_or_dump(threads, RUN_S + HANG_S)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert not errors, errors
    assert sum(w.ops for w in workers) > 50
    model = {pk: r for w in workers for pk, r in w.model.items()}

    def check(client):
        client.load_collection("c")
        got = client.query("c", filter="id >= 0", output_fields=FIELDS, limit=N_THREADS * KEYS_PER_THREAD)
        assert sorted(r["id"] for r in got) == sorted(model)
        bad = [r["id"] for r in got if not _same(r, model[r["id"]])]
        assert not bad

    check(setup)
    for w in workers:
        w.client.close()
    setup.close()
    reopened = MilvusClient(path)
    check(reopened)
    reopened.close()


def test_a_read_view_is_freed_as_soon_as_the_read_ends(tmp_path):
    """Views hold the tombstones as they were (after a delete, the collection's copy is the
    only other): no reference cycle may keep one alive until a garbage collection."""
    import gc
    import weakref

    c = MilvusClient(str(tmp_path / "d.db"))
    c.create_collection("c", dimension=2)
    c.insert("c", [{"id": 1, "vector": [0.0, 1.0], "x": "a"}])
    coll = c._collection("c")
    gc.disable()
    try:
        view = coll.read_view(need_pk=True)
        assert view.query("x == 'a'", output_fields=["*"])[0]["x"] == "a"
        gone = weakref.ref(view)
        del view
        assert gone() is None
    finally:
        gc.enable()
    c.close()


def test_close_while_other_threads_read_and_write(tmp_path):
    """Closing the database under running threads: every call either completes or raises an
    embedb error; nothing hangs; every acknowledged insert is there after reopening."""
    path = str(tmp_path / "d.db")
    c = MilvusClient(path)
    c.create_collection("c", dimension=DIM, metric_type="L2", index_params=_hnsw(c))
    c.insert("c", [{"id": i, "vector": _vec(np.random.default_rng(i))} for i in range(200)])
    acked: list[int] = []
    raw: list[str] = []
    started = threading.Barrier(5)

    def work(k):
        rng = np.random.default_rng(10 + k)
        started.wait()
        for j in range(10_000):
            pk = 1000 + k * 10_000 + j
            try:
                if k % 2:
                    c.insert("c", [{"id": pk, "vector": _vec(rng)}])
                    acked.append(pk)
                else:
                    c.search("c", [_vec(rng)], limit=3)
                    c.query("c", filter="id < 50", limit=5)
            except MilvusException:
                return   # closed: a clear embedb error
            except Exception as exc:  # noqa: BLE001 - anything else is a bug
                raw.append(repr(exc))
                return

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    c.close()
    _join_or_dump(threads, HANG_S)
    assert not raw, raw
    c = MilvusClient(path)
    c.load_collection("c")
    got = {r["id"] for r in c.query("c", filter="id >= 1000", output_fields=["id"], limit=16384)}
    assert set(acked) <= got
    c.close()
