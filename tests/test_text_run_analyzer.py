"""run_analyzer (the AnalyzerMixin of MilvusClient): pymilvus result shapes and errors."""

from __future__ import annotations

import pytest

from embedb.client.analyzer import AnalyzeResult, AnalyzeToken, AnalyzerMixin
from embedb.engine.fulltext import token_hash
from embedb.errors import ParamError
from test_fulltext_engine import MULTI, StandInCollection, make_schema


class Client(AnalyzerMixin):
    def __init__(self, collections=None):
        self.collections = collections or {}

    def _collection(self, name):
        return self.collections[name]


def test_single_text_gives_one_result_and_lists_give_lists():
    c = Client()
    r = c.run_analyzer("The Foxes ran!", {"type": "english"})
    assert isinstance(r, AnalyzeResult) and r.tokens == ["fox", "ran"]
    rs = c.run_analyzer(["Hello World", ""], None)
    assert [x.tokens for x in rs] == [["hello", "world"], []]
    assert str(rs[0]) == "['hello', 'world']"


def test_json_string_params_and_detail_and_hash():
    c = Client()
    r = c.run_analyzer("a Cats", '{"tokenizer": "standard", "filter": ["lowercase"]}', with_hash=True, with_detail=True)
    first = r.tokens[1]
    assert isinstance(first, AnalyzeToken)
    assert first.dict == {"token": "cats", "start_offset": 2, "end_offset": 6, "position": 1,
                          "position_length": 1, "hash": token_hash("cats")}
    assert first["token"] == first.token == "cats"
    only_hash = c.run_analyzer("x", None, with_hash=True).tokens[0]
    assert only_hash.dict == {"token": "x", "hash": token_hash("x")}


def test_collection_field_analyzers_and_names():
    coll = StandInCollection(make_schema(multi=MULTI))
    c = Client({"docs": coll})
    assert c.run_analyzer("running dogs", collection_name="docs", field_name="text", analyzer_names="en").tokens == ["run", "dog"]
    got = c.run_analyzer(["Hunde", "Hunde"], collection_name="docs", field_name="text", analyzer_names=["german", "default"])
    assert [r.tokens for r in got] == [["hund"], ["Hunde"]]
    with pytest.raises(ParamError, match="no analyzer"):
        c.run_analyzer("x", collection_name="docs", field_name="text", analyzer_names="klingon")
    with pytest.raises(ParamError, match="enable_analyzer"):
        c.run_analyzer("x", collection_name="docs", field_name="lang")


@pytest.mark.parametrize("kwargs,message", [
    ({"texts": 3}, "texts must be"),
    ({"texts": "x", "analyzer_params": {"type": "klingon"}}, "unknown analyzer type"),
    ({"texts": "x", "collection_name": "docs"}, "both"),
    ({"texts": "x", "analyzer_names": "en"}, "needs collection_name"),
])
def test_errors(kwargs, message):
    with pytest.raises(ParamError, match=message):
        Client().run_analyzer(**kwargs)
