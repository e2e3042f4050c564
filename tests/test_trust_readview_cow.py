"""Read views share the collection's state instead of copying it per read; the snapshot
guarantee must hold all the same.

* Tombstones are shared with a view and copied by the collection before its next delete
  (copy on write): a view taken before deletes and upserts still answers for its moment.
* Snapshot columns verified by a view (checksums, first use after opening) are handed to the
  collection too, so later reads reuse them; the values served are unchanged and a damaged
  file is still refused on every read.
"""

from __future__ import annotations

import numpy as np
import pytest

from embedb import MilvusClient
from embedb.errors import StorageError


def _client(tmp_path, n=50):
    c = MilvusClient(str(tmp_path / "d.db"))
    c.create_collection("c", dimension=2)
    c.insert("c", [{"id": i, "vector": [float(i), 1.0], "x": f"v{i}"} for i in range(n)])
    return c


def _ids(rows):
    return sorted(r["id"] for r in rows)


def test_a_view_keeps_its_tombstones_across_deletes_and_upserts(tmp_path):
    c = _client(tmp_path)
    coll = c._collection("c")
    before = coll.read_view(need_pk=True)
    c.delete("c", ids=[1, 2, 3])
    middle = coll.read_view(need_pk=True)
    c.upsert("c", [{"id": 4, "vector": [0.0, 0.0], "x": "new"}])   # deletes the old row 4
    c.delete("c", ids=[10])
    after = coll.read_view(need_pk=True)

    assert _ids(before.query("", output_fields=["id"])) == list(range(50))
    assert _ids(middle.query("", output_fields=["id"])) == [i for i in range(50) if i not in (1, 2, 3)]
    assert [r["x"] for r in middle.query("", ids=[4], output_fields=["x"])] == ["v4"]
    assert _ids(after.query("", output_fields=["id"])) == [i for i in range(50) if i not in (1, 2, 3, 10)]
    assert [r["x"] for r in after.query("", ids=[4], output_fields=["x"])] == ["new"]
    assert before.query("", output_fields=["count(*)"]) == [{"count(*)": 50}]
    assert c.query("c", filter="", output_fields=["count(*)"]) == [{"count(*)": 46}]
    c.close()


def test_views_after_reopening_serve_the_same_values_and_reuse_verified_columns(tmp_path):
    c = _client(tmp_path)
    c.delete("c", ids=[7])
    expected = c.query("c", filter="id >= 0", output_fields=["*"])
    c.close()

    c = MilvusClient(str(tmp_path / "d.db"))
    coll = c._collection("c")
    assert any(col._deferred is not None for col in coll._columns.values())  # not read yet
    for _ in range(3):
        got = c.query("c", filter="id >= 0", output_fields=["*"])
        assert got == expected
    served = [name for name in coll._columns if not name.startswith("$") or name == "$meta"]
    assert served and all(coll._columns[name]._deferred is None for name in served)
    assert np.array_equal(coll._columns["id"].values[~coll._deleted.view],
                          np.array([r["id"] for r in expected]))
    c.close()


def test_a_damaged_column_is_refused_on_every_read_after_reopening(tmp_path):
    c = _client(tmp_path, n=2000)
    c.close()
    files = sorted((tmp_path / "d.db").rglob("*"))
    target = next(p for p in files if p.is_file() and "vector" in p.name and p.stat().st_size > 4096)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))

    c = MilvusClient(str(tmp_path / "d.db"))
    for _ in range(2):
        with pytest.raises(StorageError, match="damaged"):
            c.query("c", filter="id >= 0", output_fields=["vector"])
    c.close()
