"""A fork child never hangs in faiss (GNU OpenMP is not fork-safe).

faiss runs its parallel loops on libgomp. Once the thread that forks has run a parallel region
(a batch search, an index build), its OpenMP pool names worker threads that a fork child does
not have; the child's next parallel region on that thread waits for them forever. embedb's
fork-child hook (``database._after_fork_in_child``) puts faiss on one OpenMP thread in the child.

Each scenario runs in a fresh interpreter under a timeout (a hang fails the test instead of
hanging the suite, and a crash is an exit code): the parent warms its OpenMP pool with batch
searches and an index build on the thread that forks, then a child (``os.fork`` and a
``multiprocessing`` 'fork' pool) opens the database read-only beside the parent and a database
of its own, builds HNSW and IVF_FLAT indexes and searches them: single, batch (the batch is
past faiss's BLAS threshold), filtered; from its main thread and from a new thread. The exact
(FLAT) answers are checked against NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from kill_harness import run_or_fail

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

SCRIPT = textwrap.dedent(r'''
    import json, multiprocessing, os, signal, sys, threading, time
    import numpy as np
    from embedb import MilvusClient
    from embedb.schema import CollectionSchema, DataType

    root, mode = sys.argv[1], sys.argv[2]
    DIM, N = 16, 2000
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, DIM)).astype(np.float32)
    Q = rng.standard_normal((40, DIM)).astype(np.float32)   # 40 > faiss's BLAS threshold (20)

    def make(client, name, index_type, params):
        schema = CollectionSchema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("tag", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        ip = client.prepare_index_params()
        ip.add_index("vector", index_type=index_type, metric_type="L2", params=params)
        client.create_collection(name, schema=schema, index_params=ip)
        client.insert(name, [{"id": i, "tag": i % 3, "vector": X[i]} for i in range(N)])
        client.flush(name)   # builds and saves the index: faiss's parallel add / k-means

    def ids(hits):
        return [[h["id"] for h in q] for q in hits]

    def exact(rows, k):
        d = ((X[rows][None, :, :] - Q[:, None, :]) ** 2).sum(-1)
        return [[int(rows[j]) for j in np.lexsort((rows[None].repeat(len(Q), 0)[i], d[i]))[:k]]
                for i in range(len(Q))]

    def work(path_ro, own):
        """Everything a worker does with embedb; returns what it checked."""
        out = {}
        ro = MilvusClient(path_ro, read_only=True)   # the parent's database, beside its writer
        for name in ("hnsw", "flat"):
            ro.load_collection(name)
            out[name + " batch"] = ids(ro.search(name, Q, limit=5))
            out[name + " single"] = ids(ro.search(name, Q[:1], limit=5))
            out[name + " filtered"] = ids(ro.search(name, Q, limit=5, filter="tag == 1"))
        ro.close()
        c = MilvusClient(own)   # a database of the child's own: index builds in the child
        make(c, "hnsw", "HNSW", {"M": 8, "efConstruction": 40})
        make(c, "ivf", "IVF_FLAT", {"nlist": 16})
        make(c, "flat", "FLAT", {})
        for name in ("hnsw", "ivf", "flat"):
            out["own " + name + " batch"] = ids(c.search(name, Q, limit=5))
            out["own " + name + " filtered"] = ids(c.search(name, Q, limit=5, filter="tag == 2"))
        c.close()
        return out

    def work_threaded(path_ro, own):
        box = {}
        t = threading.Thread(target=lambda: box.update(work(path_ro, own)))
        t.start(); t.join()
        return box

    def check(out):
        everything = np.arange(N)
        assert out["flat batch"] == exact(everything, 5), "flat batch"
        assert out["flat filtered"] == exact(everything[everything % 3 == 1], 5), "flat filtered"
        assert out["own flat batch"] == exact(everything, 5), "own flat"
        assert out["own flat filtered"] == exact(everything[everything % 3 == 2], 5)
        for key, hits in out.items():
            assert len(hits) in (1, len(Q)) and all(len(h) == 5 for h in hits), key

    def pool_task(arg):
        i, threaded = arg
        return (work_threaded if threaded else work)(root + "/parent.db", f"{root}/child{i}.db")

    if __name__ == "__main__":
        parent = MilvusClient(root + "/parent.db")
        make(parent, "hnsw", "HNSW", {"M": 8, "efConstruction": 40})
        make(parent, "flat", "FLAT", {})
        for name in ("hnsw", "flat"):   # OpenMP pool warm on this thread, the one that forks
            parent.search(name, Q, limit=5)
        import faiss
        assert faiss.omp_get_max_threads() >= 2 or os.cpu_count() == 1, "OpenMP has one thread"
        results = []
        if mode in ("os.fork", "os.fork thread"):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    fn = work_threaded if mode == "os.fork thread" else work
                    out = fn(root + "/parent.db", root + "/child.db")
                except BaseException as exc:
                    out, code = {"crash": repr(exc)}, 1
                os.write(w, json.dumps(out).encode())
                os._exit(code)
            os.close(w)
            _, status = os.waitpid(pid, 0)
            data = b""
            while chunk := os.read(r, 1 << 16):
                data += chunk
            out = json.loads(data)
            assert "crash" not in out, out["crash"]
            assert os.waitstatus_to_exitcode(status) == 0
            results.append(out)
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(2) as pool:
                results = pool.map(pool_task, [(0, False), (1, True)])
        for out in results:
            check(out)
        # the parent's pool is untouched and it still writes and searches in parallel
        parent.insert("hnsw", [{"id": N, "tag": 0, "vector": X[0]}])
        assert len(parent.search("hnsw", Q, limit=5)) == len(Q)
        parent.close()
        print("OK", json.dumps(results[0]["own hnsw batch"][:1]))
''')


def _run(tmp_path, mode: str) -> None:
    script = tmp_path / "fork_openmp.py"
    script.write_text(SCRIPT)
    code, out = run_or_fail([str(script), str(tmp_path), mode], 90,
                            f"{mode}: a process (OpenMP after fork?)")
    assert code == 0 and "OK" in out, f"{mode}: exit {code}\n{out[-3000:]}"


@pytest.mark.parametrize("mode", ["os.fork", "os.fork thread", "multiprocessing fork"])
def test_a_fork_child_searches_and_builds_indexes_after_the_parent_used_openmp(tmp_path, mode):
    _run(tmp_path, mode)


def test_the_fork_hook_does_not_import_faiss(tmp_path):
    """A process that never loaded faiss forks without loading it (importing embedb is inert)."""
    code = ("import os, sys\nimport embedb.engine.database\npid = os.fork()\n"
            "if pid == 0:\n    os._exit(3 if 'faiss' in sys.modules else 0)\n"
            "_, st = os.waitpid(pid, 0)\nsys.exit(os.waitstatus_to_exitcode(st))\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


LOCKS_SCRIPT = textwrap.dedent(r'''
    import importlib, json, os, sys, threading, time
    import numpy as np
    from embedb import MilvusClient
    from embedb.engine import database

    root = sys.argv[1]
    c = MilvusClient(root + "/own.db")          # a database the child opens again itself
    c.create_collection("c", dimension=4)
    c.insert("c", [{"id": i, "vector": np.full(4, i, np.float32), "t": f"r{i}"} for i in range(50)])
    c.close()
    mods = {}
    for name, attr in database._FORK_RENEWED_LOCKS:
        mods[(name, attr)] = importlib.import_module(name)
    held, release = threading.Event(), threading.Event()

    from embedb.engine import columns
    prefault = getattr(columns, "_prefaulter", None)

    def hold():   # a parent thread inside every one of them at the moment of the fork
        locks = [getattr(m, a) for (n, a), m in mods.items()]
        if prefault is not None:   # the page prefaulter's condition (each large append takes it)
            locks.append(prefault._cv)
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait(60)
        for lock in locks:
            lock.release()

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:
        free = {f"{n}.{a}": getattr(m, a).acquire(timeout=5) for (n, a), m in mods.items()}
        for (n, a), m in mods.items():
            getattr(m, a).release()
        own = MilvusClient(root + "/own.db")   # columns resolved, filters compiled, caches made
        own.load_collection("c")
        own.create_collection("c2", dimension=128)   # a column that grows past 1 MiB: prefaulted
        big = np.random.default_rng(0).random((3100, 128), dtype=np.float32)
        own.insert("c2", [{"id": i, "vector": big[i]} for i in range(3000)])
        own.insert("c2", [{"id": i, "vector": big[i]} for i in range(3000, 3100)])
        rows = own.query("c", filter="id < 3 and t like 'r%'", output_fields=["t"])
        hits = own.search("c", [[1.0] * 4], limit=2, filter="id >= 10")
        own.close()
        ok = all(free.values()) and [r["t"] for r in rows] == ["r0", "r1", "r2"] and \
            [h["id"] for h in hits[0]] == [10, 11]
        print(json.dumps(free), flush=True)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    release.set()
    code = os.waitstatus_to_exitcode(status)
    print("CHILD", code)
    sys.exit(code)
''')


def test_module_locks_held_by_a_parent_thread_at_the_fork_are_free_in_the_child(tmp_path):
    """A parent thread inside a module-level lock at the fork (a large column's checksums, a
    model identity check, a filter compile) must not leave it locked forever in the child."""
    script = tmp_path / "fork_locks.py"
    script.write_text(LOCKS_SCRIPT)
    code, out = run_or_fail([str(script), str(tmp_path)], 90, "the child (on a lock?)")
    assert code == 0, out[-3000:]
