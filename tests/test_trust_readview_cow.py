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


def test_count_without_a_filter_equals_the_rows_a_scan_finds(tmp_path):
    """count(*) without filter, partitions or ids answers from the live-row counter; it must
    equal what a full scan finds after every kind of write, on a view and after reopening."""
    c = _client(tmp_path)
    c.create_partition("c", "p")

    def check():
        scan = len(c.query("c", filter="id >= 0", output_fields=["id"]))
        assert c.query("c", filter="", output_fields=["count(*)"]) == [{"count(*)": scan}]
        assert c.query("c", filter="id >= 0", output_fields=["count(*)"]) == [{"count(*)": scan}]
        return scan

    assert check() == 50
    c.insert("c", [{"id": 100 + i, "vector": [1.0, 2.0], "x": "p"} for i in range(5)], partition_name="p")
    c.upsert("c", [{"id": i, "vector": [0.0, 0.0], "x": "u"} for i in (1, 2, 1000)])
    c.delete("c", ids=[3, 4, 4, 999])
    view = c._collection("c").read_view(need_pk=True)
    assert check() == 50 + 5 + 1 - 2
    c.release_collection("c")   # a loaded partition cannot be dropped
    c.drop_partition("c", "p")
    c.load_collection("c")
    assert check() == 49
    assert view.query("", output_fields=["count(*)"]) == [{"count(*)": 54}]   # its own moment
    c.compact("c")
    assert check() == 49
    c.close()
    c = MilvusClient(str(tmp_path / "d.db"))
    assert check() == 49
    c.truncate_collection("c")
    assert check() == 0
    c.close()


def test_get_by_ids_checks_only_those_rows_and_agrees_with_the_masked_path(tmp_path, monkeypatch):
    """A get by ids (no filter) checks only the rows asked for; it must keep exactly the rows
    the full mask keeps (deleted, expired, other partitions) in the order asked, each once."""
    from embedb.engine import evolution

    now = [1_700_000_000_000]
    monkeypatch.setattr(evolution, "clock_ms", lambda: now[0])
    c = _client(tmp_path)
    c.create_partition("c", "p")
    c.insert("c", [{"id": 100 + i, "vector": [1.0, 2.0], "x": "p"} for i in range(5)], partition_name="p")
    c.delete("c", ids=[5, 101])
    coll = c._collection("c")
    asked = [104, 3, 5, 999, 3, 100, 101, 49, 0, 104]

    def both(**kw):
        fast = coll.query("", ids=asked, output_fields=["x"], **kw)
        masked = coll.query("id >= -1", ids=asked, output_fields=["x"], **kw)   # the mask path
        assert fast == masked
        return [r["id"] for r in fast]

    assert both() == [104, 3, 100, 49, 0]
    assert both(partitions=["p"]) == [104, 100]
    assert both(partitions=["_default"]) == [3, 49, 0]
    assert both(partitions=["_default", "p"]) == [104, 3, 100, 49, 0]
    assert both(limit=2, offset=1) == [3, 100]

    c.alter_collection_properties("c", {"collection.ttl.seconds": 60})
    now[0] += 30_000
    c.insert("c", [{"id": 200, "vector": [0.0, 1.0], "x": "late"}])
    asked.append(200)
    now[0] += 45_000   # the first rows expired, the late one not
    assert both() == [200]
    with pytest.raises(Exception, match="partition"):
        coll.query("", ids=asked, partitions=["nope"])
    c.close()
