"""Strings with NUL characters in filters, ordering, grouping and primary-key lookups.

NumPy's string kernels treat trailing NULs as padding even for StringDType
(``np.strings.str_len('ab\\x00') == 2``) and compare with ``strncmp``, which stops at a NUL
both sides hold at the same place (``'a\\x00b' == 'a\\x00c'`` was true). Milvus compares
strings as byte strings: ``'ab\\x00' != 'ab'``, ``'ab\\x00' > 'ab'``, ``'ab\\x00' like 'ab_'``.
Every operator runs here through ``MilvusClient.query`` on a real collection (VARCHAR fields,
a VARCHAR primary key, a JSON field, a dynamic key) and is compared with plain Python on the
same rows, before and after reopening the database.
"""

from __future__ import annotations

import operator
import random
import re

import numpy as np
import pytest

from embedb import DataType, MilvusClient
from embedb.expr.like import compile_like

ALPHABET = ["\x00", "a", "b", "é", "\U0001F600"]
PATTERN_TOKENS = ["%", "_", "a", "b", "\x00", "é", "\U0001F600"]
OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}


def rand_text(rng: random.Random, longest: int = 4) -> str:
    # weighted to NUL so trailing, leading and inner NULs all occur often
    return "".join(rng.choice(ALPHABET + ["\x00"]) for _ in range(rng.randint(0, longest)))


def ref_like(pattern: str, text: str) -> bool:
    """LIKE by a regex built independently of embedb.expr.like (backslash escapes % _ \\)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), text, re.S) is not None


def make_rows(seed: int, n: int = 240) -> list[dict]:
    rng = random.Random(seed)
    pks: list[str] = []
    seen: set[str] = set()
    while len(pks) < n:
        pk = rand_text(rng, 5)
        if pk not in seen:
            seen.add(pk)
            pks.append(pk)
    rows = []
    for i, pk in enumerate(pks):
        kind = rng.random()
        j = {"k": rand_text(rng)} if kind < 0.8 else ({"k": 7} if kind < 0.9 else {})
        rows.append({"id": pk, "v": [float(i), 1.0], "s": rand_text(rng), "t": rand_text(rng),
                     "j": j, "d": rand_text(rng)})
    return rows


def create(client: MilvusClient, rows: list[dict]) -> None:
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("s", DataType.VARCHAR, max_length=16)
    schema.add_field("t", DataType.VARCHAR, max_length=16)
    schema.add_field("j", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("c", schema=schema, index_params=index)
    client.insert("c", rows)


def ids(client: MilvusClient, flt: str, params: dict | None = None) -> set[str]:
    got = client.query("c", filter=flt, output_fields=["id"], filter_params=params or {})
    return {r["id"] for r in got}


def json_str(row: dict) -> str | None:
    k = row["j"].get("k")
    return k if type(k) is str else None


def check_filters(client: MilvusClient, rows: list[dict], seed: int) -> None:
    rng = random.Random(seed + 1000)
    values = [r["s"] for r in rows] + [r["id"] for r in rows]
    literals = [rand_text(rng) for _ in range(12)] + ["", "\x00", "a\x00", "\x00a", "ab\x00",
                                                    "a\x00b", "\x00\x00"] + rng.sample(values, 10)
    failures = []

    def expect(flt: str, params: dict, want: set[str]) -> None:
        got = ids(client, flt, params)
        if got != want:
            failures.append((flt, params, sorted(want - got)[:3], sorted(got - want)[:3]))

    for lit in literals:
        p = {"x": lit}
        for op, fn in OPS.items():
            expect(f"s {op} {{x}}", p, {r["id"] for r in rows if fn(r["s"], lit)})
            expect(f"id {op} {{x}}", p, {r["id"] for r in rows if fn(r["id"], lit)})
            expect(f'j["k"] {op} {{x}}', p,
                   {r["id"] for r in rows if json_str(r) is not None and fn(json_str(r), lit)})
            expect(f"d {op} {{x}}", p, {r["id"] for r in rows if fn(r["d"], lit)})
    for op, fn in OPS.items():   # two columns, a column and a JSON value, two JSON values
        expect(f"s {op} t", {}, {r["id"] for r in rows if fn(r["s"], r["t"])})
        expect(f'j["k"] {op} s', {},
               {r["id"] for r in rows if json_str(r) is not None and fn(json_str(r), r["s"])})
        expect(f'j["k"] {op} d', {},
               {r["id"] for r in rows if json_str(r) is not None and fn(json_str(r), r["d"])})
    for size in (1, 3, 12):   # short lists compare item by item, long ones look rows up
        for _ in range(6):
            items = rng.sample(literals, size)
            p = {"xs": items}
            for field in ("s", "id", "d"):
                expect(f"{field} in {{xs}}", p, {r["id"] for r in rows if r[field] in items})
                expect(f"{field} not in {{xs}}", p, {r["id"] for r in rows if r[field] not in items})
            expect('j["k"] in {xs}', p, {r["id"] for r in rows if json_str(r) in items})
            expect('j["k"] not in {xs}', p,
                   {r["id"] for r in rows if json_str(r) is not None and json_str(r) not in items})
    patterns = ["", "%", "_", "__", "___", "a_", "_a", "a%", "%a", "\x00%", "%\x00", "%\x00%",
                "_\x00", "\x00_", "a\x00", "%_\x00", "\x00%\x00", "a_%", "%_a", "_%_"]
    patterns += ["".join(rng.choice(PATTERN_TOKENS) for _ in range(rng.randint(1, 4)))
                 for _ in range(40)]
    for pattern in patterns:
        p = {"p": pattern}
        for field in ("s", "id", "d"):
            expect(f"{field} like {{p}}", p, {r["id"] for r in rows if ref_like(pattern, r[field])})
        expect('j["k"] like {p}', p,
               {r["id"] for r in rows if json_str(r) is not None and ref_like(pattern, json_str(r))})
    assert not failures, f"{len(failures)} filters differ, first: {failures[:5]}"


def check_pk_lookups(client: MilvusClient, rows: list[dict], seed: int) -> None:
    rng = random.Random(seed + 2000)
    by_id = {r["id"]: r for r in rows}
    asked = rng.sample(list(by_id), 30) + ["zz", "\x00\x00\x00\x00\x00\x00"]
    got = client.get("c", ids=asked, output_fields=["s", "t"])
    assert sorted((g["id"], g["s"], g["t"]) for g in got) == sorted(
        (k, by_id[k]["s"], by_id[k]["t"]) for k in asked if k in by_id)
    got = client.query("c", ids=asked, output_fields=["s"])
    assert sorted(g["id"] for g in got) == sorted(k for k in asked if k in by_id)


def check_order_and_groups(client: MilvusClient, rows: list[dict]) -> None:
    got = client.query("c", filter="", output_fields=["id", "s"], order_by_fields=["s"],
                       limit=len(rows))
    want = sorted(rows, key=lambda r: (r["s"], r["id"]))
    assert [(g["s"], g["id"]) for g in got] == [(r["s"], r["id"]) for r in want]
    got = client.query("c", filter="", output_fields=["id"], order_by_fields=["id:desc"],
                       limit=len(rows))
    assert [g["id"] for g in got] == sorted((r["id"] for r in rows), reverse=True)
    got = client.query("c", filter="", output_fields=["s", "count(*)"], group_by_fields=["s"])
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["s"]] = counts.get(r["s"], 0) + 1
    assert {g["s"]: g["count(*)"] for g in got} == counts


def check_search_groups(client: MilvusClient, rows: list[dict]) -> None:
    """Search grouping by a VARCHAR field: 's' and 's\\x00' are different groups."""
    res = client.search("c", data=[[0.0, 1.0]], limit=len(rows), group_by_field="s",
                        output_fields=["s"], search_params={"metric_type": "L2"})
    groups = [h["entity"]["s"] for h in res[0]]
    assert sorted(groups) == sorted({r["s"] for r in rows})


@pytest.mark.parametrize("seed", [0, 1])
def test_nul_strings_match_python_before_and_after_reopen(tmp_path, seed):
    rows = make_rows(seed)
    path = str(tmp_path / "nul.db")
    client = MilvusClient(path)
    create(client, rows)
    for reopened in (False, True):
        if reopened:
            client.close()
            client = MilvusClient(path)
            client.load_collection("c")
            stored = client.query("c", filter="", output_fields=["*"])
            assert sorted((r["id"], r["s"], r["t"], r["j"], r["d"]) for r in stored) == sorted(
                (r["id"], r["s"], r["t"], r["j"], r["d"]) for r in rows)
        check_filters(client, rows, seed)
        check_pk_lookups(client, rows, seed)
        check_order_and_groups(client, rows)
        check_search_groups(client, rows)
    # delete by NUL-bearing keys, then by a filter on them; both survive a reopen
    rng = random.Random(seed + 3000)
    gone = rng.sample([r["id"] for r in rows], 20)
    assert client.delete("c", ids=gone)["delete_count"] == 20
    keep = [r for r in rows if r["id"] not in set(gone)]
    victim = next(r["id"] for r in keep if r["id"].endswith("\x00"))
    client.delete("c", filter="id == {x}", filter_params={"x": victim})
    keep = [r for r in keep if r["id"] != victim]
    client.close()
    client = MilvusClient(path)
    client.load_collection("c")
    assert ids(client, "") == {r["id"] for r in keep}
    check_filters(client, keep, seed)
    check_pk_lookups(client, keep, seed)
    client.close()


def test_like_matcher_is_exact_on_rows_with_nul_characters():
    """The matcher alone (no collection): each pattern shape on every short string."""
    rng = random.Random(5)
    texts = sorted({rand_text(rng, 5) for _ in range(3000)})
    arr = np.array(texts, dtype=np.dtypes.StringDType())
    patterns = ["", "%", "ab", "a_", "_", "a\x00", "ab%", "a_%", "%ab", "%a_", "%\x00", "\x00%",
                "%a%", "a%b", "_%_", "a_b%", "%a_b%"]
    patterns += ["".join(rng.choice(PATTERN_TOKENS) for _ in range(rng.randint(1, 5)))
                 for _ in range(200)]
    for pattern in patterns:
        want = [ref_like(pattern, t) for t in texts]
        assert compile_like(pattern)(arr).tolist() == want, repr(pattern)
        clean = [t for t in texts if "\x00" not in t]   # the vectorised paths, no row with NUL
        got = compile_like(pattern)(np.array(clean, dtype=np.dtypes.StringDType()))
        assert got.tolist() == [ref_like(pattern, t) for t in clean], repr(pattern)


@pytest.mark.parametrize("index_type", ["FLAT", "HNSW"])
def test_ties_and_iterator_order_by_nul_bearing_primary_keys(tmp_path, index_type):
    """Equal distances are ordered by primary key, and query_iterator walks keys in order:
    'a' < 'a\\x00' < 'a\\x00\\x00' (a fixed-width <U array made them one key)."""
    client = MilvusClient(str(tmp_path / "ties.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=8)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type="L2")
    client.create_collection("c", schema=schema, index_params=index)
    pks = ["a\x00", "a", "a\x00\x00", "\x00", "", "b", "\x00a", "a\x00b", "a\x00a"]
    random.Random(1).shuffle(pks)
    client.insert("c", [{"id": p, "v": [1.0, 1.0]} for p in pks])
    client.insert("c", [{"id": f"z{i}", "v": [9.0 + i, 9.0]} for i in range(300)])
    for reopened in (False, True):
        if reopened:
            client.close()
            client = MilvusClient(str(tmp_path / "ties.db"))
        # HNSW returns some k of more than k equal rows (approximate): all of them here
        for limit in (3, 5, len(pks)) if index_type == "FLAT" else (len(pks),):
            # a list, then a float32 array three times: the single-query lane is made by the
            # first of those and answers the later ones
            for q in ([1.0, 1.0], *[np.float32([1.0, 1.0])] * 3):
                hits = client.search("c", data=[q], limit=limit,
                                     search_params={"params": {"ef": 400}})[0]   # every tie found
                assert [h["id"] for h in hits] == sorted(pks)[:limit], (reopened, limit, q)
    it = client.query_iterator("c", batch_size=2, output_fields=["id"])
    walked = []
    while batch := it.next():
        walked += [r["id"] for r in batch]
    assert walked == sorted(pks + [f"z{i}" for i in range(300)])
    client.close()


def test_array_varchar_max_length_counts_nul_characters(tmp_path):
    """ARRAY<VARCHAR> elements are measured in characters, NULs included (as VARCHAR fields
    are since a42fcbd): 'ab\\x00\\x00' is four characters, over max_length 3."""
    client = MilvusClient(str(tmp_path / "len.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("a", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                     max_length=3)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("c", schema=schema, index_params=index)
    with pytest.raises(Exception, match="not a valid VARCHAR"):
        client.insert("c", [{"id": 1, "v": [0.0, 0.0], "a": ["ab\x00\x00"]}])
    client.insert("c", [{"id": 2, "v": [0.0, 0.0], "a": ["a\x00\x00", "\x00"]}])
    got = client.query("c", filter='array_contains(a, {x}) and a[1] == {y}',
                       filter_params={"x": "a\x00\x00", "y": "\x00"}, output_fields=["a"])
    assert [(g["id"], g["a"]) for g in got] == [(2, ["a\x00\x00", "\x00"])]
    client.close()
