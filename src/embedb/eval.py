"""Retrieval evaluation: load a BEIR-format data set and score ranked runs with nDCG@k and recall@k.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line), ``queries.jsonl``
(``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id  corpus-id  score``, with or without a
header line). The metrics follow trec_eval as used by BEIR through pytrec_eval: linear gains,
``log2(rank + 1)`` discounts, documents with relevance > 0 count as relevant, and the ideal ranking
is taken from the judged documents.

A *run* maps a query id to its ranked document ids (best first), or to ``{doc_id: score}``
(ranked by score descending, ties broken by document id descending as trec_eval does).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

from .errors import ParamError

Run = Mapping[str, Union[Sequence[str], Mapping[str, float]]]
Qrels = Mapping[str, Mapping[str, int]]


@dataclass
class BeirDataset:
    """A BEIR data set: documents in file order, queries, and relevance judgements."""

    corpus: dict[str, dict] = field(default_factory=dict)  # doc id -> {"title", "text", ...}
    queries: dict[str, str] = field(default_factory=dict)  # query id -> text
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # query id -> {doc id: rel}

    def judged_queries(self) -> dict[str, str]:
        """The queries that have at least one relevance judgement (the ones BEIR scores)."""
        return {qid: text for qid, text in self.queries.items() if qid in self.qrels}

    @staticmethod
    def document_text(doc: Mapping) -> str:
        """Title and body joined the way BEIR's dense baselines embed them."""
        title = (doc.get("title") or "").strip()
        text = (doc.get("text") or "").strip()
        return f"{title}. {text}" if title else text


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ParamError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise ParamError(f"{path}:{line_no}: expected a JSON object with an '_id' key")
            yield line_no, row


def load_beir(path: str | Path, split: str = "test", max_docs: int | None = None) -> BeirDataset:
    """Load a BEIR folder. ``max_docs`` keeps the first N documents (plus none of the others);
    qrels are then restricted to the documents kept."""
    root = Path(path)
    if not root.is_dir():
        raise ParamError(f"data set folder not found: {root}")
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (corpus_path, queries_path, qrels_path):
        if not p.is_file():
            raise ParamError(f"not a BEIR folder: {p} is missing (need corpus.jsonl, "
                             f"queries.jsonl and qrels/{split}.tsv)")
    ds = BeirDataset()
    for _, row in _read_jsonl(corpus_path):
        if max_docs is not None and len(ds.corpus) >= max_docs:
            break
        ds.corpus[str(row["_id"])] = row
    for _, row in _read_jsonl(queries_path):
        ds.queries[str(row["_id"])] = str(row.get("text", ""))
    with qrels_path.open(encoding="utf-8", newline="") as f:
        for line_no, cols in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not cols or (line_no == 1 and cols[0] == "query-id"):
                continue
            if len(cols) < 3:
                raise ParamError(f"{qrels_path}:{line_no}: expected 'query-id<TAB>corpus-id<TAB>score'")
            qid, did = cols[0], cols[1]
            try:
                rel = int(cols[2])
            except ValueError:
                raise ParamError(f"{qrels_path}:{line_no}: score {cols[2]!r} is not an integer") from None
            if max_docs is not None and did not in ds.corpus:
                continue
            ds.qrels.setdefault(qid, {})[did] = rel
    return ds


def _ranked_ids(ranking: Sequence[str] | Mapping[str, float]) -> list[str]:
    if isinstance(ranking, Mapping):
        # trec_eval order: score descending, then document id descending
        return [d for d, _ in sorted(ranking.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]
    return list(ranking)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 10) -> dict[str, float]:
    """nDCG@k per judged query (a judged query missing from the run scores 0)."""
    if k < 1:
        raise ParamError(f"k must be >= 1, got {k}")
    disc = _discounts(k)
    out: dict[str, float] = {}
    for qid, judged in qrels.items():
        ideal = np.sort(np.array([r for r in judged.values() if r > 0], dtype=float))[::-1][:k]
        idcg = float(ideal @ disc[: len(ideal)])
        ranked = _ranked_ids(run.get(qid, ()))[:k]
        gains = np.array([max(judged.get(d, 0), 0) for d in ranked], dtype=float)
        dcg = float(gains @ disc[: len(gains)]) if len(gains) else 0.0
        out[qid] = dcg / idcg if idcg > 0 else 0.0
    return out


def recall_at_k(run: Run, qrels: Qrels, k: int = 100) -> dict[str, float]:
    """Recall@k per judged query: relevant documents in the top k / all relevant documents."""
    if k < 1:
        raise ParamError(f"k must be >= 1, got {k}")
    out: dict[str, float] = {}
    for qid, judged in qrels.items():
        relevant = {d for d, r in judged.items() if r > 0}
        if not relevant:
            out[qid] = 0.0
            continue
        top = set(_ranked_ids(run.get(qid, ()))[:k])
        out[qid] = len(top & relevant) / len(relevant)
    return out


def mean_score(per_query: Mapping[str, float]) -> float:
    """The mean over queries (0.0 for none)."""
    return float(np.mean(list(per_query.values()))) if per_query else 0.0


def subsample(ds: BeirDataset, max_docs: int | None = None, max_queries: int | None = None) -> BeirDataset:
    """A smaller data set that stays meaningful: the first ``max_queries`` judged queries, their
    judged documents (in query order), then other documents in file order, ``max_docs`` in all.
    Queries left with no judged document are dropped."""
    queries = list(ds.judged_queries())[: max_queries if max_queries is not None else None]
    limit = max_docs if max_docs is not None else len(ds.corpus)
    judged = dict.fromkeys(d for q in queries for d in ds.qrels[q] if d in ds.corpus)
    keep = dict.fromkeys(list(judged)[:limit])
    for doc_id in ds.corpus:
        if len(keep) >= limit:
            break
        keep.setdefault(doc_id, None)
    corpus = {d: ds.corpus[d] for d in ds.corpus if d in keep}  # file order
    qrels = {q: {d: r for d, r in ds.qrels[q].items() if d in corpus} for q in queries}
    qrels = {q: j for q, j in qrels.items() if j}
    return BeirDataset(corpus=corpus, queries={q: ds.queries[q] for q in qrels}, qrels=qrels)
