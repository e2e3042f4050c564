"""fork() while a parent thread is inside a module-level lock of the client layers.

``lenient._warned_lock`` (unknown keyword arguments warned once), ``client.collections.
_compaction_lock`` (compaction job ids) and ``server.app._running_lock`` (servers stopped at
exit) are renewed in a fork child, as the engine's own module locks are
(``database._after_fork_in_child``): a parent thread holding one at the fork would otherwise
leave it locked forever in the child, whose next call (or its exit) would hang. The same for
``geometry._CACHE_LOCK`` (parsed WKT of a GEOMETRY filter), which the engine's list renews. The child also
forgets the parent's running servers: their threads are not in the child, so stopping them at
the child's exit waited forever (reproduced before the fix).

Run in a fresh interpreter with a timeout, so a hang fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import textwrap

import pytest
from kill_harness import run_or_fail

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

SCRIPT = textwrap.dedent(r'''
    import json, os, sys, threading, warnings
    import embedb
    from embedb import DataType, MilvusClient, geometry, lenient
    from embedb.client import collections as client_collections
    from embedb.server import app

    root, serve = sys.argv[1], sys.argv[2] == "1"
    c = MilvusClient(root + "/own.db")          # a database the child opens itself
    c.create_collection("c", dimension=4)
    c.insert("c", [{"id": i, "vector": [float(i)] * 4} for i in range(20)])
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("geo", DataType.GEOMETRY)
    ix = c.prepare_index_params()
    ix.add_index("vec", index_type="FLAT", metric_type="L2")
    c.create_collection("g", schema=s, index_params=ix)
    c.insert("g", [{"id": i, "vec": [0.0, 1.0], "geo": f"POINT ({i} {i})"} for i in range(10)])
    c.close()
    uri = embedb.serve_in_thread(root + "/served.db") if serve else None
    modules = {"lenient._warned_lock": (lenient, "_warned_lock"),
               "collections._compaction_lock": (client_collections, "_compaction_lock"),
               "app._running_lock": (app, "_running_lock"),
               "geometry._CACHE_LOCK": (geometry, "_CACHE_LOCK")}   # renewed by the engine's hook
    held, release = threading.Event(), threading.Event()

    def hold():   # a parent thread inside every one of them at the moment of the fork
        locks = [getattr(m, a) for m, a in modules.values()]
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait(60)
        for lock in locks:
            lock.release()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:
        free = {}
        for name, (m, a) in modules.items():
            free[name] = getattr(m, a).acquire(timeout=5)
            if free[name]:
                getattr(m, a).release()
        own = MilvusClient(root + "/own.db")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = own.query("c", filter="id < 3", output_fields=["id"], not_a_pymilvus_kwarg=1)
        warned = any("not_a_pymilvus_kwarg" in str(w.message) for w in caught)
        near = own.query("g", filter="ST_DWITHIN(geo, 'POINT (0 0)', 200000)", output_fields=["id"])
        job = own.compact("c")
        state = own.get_compaction_state(job)
        own.close()
        ok = all(free.values()) and warned and state == "Completed" and \
            sorted(r["id"] for r in rows) == [0, 1, 2] and not app._running and \
            sorted(r["id"] for r in near) == [0, 1]
        print(json.dumps({"free": free, "warned": warned, "state": state,
                          "near": sorted(r["id"] for r in near)}), flush=True)
        sys.exit(0 if ok else 1)   # a normal exit: atexit stops the running servers (none here)
    _, status = os.waitpid(pid, 0)
    release.set()
    if uri is not None:
        uri.stop()
    code = os.waitstatus_to_exitcode(status)
    print("CHILD", code, flush=True)
    sys.exit(code)
''')


@pytest.mark.parametrize("serving", [False, True], ids=["no-server", "parent-serving"])
def test_client_module_locks_held_at_the_fork_are_free_in_the_child(tmp_path, serving):
    """The child warns about an unknown keyword, compacts and exits (stopping its running
    servers at exit) while the parent's thread still holds each lock; with the parent serving
    the database over gRPC, too."""
    if serving:
        pytest.importorskip("grpc")
    script = tmp_path / "fork_client_locks.py"
    script.write_text(SCRIPT)
    code, out = run_or_fail([str(script), str(tmp_path), "1" if serving else "0"], 90,
                            "the fork child")
    assert code == 0, out[-3000:]
    assert "CHILD 0" in out, out[-3000:]
