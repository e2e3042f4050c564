"""embedb.eval: BEIR loading and metrics, checked against pytrec_eval (trec_eval's own code)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.errors import ParamError
from embedb.eval import BeirDataset, load_beir, mean_score, ndcg_at_k, recall_at_k

pytrec_eval = pytest.importorskip("pytrec_eval")

DOCS = [f"d{i}" for i in range(12)]


@st.composite
def runs_and_qrels(draw):
    qrels, run = {}, {}
    for q in range(draw(st.integers(1, 4))):
        qid = f"q{q}"
        judged = draw(st.dictionaries(st.sampled_from(DOCS), st.integers(0, 3), min_size=1, max_size=6))
        qrels[qid] = judged
        ranked = draw(st.lists(st.sampled_from(DOCS), unique=True, max_size=12))
        # distinct scores so both sides rank identically
        run[qid] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    return run, qrels


@settings(max_examples=150, deadline=None)
@given(runs_and_qrels(), st.sampled_from([1, 3, 5, 10]))
def test_ndcg_and_recall_match_pytrec_eval(data, k):
    run, qrels = data
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut_{k}", f"recall_{k}"})
    ref = evaluator.evaluate({q: r for q, r in run.items() if r})
    ndcg, recall = ndcg_at_k(run, qrels, k), recall_at_k(run, qrels, k)
    for qid in qrels:
        expected = ref.get(qid, {})
        assert ndcg[qid] == pytest.approx(expected.get(f"ndcg_cut_{k}", 0.0), abs=1e-9)
        assert recall[qid] == pytest.approx(expected.get(f"recall_{k}", 0.0), abs=1e-9)


def test_ranked_list_and_score_dict_agree():
    qrels = {"q": {"a": 2, "b": 1, "z": 0}}
    as_list = ndcg_at_k({"q": ["b", "x", "a"]}, qrels, 10)
    as_dict = ndcg_at_k({"q": {"b": 0.9, "x": 0.5, "a": 0.1}}, qrels, 10)
    assert as_list == as_dict
    assert 0 < as_list["q"] < 1
    assert ndcg_at_k({"q": ["a", "b"]}, qrels, 10)["q"] == pytest.approx(1.0)
    assert recall_at_k({"q": ["a"]}, qrels, 1)["q"] == pytest.approx(0.5)


def test_missing_query_scores_zero_and_mean():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = ndcg_at_k({"q1": ["a"]}, qrels)
    assert scores == {"q1": 1.0, "q2": 0.0}
    assert mean_score(scores) == 0.5
    assert mean_score({}) == 0.0


def test_bad_k():
    with pytest.raises(ParamError, match="k must be"):
        ndcg_at_k({}, {}, 0)


def _write_beir(root, header=True):
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "1", "title": "T", "text": "one"}, {"_id": "2", "title": "", "text": "two"},
            {"_id": "3", "text": "three"}]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "first?"}) + "\n"
                                        + json.dumps({"_id": "q2", "text": "unjudged"}) + "\n")
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + ["q1\t1\t1", "q1\t3\t2"]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("header", [True, False])
def test_load_beir(tmp_path, header):
    _write_beir(tmp_path, header)
    ds = load_beir(tmp_path)
    assert list(ds.corpus) == ["1", "2", "3"]
    assert ds.queries == {"q1": "first?", "q2": "unjudged"}
    assert ds.qrels == {"q1": {"1": 1, "3": 2}}
    assert ds.judged_queries() == {"q1": "first?"}
    assert BeirDataset.document_text(ds.corpus["1"]) == "T. one"
    assert BeirDataset.document_text(ds.corpus["2"]) == "two"
    small = load_beir(tmp_path, max_docs=2)
    assert list(small.corpus) == ["1", "2"] and small.qrels == {"q1": {"1": 1}}


def test_load_beir_errors(tmp_path):
    with pytest.raises(ParamError, match="not found"):
        load_beir(tmp_path / "nope")
    with pytest.raises(ParamError, match="corpus.jsonl"):
        load_beir(tmp_path)
    _write_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1"}\n{oops\n')
    with pytest.raises(ParamError, match=r"corpus.jsonl:2: not valid JSON"):
        load_beir(tmp_path)


def test_subsample_keeps_judged_documents(tmp_path):
    from embedb.eval import subsample

    corpus = {f"d{i}": {"text": str(i)} for i in range(20)}
    ds = BeirDataset(corpus=corpus, queries={"q1": "a", "q2": "b", "q3": "unjudged"},
                     qrels={"q1": {"d15": 1, "d19": 2}, "q2": {"d3": 1}})
    small = subsample(ds, max_docs=5, max_queries=1)
    assert list(small.queries) == ["q1"]
    assert list(small.corpus) == ["d0", "d1", "d2", "d15", "d19"]  # judged kept, file order
    assert small.qrels == {"q1": {"d15": 1, "d19": 2}}
    capped = subsample(ds, max_docs=1)
    assert list(capped.corpus) == ["d15"] and capped.qrels == {"q1": {"d15": 1}}
    tiny = subsample(ds, max_docs=1, max_queries=2)  # q2's judged document did not fit
    assert list(tiny.queries) == ["q1"] and list(tiny.qrels) == ["q1"]
    full = subsample(ds)
    assert len(full.corpus) == 20 and set(full.queries) == {"q1", "q2"}
