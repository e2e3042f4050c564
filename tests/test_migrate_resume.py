"""embedb migrate after an interruption: an injected failure after batch k and a SIGKILL of the
migrating process mid-copy; the rerun resumes, writes no duplicate and ends identical."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from embedb import DataType, MilvusClient
from embedb.migrate import MigrationError, migrate

from milvus_server import lite3_target, milvus_target, unique_name  # noqa: F401
from test_migrate_roundtrip import _drop, build_source, snapshot


class Interrupted(Exception):
    pass


def _stop_after(k: int):
    def on_batch(collection, partition, batch, rows):
        if batch == k:
            raise Interrupted(f"stopped after batch {k} of {collection}/{partition}")
    return on_batch


def _pks(uri: str, name: str) -> list:
    with MilvusClient(uri) as client:
        keys = []
        for batch in client.query_iterator(name, batch_size=1000, output_fields=["id"]):
            keys.extend(r["id"] for r in batch)
        return keys


def test_injected_failure_then_rerun_resumes_without_duplicates(tmp_path, lite3_target):
    name = unique_name("inj")
    build_source(tmp_path / "src.db", name, lite3_target, n=600)
    src, dst, state = str(tmp_path / "src.db"), str(tmp_path / "dst.db"), tmp_path / "state.json"
    with pytest.raises(Interrupted):
        migrate(src, dst, batch_size=64, state_file=state, on_batch=_stop_after(3))
    saved = json.loads(state.read_text())["collections"][name]["streams"]
    assert sum(s["batches"] for s in saved.values()) == 3
    assert sum(s["rows"] for s in saved.values()) == 3 * 64
    report = migrate(src, dst, batch_size=64, state_file=state)
    assert report.ok and report.collections[0]["rows_copied"] == 600 - 3 * 64
    keys = _pks(dst, name)
    assert len(keys) == len(set(keys)) == 600
    assert snapshot(tmp_path / "dst.db", name) == snapshot(tmp_path / "src.db", name)
    assert not state.exists()


def test_sigkill_mid_migration_to_a_server_then_rerun(tmp_path, milvus_target):
    name = unique_name("kill")
    build_source(tmp_path / "src.db", name, milvus_target, n=700)
    src, state = str(tmp_path / "src.db"), tmp_path / "state.json"
    script = textwrap.dedent(f"""
        import os, signal
        from embedb.migrate import migrate
        def on_batch(collection, partition, batch, rows):
            if batch == 4:
                os.kill(os.getpid(), signal.SIGKILL)
        migrate({src!r}, {milvus_target.uri!r}, [{name!r}], batch_size=50,
                state_file={str(state)!r}, on_batch=on_batch)
    """)
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.returncode == -9, proc.stderr
        assert state.exists()
        report = migrate(src, milvus_target.uri, [name], batch_size=50, state_file=state)
        assert report.ok, report.collections[0].get("verify")
        keys = _pks(milvus_target.uri, name)
        assert len(keys) == len(set(keys)) == 700
        assert migrate(milvus_target.uri, str(tmp_path / "back.db"), [name],
                       state_file=tmp_path / "back.json").ok
    finally:
        _drop(milvus_target.uri, name)
    assert snapshot(tmp_path / "back.db", name) == snapshot(tmp_path / "src.db", name)


def test_a_refused_batch_names_the_collection_the_batch_and_what_to_do(tmp_path):
    with MilvusClient(str(tmp_path / "a.db")) as a, MilvusClient(str(tmp_path / "b.db")) as b:
        for client, length in ((a, 100), (b, 5)):
            schema = client.create_schema()
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
            schema.add_field("s", DataType.VARCHAR, max_length=length)
            index = client.prepare_index_params()
            index.add_index("v", index_type="FLAT", metric_type="L2")
            client.create_collection("c", schema=schema, index_params=index)
        a.insert("c", [{"id": i, "v": [1.0, 2.0], "s": "x" * (3 if i < 20 else 50)} for i in range(40)])
    state = tmp_path / "state.json"
    with pytest.raises(MigrationError) as info:
        migrate(str(tmp_path / "a.db"), str(tmp_path / "b.db"), batch_size=10, state_file=state)
    message = info.value.message
    assert "collection 'c'" in message and "batch 3" in message and "after primary key 19" in message
    assert "rerun the same command to resume" in message and str(state) in message
    assert json.loads(state.read_text())["collections"]["c"]["streams"]["_default"]["rows"] == 20


def test_verify_finds_a_row_changed_on_the_destination(tmp_path):
    from embedb.migrate.plan import read_plan
    from embedb.migrate.verify import verify_collection

    with MilvusClient(str(tmp_path / "a.db")) as a:
        a.create_collection("c", dimension=4, metric_type="L2")
        a.insert("c", [{"id": i, "vector": [float(i), 1.0, 2.0, 3.0], "tag": f"t{i}"} for i in range(50)])
    assert migrate(str(tmp_path / "a.db"), str(tmp_path / "b.db"), state_file=tmp_path / "s").ok
    with MilvusClient(str(tmp_path / "a.db")) as a, MilvusClient(str(tmp_path / "b.db")) as b:
        b.upsert("c", [{"id": 7, "vector": [7.0, 1.0, 2.0, 3.5], "tag": "t7"}])
        plan = read_plan(a, "c")
        report = verify_collection(a, b, plan, [7, 8])
        assert not report["ok"]
        assert any("row 7, field 'vector'" in p for p in report["problems"])
        assert any("score the same ids differently" in p for p in report["problems"])
        b.delete("c", ids=[9])
        assert "50 rows in partition '_default' in the source, 49 in the destination" in \
            verify_collection(a, b, plan, [8])["problems"]
