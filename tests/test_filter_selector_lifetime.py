"""The bitmap selector a filtered graph search hands to faiss lives as long as the search.

faiss reads the selector (a C++ object) and the packed mask bytes it points at during the
search. They are kept with the search parameters, so a call whose parameters cannot be cached
with the mask (an unhashable value, such as a list) still searches a live selector. The search
runs in a child process: reading freed memory must fail this test, not crash pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import gc
    import numpy as np
    import embedb
    from embedb.engine import filter_cache
    from embedb.engine.index import filtered, manager
    from embedb.engine.index.dense import bitmap_selector

    # every filtered search goes through the graph with a selector
    filtered.EXACT_MAX_ROWS = 0
    filtered.EXACT_MAX_WORK = 0
    filtered.EXACT_MAX_FRACTION = 0.0
    filtered.MAX_CLUMPING = float("inf")
    manager.FOLD_MIN_ROWS = 1
    manager.FOLD_FRACTION = 0.0

    rng = np.random.default_rng(3)
    n, dim = 3000, 16
    client = embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 64})
    client.create_collection("c", schema=schema, index_params=index)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    tags = rng.integers(0, 10, n)
    client.insert("c", [{"id": i, "tag": int(tags[i]), "v": x[i]} for i in range(n)])
    queries = rng.standard_normal((20, dim)).astype(np.float32)

    def ids(res):
        return [h["id"] for h in res[0]]

    for round_ in range(3):
        for q in queries:
            want = ids(client.search("c", [q], limit=10, filter="tag < 3",
                                     search_params={"params": {"ef": 200}}))
            got = ids(client.search("c", [q], limit=10, filter="tag < 3",
                                    search_params={"params": {"ef": 200, "refine_k": [1]}}))
            assert got == want, (got, want)
            assert all(int(tags[i]) < 3 for i in got)
            # churn: freed selectors and byte buffers get reused if anything still points at them
            junk = [bitmap_selector(rng.random(n) < 0.5) for _ in range(20)]
            del junk
            gc.collect()
    print("ok")
""")


def test_selector_of_uncacheable_parameters_stays_alive():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
