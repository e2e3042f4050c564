"""Hand-written cases of the filter language: each construct on a small fixed table, and each
error with its position. The differential test (test_expr_differential.py) covers random mixes."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.errors import FilterError
from embedb.expr import ArrayColumnSource, Column, compile_filter, parse_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema

S = np.dtypes.StringDType()


def objects(values):
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def make_schema(dynamic=True):
    return CollectionSchema(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("age", DataType.INT32, nullable=True),
            FieldSchema("score", DataType.DOUBLE),
            FieldSchema("f32", DataType.FLOAT),
            FieldSchema("name", DataType.VARCHAR, max_length=64, nullable=True),
            FieldSchema("ok", DataType.BOOL),
            FieldSchema("info", DataType.JSON, nullable=True),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8),
            FieldSchema("nums", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
        ],
        enable_dynamic_field=dynamic,
    )


SCHEMA = make_schema()
# id:        0        1        2       3          4        5
AGE = [30, 17, 0, 45, 99, 12]
AGE_VALID = [True, True, False, True, True, True]  # row 2: age is NULL
SCORE = [0.5, 1.5, -2.0, 3.0, 4.25, 10.0]
NAME = ["alice", "Bob", "", "al%ce", "carol", "a\nb"]
NAME_VALID = [True, True, False, True, True, True]  # row 2: name is NULL
OK = [True, False, True, False, True, False]
INFO = [
    {"a": 1, "b": {"c": "x"}, "l": [1, 2, 3]},
    {"a": "1", "b": {"c": "y"}, "l": ["a", True]},
    None,  # NULL
    {"a": 2.5, "l": [], "n": None},
    {"a": True, "b": [10, 20], "l": [[1, 2], 3]},
    {"a": 7, "b": {"c": None}},
]
TAGS = [["red", "blue"], ["green"], [], ["red"], ["blue", "green", "red"], ["x"]]
NUMS = [[1, 2], [3], [], [1, 5, 9], [2, 2], [7]]
META = [{"color": "red", "size": 3}, {"color": "blue"}, {}, {"size": 10}, {"color": None},
        {"size": 2.5, "color": "red"}]


def make_source(**kwargs):
    n = 6
    columns = {
        "id": np.arange(n, dtype=np.int64),
        "age": Column(np.array(AGE, dtype=np.int32), np.array(AGE_VALID)),
        "score": np.array(SCORE),
        "f32": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=np.float32),
        "name": Column(np.array(NAME, dtype=S), np.array(NAME_VALID)),
        "ok": np.array(OK),
        "info": Column(objects(INFO), np.array([v is not None for v in INFO])),
        "tags": objects(TAGS),
        "nums": objects(NUMS),
        "$meta": objects(META),
    }
    return ArrayColumnSource(SCHEMA, columns, n, **kwargs)


SOURCE = make_source()


def ids(text, params=None, schema=SCHEMA, source=SOURCE):
    mask = compile_filter(text, schema).evaluate(source, params)
    assert mask.dtype == bool and mask.shape == (source.num_rows,)
    return np.flatnonzero(mask).tolist()


CASES = [
    # comparisons on typed fields, NULL rows never match
    ("age > 20", [0, 3, 4]),
    ("age <= 17", [1, 5]),
    ("age == 0", []),  # row 2 holds 0 but is NULL
    ("age != 30", [1, 3, 4, 5]),
    ("not age > 20", [1, 5]),  # NULL stays UNKNOWN under NOT
    ("score >= 3", [3, 4, 5]),
    ("score > age / 10", [1, 5]),  # 99 / 10 == 9 in integer division
    ("f32 > 0.3", [3, 4, 5]),  # FLOAT compares in float32, like Milvus
    ('name == "alice"', [0]),
    ('name < "b"', [0, 1, 3, 5]),  # code point order: "Bob" < "b"
    ("name != ''", [0, 1, 3, 4, 5]),
    ('name == "a\\nb"', [5]),  # C escape in a literal
    ("ok", [0, 2, 4]),
    ("ok == false", [1, 3, 5]),
    ("!ok", [1, 3, 5]),
    ("id == 0x3 or id == 0o4 or id == 0b101", [3, 4, 5]),
    ("id == 01", [1]),  # C-style octal
    ("score == 1e1", [5]),
    ("score > 0.", [0, 1, 3, 4, 5]),
    # ranges
    ("17 < age <= 45", [0, 3]),
    ("50 > age > 12", [0, 1, 3]),
    ("0 <= score < 3", [0, 1]),
    # logic and keyword spellings
    ("age > 20 AND ok", [0, 4]),
    ("age > 20 && ok == True", [0, 4]),
    ("age < 15 OR name == 'Bob'", [1, 5]),
    ("age < 15 || ok", [0, 2, 4, 5]),
    ("NOT (age > 20) and NOT ok", [1, 5]),
    ("age > 20 or age <= 20", [0, 1, 3, 4, 5]),  # NULL row is UNKNOWN, not TRUE
    ("age > 20 or true", [0, 1, 2, 3, 4, 5]),  # UNKNOWN or TRUE is TRUE
    ("not (age > 20 and false)", [0, 1, 2, 3, 4, 5]),  # UNKNOWN and FALSE is FALSE
    ("not (age > 20 and true)", [1, 5]),
    # arithmetic
    ("age % 2 == 1", [1, 3, 4]),
    ("age / 4 == 4", [1]),  # 17 / 4 == 4
    ("age / 4 == 7", [0]),  # integer division truncates
    ("-age < -40", [3, 4]),
    ("age * 2 + 1 == 61", [0]),
    ("2 ** 3 == 8 and age ** 2 > 2000", [3, 4]),
    ("score / 0 > 0 or id == 1", [1]),  # division by zero is UNKNOWN
    ("(age & 1) == 1", [1, 3, 4]),
    ("(age | 1) == 31", [0]),
    ("(age ^ 1) == 31", [0]),
    ("age << 1 == 60", [0]),
    ("age >> 2 == 3", [5]),
    ("~age == -31", [0]),
    ("id + score > 10", [5]),
    # IN
    ("age in [17, 45, 0]", [1, 3]),
    ("age IN [17.0]", [1]),
    ("age not in [17, 45]", [0, 4, 5]),
    ("not age in [17, 45]", [0, 4, 5]),
    ("age in []", []),
    ("age not in []", [0, 1, 2, 3, 4, 5]),
    ('name in ["alice", "carol", "zed"]', [0, 4]),
    ("id in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]", [1, 2, 3, 4, 5]),
    # LIKE and regex
    ('name like "al%"', [0, 3]),
    ('name LIKE "%ol"', [4]),
    ('name like "%o%"', [1, 4]),
    ('name like "a_i%e"', [0]),
    ('name like "al\\\\%ce"', [3]),  # escaped % is a literal percent
    ('name like "al\\%ce"', [3]),  # \% (an unknown C escape) keeps its backslash
    ('name like "%"', [0, 1, 3, 4, 5]),
    ('name like "a%e"', [0, 3]),
    ('name like "_ob"', [1]),
    ('name =~ "^[A-Z]"', [1]),
    ('name !~ "l"', [1, 5]),
    ('name =~ r"\\Aal"', [0, 3]),
    # JSON paths
    ('info["a"] == 1', [0]),
    ('info["a"] > 1', [3, 5]),  # "1" and true are not numbers
    ('info["a"] == "1"', [1]),
    ('info["a"] == true', [4]),
    ('info["b"]["c"] == "x"', [0]),
    ('info["l"][0] == 1', [0]),
    ('info["b"][1] == 20', [4]),
    ('info["a"] in [1, 7, "1"]', [0, 1, 5]),
    ('info["a"] not in [1, 7]', [3]),  # mismatched types are UNKNOWN, not TRUE
    ('info["a"] + 1 > 3', [3, 5]),
    ('info["a"] / 2 == 1.25', [3]),  # JSON numbers divide as doubles
    ('info["a"] != 1', [3, 5]),
    ("info['a'] is null", [2]),
    ('info["n"] is null', [0, 1, 2, 3, 4, 5]),
    ('info["b"]["c"] is not null', [0, 1]),
    ("info is null", [2]),
    ("info is not null", [0, 1, 3, 4, 5]),
    ('exists info["n"]', [3]),  # a key holding null exists
    ('EXISTS info["b"]["c"]', [0, 1, 5]),
    ("exists info", [0, 1, 3, 4, 5]),
    ('info["b"]["c"] like "%"', [0, 1]),
    ('info["a"] < info["l"][2]', [0]),
    # dynamic field
    ('color == "red"', [0, 5]),
    ('$meta["color"] == "red"', [0, 5]),
    ("size > 2", [0, 3, 5]),
    ("color is null", [2, 3, 4]),
    ("exists color", [0, 1, 4, 5]),
    ("size in [3, 10]", [0, 3]),
    # ARRAY fields
    ('array_contains(tags, "red")', [0, 3, 4]),
    ('ARRAY_CONTAINS_ALL(tags, ["red", "blue"])', [0, 4]),
    ('array_contains_any(tags, ["green", "x"])', [1, 4, 5]),
    ("array_contains_all(tags, [])", [0, 1, 2, 3, 4, 5]),
    ("array_contains_any(nums, [])", []),
    ("array_length(tags) == 0", [2]),
    ("array_length(nums) >= 2", [0, 3, 4]),
    ("nums[0] == 1", [0, 3]),
    ("nums[2] > 5", [3]),
    ("nums[1] is null", [1, 2, 5]),
    ('tags[0] like "r%"', [0, 3]),
    ('tags[1] in ["blue", "green"]', [0, 4]),
    # JSON containment
    ('json_contains(info["l"], 1)', [0]),
    ('json_contains(info["l"], true)', [1]),  # true never equals 1
    ('json_contains(info["l"], [1, 2])', [4]),
    ('json_contains_all(info["l"], [1, 3])', [0]),
    ('json_contains_any(info["l"], ["a", 3])', [0, 1, 4]),
    ('not json_contains(info["l"], 1)', [1, 3, 4]),  # rows without a list stay UNKNOWN
    ('array_length(info["l"]) == 2', [1, 4]),
    # templates
    ("age > {low}", [0, 3, 4], {"low": 20}),
    ("id in {ids}", [1, 4], {"ids": [1, 4, 40]}),
    ("id in {ids}", [2, 3], {"ids": np.array([2, 3])}),
    ("name == {n} or age == {a}", [0, 5], {"n": "alice", "a": np.int64(12)}),
    ("{lo} < age < {hi}", [0, 3], {"lo": 20, "hi": 50}),
    ('info["a"] in {vals}', [0, 1], {"vals": [1, "1"]}),
    # whole-row constants
    ("true", [0, 1, 2, 3, 4, 5]),
    ("1 < 2 and FALSE", []),
    ("(((age > 20)))", [0, 3, 4]),
    ("age > 20\n  and ok", [0, 4]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_filter_case(case):
    text, expected, *rest = case
    params = rest[0] if rest else None
    assert ids(text, params) == expected


ERRORS = [
    # (filter, fragments the message must contain)
    ("id === 1", ["line 1, column 6", "unexpected '='"]),
    ("age > ", ["unexpected end of filter", "line 1, column 7"]),
    ("age in [1, 2", ["unexpected end of filter", "expected ',' or ']'"]),
    ("age > 1 and", ["unexpected end of filter"]),
    ("age @ 1", ["unexpected character '@'", "line 1, column 5"]),
    ("age > 1\nand (ok", ["line 2, column 8"]),
    ("a < age > 3", ["invalid range"]),
    ("nope > 1", []),  # dynamic field enabled: a dynamic key, not an error (checked below)
]


@pytest.mark.parametrize("text,fragments", ERRORS[:-1])
def test_syntax_errors_name_the_position(text, fragments):
    with pytest.raises(FilterError) as info:
        compile_filter(text, SCHEMA)
    message = info.value.message
    for fragment in fragments:
        assert fragment in message, message
    assert "^" in message  # the caret snippet


def test_caret_points_at_the_offending_column():
    with pytest.raises(FilterError) as info:
        compile_filter("id === 1", SCHEMA)
    lines = info.value.message.splitlines()
    assert lines[1].strip() == "id === 1"
    assert lines[2].index("^") - lines[1].index("i") == 5


SEMANTIC_ERRORS = [
    ('name > 1', "cannot compare VARCHAR field 'name' with a number"),
    ('age == "x"', "cannot compare INT32 field 'age' with a string"),
    ("vec > 1", "vector field 'vec' cannot be used in a filter"),
    ('age like "a%"', "LIKE needs a string"),
    ("name + 1 > 0", "needs numbers"),
    ("ok < true", "booleans can only be compared with == and !="),
    ("score & 1 == 1", "needs integer operands"),
    ('age in [1, "x"]', "does not match INT32 field 'age'"),
    ("age in 3", "IN needs a list"),
    ("age", "not a condition"),
    ("tags == 1", "cannot compare ARRAY field 'tags'"),
    ('nums[0] == "a"', "cannot compare element 0 of ARRAY field 'nums' with a string"),
    ('array_contains(nums, "a")', "does not match the elements"),
    ("array_contains(age, 1)", "needs a JSON or ARRAY field"),
    ('json_contains_all(info, 1)', "needs a list"),
    ("age[0] > 1", "cannot be subscripted"),
    ('tags["x"] == 1', "takes one integer index"),
    ("exists age", "EXISTS needs a JSON path"),
    ("1 + 2 is null", "IS NULL applies to a field"),
    ("age / 0 > 1 and 1 / 0 > 2", "division by zero"),
    ('name =~ "("', "invalid regular expression"),
    ("st_contains(info, 'POINT(1 1)')", "st_contains() needs a GEOMETRY field"),
    ("element_filter(tags, $ > 1)", "not supported"),
    ("match_all(tags, x > 1)", "match_all() is not supported"),
    ("frobnicate(age)", "unknown function 'frobnicate'"),
    ("array_length(tags, 1) > 0", "takes 1 arguments"),
    ("text_match(age, 'x')", "needs a VARCHAR field"),
    ("text_match(name, 'x', slop=2)", "unexpected keyword 'slop'"),
    ("random_sample(1.5)", "strictly between 0 and 1"),
    ("id == 99999999999999999999", "out of the int64 range"),
    ("created > ISO '2025-01-01'", "can only be compared with a TIMESTAMPTZ field"),
    ('name == "\\ud800"', "invalid escape"),
]


@pytest.mark.parametrize("text,fragment", SEMANTIC_ERRORS)
def test_semantic_errors(text, fragment):
    with pytest.raises(FilterError) as info:
        compile_filter(text, SCHEMA)
    assert fragment in info.value.message, info.value.message


def test_semantic_errors_carry_the_position():
    with pytest.raises(FilterError) as info:
        compile_filter("age > 1 and name > 1", SCHEMA)
    assert "line 1, column 13" in info.value.message


def test_unknown_field_without_dynamic_field():
    schema = make_schema(dynamic=False)
    with pytest.raises(FilterError) as info:
        compile_filter("age > 1 and nope == 2", schema)
    assert "unknown field 'nope'" in info.value.message
    assert "line 1, column 13" in info.value.message
    with pytest.raises(FilterError, match=r"\$meta is not available"):
        compile_filter('$meta["x"] == 1', schema)


def test_dynamic_key_is_read_from_meta():
    cf = compile_filter("nope > 1", SCHEMA)
    assert cf.fields == {"$meta"}
    assert ids("nope > 1") == []


def test_fields_and_template_names():
    cf = compile_filter('age > {a} and info["x"] == {b} or color == "r" or name in {c}', SCHEMA)
    assert cf.fields == {"age", "info", "$meta", "name"}
    assert cf.template_names == {"a", "b", "c"}


def test_missing_template_param_is_named():
    cf = compile_filter("age > {low} and id in {ids}", SCHEMA)
    with pytest.raises(FilterError, match="'ids', 'low'"):
        cf.evaluate(SOURCE)
    with pytest.raises(FilterError, match="'ids'"):
        cf.evaluate(SOURCE, {"low": 1})


def test_template_type_errors_are_reported_at_evaluation():
    cf = compile_filter("age > {low}", SCHEMA)
    with pytest.raises(FilterError, match="cannot compare INT32 field 'age' with a string"):
        cf.evaluate(SOURCE, {"low": "x"})
    with pytest.raises(FilterError, match="must be a number, string, bool or list"):
        cf.evaluate(SOURCE, {"low": {"a": 1}})
    with pytest.raises(FilterError, match="IN needs a list"):
        compile_filter("id in {ids}", SCHEMA).evaluate(SOURCE, {"ids": 3})


def test_compile_is_cached_per_text_and_schema():
    a = compile_filter("age > 1", SCHEMA)
    assert compile_filter("age > 1", SCHEMA) is a
    assert compile_filter("age > 1", make_schema()) is a  # an equal schema
    assert compile_filter("age > 1", make_schema(dynamic=False)) is not a


def test_evaluate_does_not_modify_columns():
    before = [c.copy() for c in (SOURCE.column("info").values, SOURCE.column("age").values)]
    ids('info["a"] > 1 and age > 1 and json_contains(info["l"], 1)')
    assert list(SOURCE.column("info").values) == list(before[0])
    assert np.array_equal(SOURCE.column("age").values, before[1])


def test_empty_source():
    source = ArrayColumnSource(SCHEMA, {}, 0)
    assert compile_filter('color == "red"', SCHEMA).evaluate(source).shape == (0,)


def test_text_match_and_phrase_match_call_the_source():
    calls = []

    def text_match(field, query, msm):
        calls.append(("text", field, query, msm))
        return np.array([True, True, True, False, False, False])

    def phrase_match(field, phrase, slop):
        calls.append(("phrase", field, phrase, slop))
        return np.array([False, True, True, True, False, False])

    source = make_source(text_match=text_match, phrase_match=phrase_match)
    # row 2's name is NULL: the source's TRUE there stays UNKNOWN, so NOT never selects it
    assert ids("text_match(name, 'a b')", source=source) == [0, 1]
    assert ids("not TEXT_MATCH(name, 'a b', minimum_should_match=2)", source=source) == [3, 4, 5]
    assert ids("phrase_match(name, 'x y', 2) and id > 1", source=source) == [3]
    assert ids("not phrase_match(name, 'x y')", source=source) == [0, 4, 5]
    assert calls == [("text", "name", "a b", 1), ("text", "name", "a b", 2),
                     ("phrase", "name", "x y", 2), ("phrase", "name", "x y", 0)]


def test_random_sample_keeps_a_fraction():
    n = 20000
    schema = CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True)])
    source = ArrayColumnSource(schema, {"id": np.arange(n)}, n)
    mask = compile_filter("random_sample(0.25)", schema).evaluate(source)
    assert 0.2 < mask.mean() < 0.3


def test_large_columns_are_vectorised_and_correct():
    n = 200_000
    rng = np.random.default_rng(7)
    tag = rng.integers(0, 50, n)
    names = np.array([f"n{i % 1000}" for i in range(n)], dtype=S)
    schema = CollectionSchema([FieldSchema("id", DataType.INT64, is_primary=True),
                               FieldSchema("tag", DataType.INT64),
                               FieldSchema("name", DataType.VARCHAR, max_length=16)])
    source = ArrayColumnSource(schema, {"id": np.arange(n), "tag": tag, "name": names}, n)
    wanted = list(range(0, 50, 3))
    got = compile_filter(f"tag in {wanted} and name like 'n1%'", schema).evaluate(source)
    expected = np.isin(tag, wanted) & np.array([s.startswith("n1") for s in names.tolist()])
    assert np.array_equal(got, expected)
    many = [f"n{i}" for i in range(0, 1000, 7)]
    got = compile_filter("name in {names}", schema).evaluate(source, {"names": many})
    assert np.array_equal(got, np.isin(np.array(names.tolist()), many))


def test_parse_filter_builds_the_ast():
    tree = parse_filter('not a in [1, 2] AND b["k"][0] like "x%"')
    assert type(tree).__name__ == "Logical" and tree.op == "and"
    assert type(tree.items[0]).__name__ == "Not"
    assert tree.items[1].value.keys == ("k", 0)


def test_string_escapes_and_raw_strings():
    assert parse_filter(r'a == "\t\"\'\\\u00e9\x41"').right.value == "\t\"'\\éA"
    assert parse_filter(r"a == 'it\'s'").right.value == "it's"
    assert parse_filter(r'a == r"\d+\"x"').right.value == r"\d+\"x"
    assert parse_filter('a == u8"z"').right.value == "z"


def test_empty_filter_is_an_error():
    with pytest.raises(FilterError, match="empty"):
        compile_filter("   ", SCHEMA)


def test_import_is_cheap_and_thread_safe_evaluation():
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    out = subprocess.run(
        [sys.executable, "-c", "import sys, embedb.expr; print('lark' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # lark loads on the first compile only

    texts = ['info["a"] > 1 or age < 20', "color == 'red' and not ok", "array_length(nums) > 1"]
    expected = {t: ids(t) for t in texts}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: (texts[i % 3], ids(texts[i % 3])), range(60)))
    assert all(expected[t] == got for t, got in results)


def test_array_column_source_checks_its_columns():
    from embedb.errors import ParamError

    with pytest.raises(ParamError, match="must be a 1-D array"):
        ArrayColumnSource(SCHEMA, {"nums": np.array([[1, 2], [3, 4]], dtype=object)}, 2)
    with pytest.raises(ParamError, match="has 3 values, expected 2"):
        ArrayColumnSource(SCHEMA, {"age": np.arange(3)}, 2)
    with pytest.raises(FilterError, match="'age' is not available"):
        compile_filter("age > 1", SCHEMA).evaluate(ArrayColumnSource(SCHEMA, {}, 2))
