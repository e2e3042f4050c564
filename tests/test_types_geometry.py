"""GEOMETRY: WKT in and out, and every ST_* filter function, checked row by row against
shapely's own predicates on random geometries."""

import math
import random

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.errors import DataError, FilterError, SchemaError

shapely = pytest.importorskip("shapely")
from shapely import wkt as shapely_wkt  # noqa: E402

PREDICATES = ["st_equals", "st_touches", "st_overlaps", "st_crosses", "st_contains",
              "st_intersects", "st_within"]


def _random_wkt(rng: random.Random) -> str:
    kind = rng.choice(["point", "line", "box", "triangle", "multipoint"])
    x, y = rng.randint(0, 20), rng.randint(0, 20)  # a coarse grid: touching and equal shapes occur
    if kind == "point":
        return f"POINT ({x} {y})"
    if kind == "line":
        return f"LINESTRING ({x} {y}, {x + rng.randint(-5, 5)} {y + rng.randint(1, 5)})"
    if kind == "box":
        w, h = rng.randint(1, 6), rng.randint(1, 6)
        return f"POLYGON (({x} {y}, {x + w} {y}, {x + w} {y + h}, {x} {y + h}, {x} {y}))"
    if kind == "triangle":
        return f"POLYGON (({x} {y}, {x + 4} {y}, {x} {y + 4}, {x} {y}))"
    return f"MULTIPOINT (({x} {y}), ({x + 1} {y + 1}))"


def _client(tmp_path, **field_kwargs):
    client = MilvusClient(str(tmp_path / "geo.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("geo", DataType.GEOMETRY, nullable=True, **field_kwargs)
    client.create_collection("g", schema=schema)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_index("g", index)
    client.load_collection("g")
    return client


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    rng = random.Random(3)
    texts = [_random_wkt(rng) for _ in range(400)]
    texts[7] = None
    client = _client(tmp_path_factory.mktemp("geo"))
    client.insert("g", [{"id": i, "vec": [float(i), 0.0], "geo": t} for i, t in enumerate(texts)])
    return client, texts, rng


def test_wkt_round_trips_in_shapely_form(loaded):
    client, texts, _ = loaded
    got = {r["id"]: r["geo"] for r in client.query("g", "id >= 0", output_fields=["geo"])}
    for i, text in enumerate(texts):
        if text is None:
            assert got[i] is None
        else:
            assert shapely.equals(shapely_wkt.loads(got[i]), shapely_wkt.loads(text))
            assert got[i] == shapely.to_wkt(shapely_wkt.loads(text), rounding_precision=-1)


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_match_shapely_row_by_row(loaded, name):
    client, texts, rng = loaded
    stored = [None if t is None else shapely_wkt.loads(t) for t in texts]
    fn = getattr(shapely, name[3:])
    for _ in range(6):
        query = texts[rng.randrange(len(texts))] if rng.random() < 0.3 else _random_wkt(rng)
        if query is None:
            continue
        q = shapely_wkt.loads(query)
        want = {i for i, g in enumerate(stored) if g is not None and fn(g, q)}
        for spelled in (name, name.upper()):
            rows = client.query("g", f"{spelled}(geo, '{query}')", output_fields=["id"])
            assert {r["id"] for r in rows} == want, (spelled, query)
        rows = client.query("g", f"not {name}(geo, '{query}')", output_fields=["id"])
        assert {r["id"] for r in rows} == {i for i, g in enumerate(stored) if g is not None} - want


def test_dwithin_measures_meters_on_the_sphere(tmp_path):
    rng = random.Random(5)
    points = [(13.4 + rng.uniform(-0.05, 0.05), 52.52 + rng.uniform(-0.05, 0.05)) for _ in range(300)]
    client = _client(tmp_path)
    client.insert("g", [{"id": i, "vec": [0.0, 0.0], "geo": f"POINT ({x} {y})"} for i, (x, y) in enumerate(points)])
    cx, cy = 13.403683, 52.520711

    def haversine(x, y):
        p1, p2 = math.radians(cy), math.radians(y)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x - cx) / 2) ** 2
        return 2 * 6371000.0 * math.asin(math.sqrt(a))

    for meters in (500.0, 1000, 2500.5):
        rows = client.query("g", f"ST_DWITHIN(geo, 'POINT({cx} {cy})', {meters})", output_fields=["id"])
        assert {r["id"] for r in rows} == {i for i, (x, y) in enumerate(points) if haversine(x, y) <= meters}
    # a polygon is at distance 0 from a point inside it, and near from a point close outside it
    client.insert("g", [{"id": 1000, "vec": [0.0, 0.0], "geo": "POLYGON ((10 10, 11 10, 11 11, 10 11, 10 10))"}])
    assert 1000 in {r["id"] for r in client.query("g", "st_dwithin(geo, 'POINT (10.5 10.5)', 0)")}
    assert 1000 in {r["id"] for r in client.query("g", "st_dwithin(geo, 'POINT (11.001 10.5)', 120)")}
    assert 1000 not in {r["id"] for r in client.query("g", "st_dwithin(geo, 'POINT (11.01 10.5)', 120)")}


def test_search_with_spatial_filter_and_null_checks(loaded):
    client, texts, _ = loaded
    box = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"
    inside = {i for i, t in enumerate(texts) if t is not None and shapely.within(shapely_wkt.loads(t), shapely_wkt.loads(box))}
    hits = client.search("g", [[0.0, 0.0]], limit=500, filter=f"st_within(geo, '{box}')", output_fields=["geo"])
    assert {h["id"] for h in hits[0]} == inside
    assert [r["id"] for r in client.query("g", "geo is null")] == [7]
    assert len(client.query("g", "geo is not null", output_fields=["id"])) == len(texts) - 1
    assert len(client.query("g", "st_isvalid(geo)", output_fields=["id"])) == len(texts) - 1


def test_bad_input_is_refused(tmp_path):
    client = _client(tmp_path)
    for bad in ("POINT(1", "NOT WKT", "", 5):
        with pytest.raises(DataError) as info:
            client.insert("g", [{"id": 0, "vec": [0.0, 0.0], "geo": "POINT (1 1)"},
                                {"id": 1, "vec": [0.0, 0.0], "geo": bad}])
        assert "row 1" in info.value.message and "'geo'" in info.value.message
    assert client.query("g", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    for bad in ("geo == 'POINT (1 1)'", "st_within(id, 'POINT (1 1)')", "st_within(geo, 'NOPE')",
                "st_dwithin(geo, 'LINESTRING (0 0, 1 1)', 10)", "st_dwithin(geo, 'POINT (0 0)', -1)",
                "st_contains(geo)", "st_within(geo, 5)"):
        with pytest.raises(FilterError):
            client.query("g", bad)


def test_default_value_and_persistence(tmp_path):
    client = _client(tmp_path, default_value="POINT (1.5 2.5)")
    client.insert("g", [{"id": 0, "vec": [0.0, 0.0]}, {"id": 1, "vec": [0.0, 0.0], "geo": "LINESTRING(0 0, 1 1)"}])
    client.close()
    reopened = MilvusClient(str(tmp_path / "geo.db"))
    reopened.load_collection("g")
    rows = reopened.query("g", "id >= 0", output_fields=["geo"])
    assert [r["geo"] for r in rows] == ["POINT (1.5 2.5)", "LINESTRING (0 0, 1 1)"]
    (tmp_path / "x").mkdir()
    with pytest.raises(SchemaError):
        _client(tmp_path / "x", default_value="POINT (")


def test_rtree_index_accepted_inverted_refused(tmp_path):
    from embedb.errors import ParamError

    client = _client(tmp_path)
    index = client.prepare_index_params()
    index.add_index("geo", index_type="RTREE")
    client.create_index("g", index)
    assert client.describe_index("g", "geo")["index_type"] == "RTREE"
    bad = client.prepare_index_params()
    bad.add_index("geo", index_type="INVERTED", index_name="geo_inv")
    with pytest.raises(ParamError):
        client.create_index("g", bad)


def test_parsed_geometries_follow_writes_and_compaction(tmp_path):
    """Parsed geometries are cached between filters: new rows, upserts and a compaction
    (which renumbers rows) must all be seen."""
    client = _client(tmp_path)
    box = "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"

    def inside():
        return {r["id"] for r in client.query("g", f"st_within(geo, '{box}')", output_fields=["id"])}

    client.insert("g", [{"id": i, "vec": [0.0, 0.0], "geo": f"POINT ({i} {i})"} for i in range(20)])
    assert inside() == set(range(1, 10))
    client.insert("g", [{"id": 100, "vec": [0.0, 0.0], "geo": "POINT (5 6)"}])
    assert inside() == set(range(1, 10)) | {100}
    client.upsert("g", [{"id": 3, "vec": [0.0, 0.0], "geo": "POINT (50 50)"}])
    client.delete("g", ids=[4])
    client.compact("g")
    assert inside() == set(range(1, 10)) - {3, 4} | {100}


def test_missing_shapely_names_the_extra(tmp_path, monkeypatch):
    from embedb.errors import MissingDependencyError

    client = _client(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "shapely", None)  # as if not installed
    with pytest.raises(MissingDependencyError) as info:
        client.insert("g", [{"id": 0, "vec": [0.0, 0.0], "geo": "POINT (1 1)"}])
    assert 'embedb[geo]' in str(info.value)
    client.insert("g", [{"id": 0, "vec": [0.0, 0.0], "geo": None}])  # no geometry: no shapely needed
    with pytest.raises(MissingDependencyError):
        client.query("g", "st_within(geo, 'POINT (1 1)')")


@pytest.mark.parametrize("bad", ["INVALID WKT STRING", "POINT ()", "POINT (abc def)", "POLYGON ((0 0, 1 1))",
                                 "LINESTRING (0 0)", "POINT (1 2 3 4 5)", "POLYGON ((0 0, 1 0, 1 1, 0 1))", ""])
def test_invalid_wkt_is_a_syntax_error_as_the_server(tmp_path, bad):
    client = _client(tmp_path)
    with pytest.raises(DataError) as info:
        client.insert("g", [{"id": 0, "vec": [0.0, 0.0], "geo": bad}])
    assert info.value.code == 1001 and "syntax error" in info.value.message
