"""TIMESTAMPTZ: ISO-8601 in, RFC 3339 out, time zones, filters with ISO/INTERVAL literals.

Differential against Python's datetime/zoneinfo on random instants, offsets and zones.
"""

import calendar
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.errors import DataError, FilterError, ParamError, SchemaError
from embedb.timestamptz import (
    TimestampError, add_interval, check_timezone, format_micros, parse_duration, parse_iso,
)

ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Kolkata",
         "America/Havana", "Australia/Lord_Howe", "Pacific/Chatham"]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(dt: datetime) -> int:
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _rfc3339(dt: datetime) -> str:
    """Go's time.RFC3339Nano, built from a datetime (the reference)."""
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    off = int(dt.utcoffset().total_seconds())
    if off == 0:
        return text + "Z"
    sign, off = ("+" if off > 0 else "-"), abs(off)
    return text + f"{sign}{off // 3600:02d}:{off // 60 % 60:02d}"


def _random_instants(rng: random.Random, n: int) -> list[datetime]:
    lo, hi = _micros(datetime(1900, 1, 1, tzinfo=timezone.utc)), _micros(datetime(2100, 1, 1, tzinfo=timezone.utc))
    return [EPOCH + timedelta(microseconds=rng.randrange(lo, hi)) for _ in range(n)]


# ---------------------------------------------------------------- conversions
def test_parse_with_offsets_matches_datetime():
    rng = random.Random(7)
    for dt in _random_instants(rng, 400):
        offset = timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1, 15))
        local = dt.astimezone(timezone(offset))
        for text in (local.isoformat(), local.isoformat(sep=" "), local.isoformat().replace("+00:00", "Z")):
            assert parse_iso(text) == _micros(dt), text


def test_naive_text_reads_in_the_zone_like_zoneinfo():
    rng = random.Random(8)
    for dt in _random_instants(rng, 300):
        zone = rng.choice(ZONES)
        wall = dt.astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0, fold=0)
        expected = _micros(wall.replace(tzinfo=ZoneInfo(zone)))  # fold=0, as zoneinfo resolves it
        assert parse_iso(wall.isoformat(), zone) == expected
        assert parse_iso(wall.isoformat(sep=" "), zone) == expected


def test_format_matches_datetime_in_every_zone():
    rng = random.Random(9)
    instants = _random_instants(rng, 300)
    micros = np.array([_micros(dt) for dt in instants], dtype=np.int64)
    for zone in ZONES:
        expected = [_rfc3339(dt.astimezone(ZoneInfo(zone))) for dt in instants]
        assert format_micros(micros, zone) == expected


def test_edge_years_and_invalid_text():
    assert format_micros([parse_iso("0000-01-01 00:00:00")]) == ["0000-01-01T00:00:00Z"]
    assert format_micros([parse_iso("9999-12-31T23:59:59")]) == ["9999-12-31T23:59:59Z"]
    assert format_micros([parse_iso("2024-02-29T00:00:00+03:00")]) == ["2024-02-28T21:00:00Z"]
    assert parse_iso("2025-01-01") == parse_iso("2025-01-01T00:00:00Z")
    for bad in ("invalid_time_format", "2025-04-31 00:00:00", "2025-02-29 00:00:00",
                "2025-01-01T00:00:00+24:00", "2025-13-01", "2025-01-01T25:00:00", ""):
        with pytest.raises(TimestampError):
            parse_iso(bad)


def test_intervals_match_calendar_arithmetic():
    rng = random.Random(10)
    instants = _random_instants(rng, 200)
    micros = np.array([_micros(dt) for dt in instants], dtype=np.int64)
    for text, months, delta in [("P1D", 0, timedelta(days=1)), ("PT3H", 0, timedelta(hours=3)),
                                ("P2DT6H", 0, timedelta(days=2, hours=6)), ("P2W", 0, timedelta(weeks=2)),
                                ("PT1.5S", 0, timedelta(seconds=1.5)), ("P1M", 1, timedelta()),
                                ("P1Y2M3D", 14, timedelta(days=3)), ("-P1M", -1, timedelta())]:
        got_months, got_us = parse_duration(text)
        assert got_months == months
        assert got_us == delta // timedelta(microseconds=1) * (-1 if text.startswith("-") and not months else 1)
        out = add_interval(micros, got_months, got_us)
        for dt, value in zip(instants, out.tolist()):
            total = dt.year * 12 + dt.month - 1 + got_months
            y, m = divmod(total, 12)
            moved = dt.replace(year=y, month=m + 1, day=min(dt.day, calendar.monthrange(y, m + 1)[1]))
            assert value == _micros(moved) + got_us
    for bad in ("1D", "P", "PT", "P1.5M", "P1X"):
        with pytest.raises(TimestampError):
            parse_duration(bad)


def test_check_timezone():
    assert check_timezone("Asia/Shanghai") == "Asia/Shanghai"
    for bad in ("error", "", None, "Mars/Olympus"):
        with pytest.raises(ParamError):
            check_timezone(bad)


# ---------------------------------------------------------------- through the client
def _client(tmp_path, properties=None, **field_kwargs):
    client = MilvusClient(str(tmp_path / "tsz.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("tsz", DataType.TIMESTAMPTZ, nullable=True, **field_kwargs)
    client.create_collection("c", schema=schema, properties=properties)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_index("c", index)
    client.load_collection("c")
    return client


def _rows(texts):
    return [{"id": i, "vec": [float(i), 0.0], "tsz": t} for i, t in enumerate(texts)]


def test_insert_query_and_filters_against_python(tmp_path):
    rng = random.Random(11)
    instants = _random_instants(rng, 300)
    texts = [dt.astimezone(timezone(timedelta(minutes=rng.randrange(-600, 601, 30)))).isoformat()
             for dt in instants]
    texts[5] = None
    client = _client(tmp_path)
    client.insert("c", _rows(texts))
    got = {r["id"]: r["tsz"] for r in client.query("c", "id >= 0", output_fields=["tsz"])}
    expected = {i: (None if t is None else _rfc3339(dt.astimezone(timezone.utc)))
                for i, (t, dt) in enumerate(zip(texts, instants))}
    assert got == expected

    for zone in ("Asia/Shanghai", "America/New_York"):
        shown = client.query("c", "id < 50", output_fields=["tsz"], timezone=zone)
        assert {r["id"]: r["tsz"] for r in shown} == {
            i: (None if texts[i] is None else _rfc3339(instants[i].astimezone(ZoneInfo(zone))))
            for i in range(50)}

    pivot = instants[17]
    literal = pivot.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    for op, fn in [(">=", np.greater_equal), ("<", np.less), ("==", np.equal), ("!=", np.not_equal)]:
        rows = client.query("c", f"tsz {op} ISO '{literal}'", output_fields=["id"])
        want = {i for i, (t, dt) in enumerate(zip(texts, instants)) if t is not None and fn(dt, pivot)}
        assert {r["id"] for r in rows} == want, op
    rows = client.query("c", f"tsz - INTERVAL 'P3D' >= ISO '{literal}'", output_fields=["id"])
    want = {i for i, (t, dt) in enumerate(zip(texts, instants)) if t and dt - timedelta(days=3) >= pivot}
    assert {r["id"] for r in rows} == want
    rows = client.query("c", f"tsz + INTERVAL 'PT12H' < ISO '{literal}' or tsz is null", output_fields=["id"])
    want = {i for i, (t, dt) in enumerate(zip(texts, instants)) if t is None or dt + timedelta(hours=12) < pivot}
    assert {r["id"] for r in rows} == want
    low, high = sorted([instants[1], instants[2]])
    rows = client.query("c", f"ISO '{low.isoformat()}' < tsz <= ISO '{high.isoformat()}'", output_fields=["id"])
    assert {r["id"] for r in rows} == {i for i, (t, dt) in enumerate(zip(texts, instants))
                                       if t and low < dt <= high}


def test_naive_filter_literals_and_inserts_use_the_zone(tmp_path):
    client = _client(tmp_path, properties={"timezone": "Asia/Shanghai"})
    client.insert("c", _rows(["2025-01-01 08:00:00", "2025-01-01T00:00:00Z"]))
    rows = client.query("c", "id >= 0", output_fields=["tsz"])
    assert [r["tsz"] for r in rows] == ["2025-01-01T08:00:00+08:00"] * 2  # the same instant
    assert len(client.query("c", "tsz == ISO '2025-01-01 08:00:00'")) == 2
    # the call's zone wins over the collection's, for output and for naive literals
    rows = client.query("c", "tsz == ISO '2025-01-01 00:00:00'", output_fields=["tsz"], timezone="UTC")
    assert [r["tsz"] for r in rows] == ["2025-01-01T00:00:00Z"] * 2
    hits = client.search("c", [[0.0, 0.0]], limit=1, output_fields=["tsz"], timezone="America/New_York")
    assert hits[0][0]["entity"]["tsz"] == "2024-12-31T19:00:00-05:00"
    with pytest.raises(ParamError):
        client.query("c", "id >= 0", timezone="error")


def test_default_value_nullable_and_persistence(tmp_path):
    client = _client(tmp_path, default_value="2025-01-01T00:00:00")
    client.insert("c", [{"id": 0, "vec": [0.0, 0.0]}, {"id": 1, "vec": [1.0, 0.0], "tsz": None},
                        {"id": 2, "vec": [2.0, 0.0], "tsz": "2030-06-01T12:30:00.25-02:00"}])
    expected = ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2030-06-01T14:30:00.25Z"]
    assert [r["tsz"] for r in client.query("c", "id >= 0", output_fields=["tsz"])] == expected
    client.close()
    reopened = MilvusClient(str(tmp_path / "tsz.db"))
    reopened.load_collection("c")
    assert [r["tsz"] for r in reopened.query("c", "id >= 0", output_fields=["tsz"])] == expected
    assert reopened.describe_collection("c")["fields"][2]["type"] == DataType.TIMESTAMPTZ


def test_bad_input_changes_nothing(tmp_path):
    client = _client(tmp_path)
    for bad in ("invalid_time_format", "2025-04-31 00:00:00", "2025-01-01T00:00:00+24:00", 1735689600):
        with pytest.raises(DataError) as info:
            client.insert("c", _rows(["2025-01-01T00:00:00Z", bad]))
        assert "row 1" in info.value.message and "'tsz'" in info.value.message
    assert client.query("c", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    for bad in ("tsz > 5", "tsz > ISO 'nope'", "tsz + INTERVAL 'P1X' > ISO '2020-01-01'",
                "tsz + 1 > ISO '2020-01-01'", "tsz > INTERVAL 'P1D'"):
        with pytest.raises(FilterError):
            client.query("c", bad)


@pytest.mark.parametrize("default", ["timestamp", 10])
def test_bad_default_is_a_schema_error(tmp_path, default):
    with pytest.raises(SchemaError):
        _client(tmp_path, default_value=default)


def test_database_and_collection_timezone_properties(tmp_path):
    """As the Milvus server: a collection takes its database's zone when it is created, keeps
    its own after the database's changes, and a bad zone name is refused everywhere."""
    client = MilvusClient(str(tmp_path / "zones.db"))
    client.create_database("tz", properties={"timezone": "America/New_York"})
    client.using_database("tz")
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("tsz", DataType.TIMESTAMPTZ, nullable=True)
    client.create_collection("a", schema=schema)
    assert client.describe_collection("a")["properties"]["timezone"] == "America/New_York"
    client.alter_database_properties("tz", properties={"timezone": "America/Los_Angeles"})
    client.create_collection("b", schema=schema)
    for name in ("a", "b"):
        index = client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_index(name, index)
        client.load_collection(name)
        client.insert(name, [{"id": 0, "vec": [0.0, 0.0], "tsz": "2025-07-01T12:00:00Z"}])
    assert client.query("a", "id == 0", output_fields=["tsz"])[0]["tsz"] == "2025-07-01T08:00:00-04:00"
    assert client.query("b", "id == 0", output_fields=["tsz"])[0]["tsz"] == "2025-07-01T05:00:00-07:00"
    client.alter_collection_properties("b", properties={"timezone": "Asia/Shanghai"})
    assert client.query("b", "id == 0", output_fields=["tsz"])[0]["tsz"] == "2025-07-01T20:00:00+08:00"
    with pytest.raises(ParamError):
        client.alter_collection_properties("b", properties={"timezone": "error"})
    with pytest.raises(ParamError):
        client.alter_database_properties("tz", properties={"timezone": "error"})
    with pytest.raises(ParamError):
        client.create_collection("c", schema=schema, properties={"timezone": "Nowhere/City"})
    assert client.describe_collection("b")["properties"]["timezone"] == "Asia/Shanghai"


def test_scalar_index_types_as_the_server(tmp_path):
    client = _client(tmp_path)
    index = client.prepare_index_params()
    index.add_index("tsz", index_type="STL_SORT")
    client.create_index("c", index)
    assert client.describe_index("c", "tsz")["index_type"] == "STL_SORT"
    bad = client.prepare_index_params()
    bad.add_index("tsz", index_type="INVERTED", index_name="tsz_inv")
    with pytest.raises(ParamError):
        client.create_index("c", bad)


def test_iterators_format_in_the_call_zone(tmp_path):
    client = _client(tmp_path)
    client.insert("c", _rows(["2025-01-01T00:00:00Z"] * 5))
    it = client.query_iterator("c", batch_size=2, output_fields=["tsz"], timezone="Asia/Shanghai")
    batches = []
    while batch := it.next():
        batches.append([r["tsz"] for r in batch])
    it.close()
    assert batches == [["2025-01-01T08:00:00+08:00"] * 2] * 2 + [["2025-01-01T08:00:00+08:00"]]
    it = client.search_iterator("c", [[0.0, 0.0]], batch_size=3, output_fields=["tsz"], timezone="America/New_York")
    assert {h["entity"]["tsz"] for h in it.next()} == {"2024-12-31T19:00:00-05:00"}
    it.close()
