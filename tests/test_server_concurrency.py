"""Many pymilvus clients at once on one embedb serve: writers and readers in parallel threads;
every write lands once and every read answers."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("grpc")
pymilvus = pytest.importorskip("pymilvus")

import embedb  # noqa: E402


def test_parallel_writers_and_readers(tmp_path):
    with embedb.serve_in_thread(str(tmp_path / "c.db"), max_workers=8) as uri:
        admin = pymilvus.MilvusClient(uri=uri)
        admin.create_collection("c", dimension=4)
        errors = []

        def writer(w):
            try:
                client = pymilvus.MilvusClient(uri=uri)
                for b in range(10):
                    base = w * 1000 + b * 10
                    client.insert("c", [{"id": base + i, "vector": [float(w), float(b), float(i), 1.0],
                                         "w": w} for i in range(10)])
                client.close()
            except Exception as exc:  # reported below
                errors.append(exc)

        def reader():
            try:
                client = pymilvus.MilvusClient(uri=uri)
                for _ in range(20):
                    client.search("c", [[1.0, 2.0, 3.0, 1.0]], limit=5, filter="w >= 0")
                    client.query("c", filter="w == 1", output_fields=["id"], limit=100)
                client.close()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        threads += [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a call hung"
        assert not errors, errors
        assert admin.query("c", output_fields=["count(*)"])[0]["count(*)"] == 400
        for w in range(4):
            ids = sorted(r["id"] for r in admin.query("c", filter=f"w == {w}", output_fields=["id"], limit=1000))
            assert ids == [w * 1000 + k for k in range(100)]
        admin.close()
