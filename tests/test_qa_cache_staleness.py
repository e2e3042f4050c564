"""A cached filter mask or search snapshot never serves a stale answer.

The search fast path (``search_fast.plain_search``) finds the collection without the lock
(``Database.peek_collection``, aliases included), keeps a plan per collection, and answers a
repeated filter from the mask ``filter_cache`` kept for the snapshot's (generation, rows, live
rows, schema). This drives collections through what could leave any of those behind: writes
(insert, upsert, delete by ids and by filter), partitions (create, insert into, release, drop),
aliases (create, alter to another collection, drop), renames, a collection dropped and created
again under the same name with another schema (other metric, other field types, more fields),
load / release, flush and compact; after every step each name and alias is searched with every
filter twice (the second call is answered from the caches), single and batched, plain and with
output fields, and compared with brute force over a Python model of the live rows (ties by
primary key). Collections stay small and HNSW is asked for ``ef`` above the row count, so every
answer is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.errors import MilvusException

DIM = 6
FILTERS = [
    ("", None, lambda r: True),
    ("tag < 5", None, lambda r: r["tag"] < 5),
    ("tag >= {t}", {"t": 12}, lambda r: r["tag"] >= 12),
    ("tag in [1, 2, 3, 17]", None, lambda r: r["tag"] in (1, 2, 3, 17)),
]


class Coll:
    """Model of one collection: its schema kind, live rows, partitions and load state."""

    def __init__(self, kind: str) -> None:
        self.kind = kind                 # "a": tag INT64, L2, HNSW; "b": tag INT32 + extra, IP, FLAT
        self.metric = "L2" if kind == "a" else "IP"
        self.rows: dict[int, dict] = {}  # pk -> {"tag", "v", "part"}
        self.parts = {"_default"}
        self.loaded = True


def _schema(client: MilvusClient, kind: str):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    if kind == "a":
        s.add_field("tag", DataType.INT64)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    else:   # another schema under the same name: other types, another field, another metric
        s.add_field("extra", DataType.VARCHAR, max_length=16)
        s.add_field("tag", DataType.INT32)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    ix = client.prepare_index_params()
    if kind == "a":
        ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    else:
        ix.add_index("v", index_type="FLAT", metric_type="IP")
    return s, ix


class Run:
    def __init__(self, tmp_path, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.path = str(tmp_path / "s.db")
        self.client = MilvusClient(self.path)
        self.colls: dict[str, Coll] = {}
        self.aliases: dict[str, str] = {}
        self.next_pk = 0
        self.steps: list[str] = []
        for name in ("x", "y"):
            self.create(name, "a")

    # --- operations -----------------------------------------------------------------------
    def create(self, name: str, kind: str) -> None:
        s, ix = _schema(self.client, kind)
        self.client.create_collection(name, schema=s, index_params=ix)
        self.colls[name] = Coll(kind)
        self.insert(name, int(self.rng.integers(5, 40)))

    def _rows(self, coll: Coll, pks) -> list[dict]:
        out = []
        for pk in pks:
            r = {"id": int(pk), "tag": int(self.rng.integers(0, 20)),
                 "v": self.rng.standard_normal(DIM).astype(np.float32)}
            if coll.kind == "b":
                r["extra"] = f"e{pk}"
            out.append(r)
        return out

    def insert(self, name: str, m: int, part: str | None = None) -> None:
        coll = self.colls[name]
        pks = range(self.next_pk, self.next_pk + m)
        self.next_pk += m
        rows = self._rows(coll, pks)
        self.client.insert(name, rows, partition_name=part or "_default")
        for r in rows:
            coll.rows[r["id"]] = {"tag": r["tag"], "v": r["v"], "part": part or "_default"}

    def step(self) -> None:
        names = sorted(self.colls)
        name = str(self.rng.choice(names))
        coll = self.colls[name]
        live = sorted(coll.rows)
        op = str(self.rng.choice(["insert", "insert", "upsert", "delete", "delete_filter",
                                  "partition", "drop_partition", "alias", "rename", "recreate",
                                  "release_load", "flush", "compact"]))
        self.steps.append(f"{op} {name}")
        if not coll.loaded:
            self.client.load_collection(name)
            coll.loaded = True
        if op == "insert":
            parts = sorted(coll.parts)
            self.insert(name, int(self.rng.integers(1, 12)), str(self.rng.choice(parts)))
        elif op == "upsert" and live:
            pks = [live[i] for i in self.rng.choice(len(live), min(5, len(live)), replace=False)]
            pks.append(self.next_pk)
            self.next_pk += 1
            rows = self._rows(coll, pks)
            self.client.upsert(name, rows)   # into _default: an upsert may move a row there
            for r in rows:
                coll.rows[r["id"]] = {"tag": r["tag"], "v": r["v"], "part": "_default"}
        elif op == "delete" and live:
            pks = [live[i] for i in self.rng.choice(len(live), min(4, len(live)), replace=False)]
            self.client.delete(name, ids=pks)
            for pk in pks:
                coll.rows.pop(pk)
        elif op == "delete_filter":
            t = int(self.rng.integers(0, 20))
            self.client.delete(name, filter=f"tag == {t}")
            coll.rows = {pk: r for pk, r in coll.rows.items() if r["tag"] != t}
        elif op == "partition":
            if "p1" not in coll.parts:
                self.client.create_partition(name, "p1")
                coll.parts.add("p1")
            self.insert(name, int(self.rng.integers(1, 10)), "p1")
        elif op == "drop_partition" and "p1" in coll.parts:
            self.client.release_partitions(name, ["p1"])
            self.client.drop_partition(name, "p1")
            coll.parts.discard("p1")
            coll.rows = {pk: r for pk, r in coll.rows.items() if r["part"] != "p1"}
            self.client.load_collection(name)
        elif op == "alias":
            alias = "al"
            if alias in self.aliases and self.rng.random() < 0.3:
                self.client.drop_alias(alias)
                del self.aliases[alias]
            elif alias in self.aliases:
                self.client.alter_alias(name, alias)
                self.aliases[alias] = name
            else:
                self.client.create_alias(name, alias)
                self.aliases[alias] = name
        elif op == "rename":
            other = "z" if name != "z" else "w"
            if other in self.colls:
                return
            self.client.rename_collection(name, other)
            self.colls[other] = self.colls.pop(name)
            for a, target in list(self.aliases.items()):
                if target == name:
                    self.aliases[a] = other
            self.create(name, str(self.rng.choice(["a", "b"])))   # a new one under the old name
        elif op == "recreate":
            for a, target in list(self.aliases.items()):
                if target == name:   # a collection with an alias cannot be dropped
                    self.client.drop_alias(a)
                    del self.aliases[a]
            self.client.drop_collection(name)
            del self.colls[name]
            self.create(name, "b" if coll.kind == "a" else "a")
        elif op == "release_load":
            self.client.release_collection(name)
            coll.loaded = False
            try:   # a released collection is not searched
                self.client.search(name, [np.zeros(DIM, np.float32)], limit=1)
            except MilvusException:
                pass
            else:
                raise AssertionError(f"a search of released {name!r} was answered")
            self.client.load_collection(name)
            coll.loaded = True
        elif op in ("flush", "compact"):
            getattr(self.client, op)(name)

    # --- checks ---------------------------------------------------------------------------
    def expected(self, coll: Coll, q: np.ndarray, pred, k: int) -> list[int]:
        pks = np.array(sorted(pk for pk, r in coll.rows.items() if pred(r)), dtype=np.int64)
        if not len(pks):
            return []
        x = np.stack([coll.rows[pk]["v"] for pk in pks]).astype(np.float64)
        d = ((x - q) ** 2).sum(1) if coll.metric == "L2" else -(x @ q)
        return pks[np.lexsort((pks, d))[:k]].tolist()

    def check(self) -> None:
        names = {n: n for n in self.colls} | {a: t for a, t in self.aliases.items()}
        for called, target in sorted(names.items()):
            coll = self.colls[target]
            q = self.rng.standard_normal((3, DIM)).astype(np.float32)
            sp = {"params": {"ef": 512}} if coll.kind == "a" else None
            for text, params, pred in FILTERS:
                want = [self.expected(coll, qi.astype(np.float64), pred, 7) for qi in q]
                for _ in range(2):   # the second call is answered from the caches
                    got = [[h["id"] for h in self.client.search(
                        called, [qi], limit=7, filter=text, filter_params=params,
                        search_params=sp)[0]] for qi in q]
                    assert got == want, (called, target, text, self.steps[-6:])
                batch = self.client.search(called, list(q), limit=7, filter=text,
                                           filter_params=params, search_params=sp,
                                           output_fields=["tag"])
                assert [[h["id"] for h in hits] for hits in batch] == want, (called, text, self.steps[-6:])
                for hits in batch:
                    for h in hits:
                        assert h["entity"]["tag"] == coll.rows[h["id"]]["tag"], (called, h)


@pytest.mark.parametrize("seed", [1])
def test_caches_follow_every_change(tmp_path, seed):
    run = Run(tmp_path, seed)
    run.check()
    for _ in range(20):
        run.step()
        run.check()
    run.client.close()
    run.client = MilvusClient(run.path)
    for name in run.colls:
        run.client.load_collection(name)
    run.check()
    run.client.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_caches_follow_every_change_long(tmp_path, seed):
    run = Run(tmp_path, seed)
    for _ in range(150):
        run.step()
        run.check()


def test_a_search_started_after_a_write_returned_sees_it(tmp_path):
    """Threads: a writer deletes rows and moves rows out of a filter (upsert with another tag);
    searchers repeat the same filtered and unfiltered searches (answered from the caches). A
    search that starts after a write returned never returns a row that write deleted or moved
    out of the filter, and every hit's distance is its row's."""
    import threading
    import time

    rng = np.random.default_rng(0)
    client = MilvusClient(str(tmp_path / "t.db"))
    s, ix = _schema(client, "a")
    client.create_collection("c", schema=s, index_params=ix)
    n = 600
    vecs = {i: rng.standard_normal(DIM).astype(np.float32) for i in range(n)}
    client.insert("c", [{"id": i, "tag": 1, "v": vecs[i]} for i in range(n)])
    gone: set[int] = set()           # deleted or moved to tag 50 (out of "tag < 5")
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    q = rng.standard_normal((8, DIM)).astype(np.float32)

    def writer():
        order = rng.permutation(n).tolist()
        while order and not stop.is_set():
            batch, order[:] = order[:7], order[7:]
            if len(batch) % 2:
                client.delete("c", ids=batch[:3])
                client.upsert("c", [{"id": i, "tag": 50, "v": vecs[i]} for i in batch[3:]])
            else:
                client.upsert("c", [{"id": i, "tag": 50, "v": vecs[i]} for i in batch])
            with lock:
                gone.update(batch)
        stop.set()

    def searcher(text):
        k = 0
        while not stop.is_set():
            with lock:
                before = set(gone)
            qi = q[k % len(q)]
            k += 1
            hits = client.search("c", [qi], limit=10, filter=text,
                                 search_params={"params": {"ef": 1024}})[0]
            for h in hits:
                if text and h["id"] in before:
                    errors.append(f"{text!r}: row {h['id']} returned after it left the filter")
                d = float(((qi - vecs[h["id"]]) ** 2).sum())
                if abs(d - h["distance"]) > 1e-3 * max(1, d):
                    errors.append(f"row {h['id']}: distance {h['distance']} != {d}")
            if errors:
                stop.set()

    threads = [threading.Thread(target=writer)] + \
        [threading.Thread(target=searcher, args=(t,)) for t in ("tag < 5", "tag < 5", "")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    stop.set()
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[:5]
    client.close()


@pytest.fixture
def through_the_graph(monkeypatch):
    """Every filtered search of an HNSW collection goes through the graph with the cached
    mask's selector (the filtered lane, ``filtered.search_masked_one``, and ``FaissIndex.search``)
    instead of the exact survivors path, and every appended row is folded into the graph
    before a search (no exact tail); still exact on these small collections (ef above the row
    count)."""
    from embedb.engine.index import filtered

    from embedb.engine.index import manager

    monkeypatch.setattr(filtered, "EXACT_MAX_ROWS", 0)
    monkeypatch.setattr(filtered, "EXACT_MAX_WORK", 0)
    monkeypatch.setattr(filtered, "EXACT_MAX_FRACTION", 0.0)
    monkeypatch.setattr(filtered, "MAX_CLUMPING", float("inf"))   # no exact plan for clumped rows
    monkeypatch.setattr(manager, "FOLD_MIN_ROWS", 1)   # every row in the graph (no exact tail)
    monkeypatch.setattr(manager, "FOLD_FRACTION", 0.0)


def test_caches_follow_every_change_through_the_graph(tmp_path, through_the_graph):
    run = Run(tmp_path, 11)
    run.check()
    for _ in range(15):
        run.step()
        run.check()
    run.client.close()


@pytest.mark.slow
def test_a_search_started_after_a_write_returned_sees_it_through_the_graph(tmp_path, through_the_graph):
    test_a_search_started_after_a_write_returned_sees_it(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [12, 13, 14])
def test_caches_follow_every_change_through_the_graph_long(tmp_path, seed, through_the_graph):
    run = Run(tmp_path, seed)
    for _ in range(120):
        run.step()
        run.check()
