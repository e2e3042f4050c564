"""One pymilvus program of everyday calls (partition key, JSON and ARRAY fields, templates,
IVF search, range search, upsert, delete by filter, release/load, errors), run through
embedb serve and in-process: every answer must be the same."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

from pymilvus import DataType  # noqa: E402

import embedb  # noqa: E402

# checked by pymilvus itself before sending (its own message), or worded per input shape
CLIENT_SIDE = {"bad_insert", "bad_dim"}


def run(c):  # noqa: C901 - one straight program
    out = {}
    def rec(name, fn):
        try:
            v = fn()
            if isinstance(v, list) and v and isinstance(v[0], list):
                v = [[(dict(h) if isinstance(h, dict) else h) for h in q] for q in v]
            elif isinstance(v, list):
                v = [dict(x) if isinstance(x, dict) else x for x in v]
            out[name] = v
        except Exception as e:
            out[name] = ("ERR", getattr(e, "code", None), getattr(e, "message", str(e))[:80])
    s = c.create_schema(auto_id=True, enable_dynamic_field=True)
    s.add_field("pk", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=3)
    s.add_field("cat", DataType.VARCHAR, max_length=10, is_partition_key=True)
    s.add_field("meta", DataType.JSON)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=5)
    ip = c.prepare_index_params()
    ip.add_index("vec", index_type="IVF_FLAT", metric_type="IP", params={"nlist": 4}, index_name="vidx")
    ip.add_index("cat", index_type="INVERTED")
    rec("create", lambda: c.create_collection("m", schema=s, index_params=ip, num_partitions=4, properties={"a": "1"}))
    rng = np.random.default_rng(3)
    rows = [{"vec": rng.random(3).tolist(), "cat": "abc"[i % 3], "meta": {"n": i, "s": str(i)}, "tags": [i, i + 1], "dyn": i * 2} for i in range(60)]
    res = c.insert("m", rows)
    ids = res["ids"]
    rec("insert_count", lambda: res["insert_count"])
    rec("partitions", lambda: len(c.list_partitions("m")))
    rec("indexes", lambda: sorted(c.list_indexes("m")))
    rec("indexes_vec", lambda: c.list_indexes("m", field_name="vec"))
    rec("desc_idx", lambda: {k: str(v) for k, v in c.describe_index("m", "vidx").items()})
    rec("load_state", lambda: str(c.get_load_state("m")["state"]))
    rec("stats", lambda: c.get_collection_stats("m"))
    rec("q_json", lambda: [r["dyn"] for r in c.query("m", filter='meta["n"] < 3 and json_contains(tags, 2)', output_fields=["dyn"])])
    rec("q_tmpl", lambda: sorted(r["meta"]["n"] for r in c.query("m", filter="cat == {c} and dyn > {d}", filter_params={"c": "b", "d": 100}, output_fields=["meta"])))
    rec("q_array", lambda: sorted(r["tags"][0] for r in c.query("m", filter="array_contains(tags, 7)", output_fields=["tags"])))
    rec("q_star", lambda: sorted(c.query("m", filter="dyn == 4", output_fields=["*"])[0].keys()))
    rec("s_ip", lambda: [[(h["entity"]["cat"], round(h["distance"], 4)) for h in q] for q in c.search("m", [[1.0, 0.5, 0.2]], limit=5, output_fields=["cat"], search_params={"params": {"nprobe": 4}})])
    rec("s_filter_json", lambda: [[h["entity"]["meta"]["n"] for h in q] for q in c.search("m", [[1.0, 0.5, 0.2]], limit=5, filter='meta["n"] >= 50', output_fields=["meta"], search_params={"params": {"nprobe": 4}})])
    rec("s_range", lambda: [len(q) for q in c.search("m", [[1.0, 0.5, 0.2]], limit=50, search_params={"params": {"nprobe": 4, "radius": 0.8, "range_filter": 1.5}})])
    rec("s_part", lambda: sorted({h["entity"]["cat"] for q in c.search("m", [[1.0, 0.5, 0.2]], limit=10, filter="cat == 'a'", output_fields=["cat"], search_params={"params": {"nprobe": 4}}) for h in q}))
    rec("s_nq", lambda: [len(q) for q in c.search("m", rng.random((3, 3)).tolist(), limit=4, search_params={"params": {"nprobe": 4}})])
    rec("s_offset", lambda: len(c.search("m", [[1.0, 0.5, 0.2]], limit=3, offset=2, search_params={"params": {"nprobe": 4}})[0]))
    rec("s_dyn_out", lambda: [[h["entity"].get("dyn") is not None for h in q] for q in c.search("m", [[1.0, 0.5, 0.2]], limit=2, output_fields=["dyn"], search_params={"params": {"nprobe": 4}})])
    rec("upsert", lambda: c.upsert("m", [{"pk": ids[0], "vec": [0.0, 0.0, 1.0], "cat": "a", "meta": {"n": -1}, "tags": []}])["upsert_count"])
    rec("get_up", lambda: [(r["meta"], r["tags"]) for r in c.get("m", ids=[ids[0]], output_fields=["meta", "tags"])])
    rec("del_filter", lambda: c.delete("m", filter="dyn >= 100")["delete_count"])
    rec("count", lambda: c.query("m", output_fields=["count(*)"])[0]["count(*)"])
    rec("flush", lambda: c.flush("m"))
    rec("compact", lambda: isinstance(c.compact("m"), int))
    rec("release", lambda: c.release_collection("m"))
    rec("state2", lambda: str(c.get_load_state("m")["state"]))
    rec("q_released", lambda: c.query("m", filter="dyn == 4"))
    rec("load", lambda: c.load_collection("m"))
    rec("drop_idx_loaded", lambda: c.drop_index("m", "vidx"))
    rec("has", lambda: (c.has_collection("m"), c.has_collection("zz")))
    rec("bad_filter", lambda: c.query("m", filter="dyn >>> 3"))
    rec("bad_field", lambda: c.search("m", [[1.0, 0.5, 0.2]], anns_field="nope", limit=2))
    rec("bad_dim", lambda: c.search("m", [[1.0, 0.5]], limit=2))
    rec("missing_coll", lambda: c.query("zz", filter="x > 1"))
    rec("bad_insert", lambda: c.insert("m", [{"vec": [1.0, 2.0, 3.0], "cat": "a", "meta": {}, "tags": ["x"]}]))
    rec("drop", lambda: c.drop_collection("m"))
    return out


def test_everyday_program_answers_the_same_through_the_server():
    with embedb.serve_in_thread(":memory:") as uri:
        client = pymilvus.MilvusClient(uri=uri)
        wire = run(client)
        client.close()
    with embedb.MilvusClient(":memory:") as local:
        here = run(local)
    assert wire.keys() == here.keys()
    for key in wire:
        if key in CLIENT_SIDE:  # an error in both doors
            assert wire[key][0] == here[key][0] == "ERR", key
        else:
            assert wire[key] == here[key], key
    assert here["bad_filter"][0] == "ERR" and here["missing_coll"][1] == 100
