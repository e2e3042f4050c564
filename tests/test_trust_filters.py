"""Filters that used to run for minutes or crash: LIKE and regex on long text, deep nesting.

Slow paths are bounded by running the filter in a worker thread with a join timeout (a hang
fails the test instead of stalling the suite); no test asserts a timing. The LIKE matcher is
checked against a plain dynamic-programming reference on random patterns and texts.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb import MilvusClient
from embedb.errors import FilterError
from embedb.expr import ArrayColumnSource, Column, compile_filter
from embedb.expr.like import compile_like
from embedb.expr.parser import MAX_FILTER_DEPTH
from embedb.schema import CollectionSchema, DataType, FieldSchema

S = np.dtypes.StringDType()
BOUND_S = 30  # generous: each filter below takes milliseconds; a regression takes minutes


def run_bounded(fn, timeout=BOUND_S):
    """fn() in a daemon thread; its result, its exception re-raised, or a failure on timeout."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


# ---- the reference LIKE: tokens, then a textbook O(n*m) dynamic program --------------------

def ref_tokens(pattern):
    """Literal characters; '%' -> None, '_' -> ''. A backslash escapes % _ and itself."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_\\":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(None if ch == "%" else "" if ch == "_" else ch)
        i += 1
    return out


def ref_like(pattern, text):
    prev = [True] + [False] * len(text)  # prev[j]: tokens so far match text[:j]
    for tok in ref_tokens(pattern):
        cur = [False] * (len(text) + 1)
        if tok is None:
            seen = False
            for j in range(len(text) + 1):
                seen = seen or prev[j]
                cur[j] = seen
        else:
            for j in range(1, len(text) + 1):
                cur[j] = prev[j - 1] and (tok == "" or text[j - 1] == tok)
        prev = cur
    return prev[-1]


PATTERN_CHARS = st.sampled_from(list("ab%_\\é"))
TEXT_CHARS = st.sampled_from(list("abé%_\\"))


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(PATTERN_CHARS, max_size=9),
       texts=st.lists(st.text(TEXT_CHARS, max_size=10), min_size=1, max_size=12))
def test_like_matches_reference(pattern, texts):
    got = compile_like(pattern)(np.array(texts, dtype=S))
    assert got.tolist() == [ref_like(pattern, t) for t in texts], pattern


@settings(max_examples=100, deadline=None)
@given(pieces=st.lists(st.sampled_from(["%", "_", "a", "ab", "b_a", "\\%", "\\_", "\\\\"]),
                       max_size=8),
       texts=st.lists(st.text(st.sampled_from(list("ab_%\\")), max_size=30), min_size=1,
                      max_size=8))
def test_like_segment_patterns_match_reference(pieces, texts):
    """Patterns built from multi-character pieces reach every branch of the matcher (floating
    segments with '_' inside, escaped wildcards next to real ones)."""
    pattern = "".join(pieces)
    got = compile_like(pattern)(np.array(texts, dtype=S))
    assert got.tolist() == [ref_like(pattern, t) for t in texts], pattern


# ---- through a real collection: VARCHAR, JSON and dynamic-field strings ---------------------

@pytest.fixture
def client():
    c = MilvusClient(":memory:")
    schema = c.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("txt", DataType.VARCHAR, max_length=65535)
    schema.add_field("j", DataType.JSON, nullable=True)
    index = c.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    c.create_collection("t", schema=schema, index_params=index)
    yield c
    c.close()


LONG_TEXT = ("the quick brown fox jumps over the lazy dog; " * 450)[:19_000]


def test_like_on_long_text_is_linear(client):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": LONG_TEXT, "j": {"s": LONG_TEXT},
                         "dyn": LONG_TEXT},
                        {"id": 2, "vec": [0, 0], "txt": LONG_TEXT + "zzz", "j": None, "dyn": "x"}])
    for flt, want in [('txt like "%the%the%the%zzz"', [2]),
                      ('txt like "%t_e%t_e%t_e%zzz"', [2]),
                      ('txt like "%the%the%the%the%the%the%the%the%zz_"', [2]),
                      ('j["s"] like "%the%the%the%zzz"', []),
                      ('dyn like "%the%the%the%zzz"', []),
                      ('txt like "the%dog;%"', [1, 2]),
                      ('txt like "%o_e%a%" and not txt like "%zzz"', [1])]:
        rows = run_bounded(lambda: client.query("t", filter=flt, output_fields=["id"]))
        assert sorted(r["id"] for r in rows) == want, flt


def test_regex_on_long_text_is_linear(client):
    evil = "a" * 30_000 + "!"
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": evil, "j": {"s": evil}},
                        {"id": 2, "vec": [0, 0], "txt": "aaa", "j": {"s": "b"}}])
    for flt, want in [('txt =~ "^(a+)+$"', [2]), ('txt =~ "(a|aa)*c"', []),
                      ('j["s"] =~ "^(a*)*$"', []), ('txt !~ "(a+)+$"', [1]),
                      ('txt =~ "^(a+)+!$"', [1])]:
        rows = run_bounded(lambda: client.query("t", filter=flt, output_fields=["id"]))
        assert sorted(r["id"] for r in rows) == want, flt


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)b", "(?<!a)b", "(", "a{2,100000}"])
def test_regex_refused_by_re2_is_a_filter_error(client, pattern):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": "aa"}])
    with pytest.raises(FilterError, match="invalid regular expression"):
        client.query("t", filter=f"txt =~ r'{pattern}'")


def test_regex_pattern_from_template_is_checked(client):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": "aa"}])
    assert client.query("t", filter="txt =~ {p}", filter_params={"p": "^a+$"},
                        output_fields=["id"]) == [{"id": 1}]
    with pytest.raises(FilterError, match="RE2"):
        client.query("t", filter="txt =~ {p}", filter_params={"p": r"(a)\1"})


# ---- deep filters: work up to MAX_FILTER_DEPTH, FilterError past it, never RecursionError ----

def test_deeply_parenthesised_filters_work(client):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": "x"}, {"id": 2, "vec": [0, 0], "txt": "y"}])
    for depth in (81, 500, 5000):  # parentheses alone add no AST level
        flt = "(" * depth + "id > 1" + ")" * depth
        assert client.query("t", filter=flt, output_fields=["id"]) == [{"id": 2}]
    flt = "not " * (MAX_FILTER_DEPTH - 3) + "id > 1"
    want = [1] if (MAX_FILTER_DEPTH - 3) % 2 else [2]
    assert [r["id"] for r in client.query("t", filter=flt, output_fields=["id"])] == want


@pytest.mark.parametrize("make", [
    lambda d: "not " * d + "id > 1",
    lambda d: "id + " + " + ".join(["1"] * d) + " > 1",
    lambda d: "id ** " * d + "1 > 0",
    lambda d: "-" * d + "id > 0",
    lambda d: "id in " + "[" * d + "1" + "]" * d,
    lambda d: "json_contains(j, " + "[" * d + "]" * d + ")",
    lambda d: "(" * d + "not " * d + "id > 1" + ")" * d,
])
@pytest.mark.parametrize("depth", [MAX_FILTER_DEPTH + 1, 5000])
def test_too_deep_filters_are_filter_errors(client, make, depth):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": "x"}])
    with pytest.raises(FilterError, match="nested too deeply"):
        client.query("t", filter=make(depth))


def test_deep_filter_params_are_filter_errors(client):
    client.insert("t", [{"id": 1, "vec": [0, 0], "txt": "x"}])
    nested = [1]
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(FilterError, match="nested"):
        client.query("t", filter="id in {p}", filter_params={"p": nested})


def test_deep_filter_on_a_deep_stack_is_a_filter_error():
    """Called with most of the Python stack already used: FilterError, never RecursionError."""
    schema = CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("v", DataType.FLOAT_VECTOR, dim=2)])
    source = ArrayColumnSource(schema, {"id": Column(np.arange(3))}, 3)
    text = "not " * (MAX_FILTER_DEPTH - 3) + "id > 0 "

    def at_depth(k):
        if k == 0:
            return compile_filter(text + " " * 7, schema).evaluate(source)
        return at_depth(k - 1)

    limit = sys.getrecursionlimit()
    with pytest.raises(FilterError, match="nested too deeply"):
        run_bounded(lambda: at_depth(limit - 150))
