"""Retrieval benchmarks on a BEIR data set, shared by ``embedb eval`` and the demo: embed the corpus
(with an on-disk cache), load it into a collection, run each search method query by query, and
score the runs with nDCG@10 and recall@100."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ParamError
from ..eval import BeirDataset, mean_score, ndcg_at_k, recall_at_k
from .app import ensure_loaded
from .layout import (DEFAULT_LANGUAGE, Layout, analyzer_language, create_document_collection,
                     read_layout)
from .models import embed
from .search import rerank_hits, search_texts

METHODS = ("dense", "bm25", "hybrid", "reranked")
INSERT_BATCH = 500
RERANK_DEPTH = 30  # hybrid hits the reranker reorders


def cache_dir() -> Path:
    """``$EMBEDB_CACHE_DIR``, else ``~/.cache/embedb``."""
    return Path(os.environ.get("EMBEDB_CACHE_DIR") or Path.home() / ".cache" / "embedb")


def collection_name_for(folder: str | Path) -> str:
    """A valid collection name for a data set folder: ``beir_<folder name>``."""
    return "beir_" + re.sub(r"\W", "_", Path(folder).resolve().name)


def corpus_digest(ds: BeirDataset, model: str) -> str:
    h = hashlib.sha256(model.encode())
    for doc_id, doc in ds.corpus.items():
        h.update(b"\0" + doc_id.encode() + b"\0" + BeirDataset.document_text(doc).encode())
    return h.hexdigest()


def corpus_vectors(ds: BeirDataset, ef, model: str, bar=None, use_cache: bool = True) -> np.ndarray:
    """Document vectors of the corpus in corpus order, from the cache when the model and the
    documents are the same as last time (the file is keyed by both)."""
    path = cache_dir() / f"vectors-{corpus_digest(ds, model)[:24]}.npy"
    n = len(ds.corpus)
    if use_cache and path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == n:
                if bar is not None:
                    bar.add_task("embedding corpus (cached)", total=n, completed=n)
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    texts = [BeirDataset.document_text(d) for d in ds.corpus.values()]
    advance = None
    if bar is not None:
        task = bar.add_task("embedding corpus", total=n)
        advance = lambda k: bar.advance(task, k)  # noqa: E731
    vectors = embed(texts, ef.encode_documents, batch_size=64, advance=advance)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as f:  # write then rename: a crash never leaves half a file
            np.save(f, vectors, allow_pickle=False)
        os.replace(tmp, path)
    return vectors


def collection_key(model: str, language: str | None) -> str:
    """What a loaded corpus was built with (its content_hash): the model, and the analyzer
    language when it is not the default English."""
    lang = analyzer_language(language)
    return model if lang == DEFAULT_LANGUAGE else f"{model}|language={lang}"


def load_corpus(client, name: str, ds: BeirDataset, vectors: np.ndarray | None, model: str,
                dim: int, bar=None, language: str | None = None) -> Layout:
    """Create collection ``name`` and insert the corpus (id = BEIR doc id, BM25 from the text).
    ``vectors`` None: the collection embeds the text itself (a TEXTEMBEDDING function), so rows
    carry text only; else the given (cached) document vectors are inserted as they are."""
    create_document_collection(client, name, dim, model, embed_in_db=vectors is None,
                               language=language)
    digest = corpus_digest(ds, collection_key(model, language))
    ids = list(ds.corpus)
    what = "embedding + inserting documents" if vectors is None else "inserting documents"
    task = bar.add_task(what, total=len(ids)) if bar is not None else None
    for start in range(0, len(ids), INSERT_BATCH):
        rows = [{"id": doc_id, "text": BeirDataset.document_text(ds.corpus[doc_id]),
                 "source": "corpus.jsonl", "chunk": 0, "content_hash": digest}
                for doc_id in ids[start:start + INSERT_BATCH]]
        if vectors is not None:
            for i, row in enumerate(rows):
                row["vector"] = vectors[start + i]
        client.insert(name, rows)
        if bar is not None:
            bar.advance(task, len(rows))
    client.flush(name)
    return read_layout(client, name)


def corpus_is_loaded(client, name: str, ds: BeirDataset, model: str,
                     language: str | None = None) -> bool:
    """Whether ``name`` already holds exactly this corpus embedded with this model."""
    if not client.has_collection(name):
        return False
    if client.get_collection_stats(name)["row_count"] != len(ds.corpus):
        return False
    ensure_loaded(client, name)
    row = client.query(name, filter="chunk == 0", output_fields=["content_hash"], limit=1)
    return bool(row) and row[0].get("content_hash") == corpus_digest(ds, collection_key(model, language))


def run_method(client, layout: Layout, queries: dict[str, str], method: str, ef=None, reranker=None,
               depth: int = 100, bar=None, fusion: str | None = None
               ) -> tuple[dict[str, list[str]], list[float]]:
    """Run one method over the queries one at a time (as a user would); returns the ranked doc
    ids per query and each query's latency in seconds (query embedding included). ``fusion``:
    the ``--fusion`` spec of hybrid searches (default: the measured best)."""
    if method not in METHODS:
        raise ParamError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "reranked" and reranker is None:
        raise ParamError("the 'reranked' method needs a reranker model (--rerank MODEL)")
    mode = "hybrid" if method == "reranked" else method
    label = method if fusion is None or mode != "hybrid" else f"{method} [{fusion}]"
    task = bar.add_task(f"queries: {label}", total=len(queries)) if bar is not None else None
    first = next(iter(queries.values()), None)
    if first is not None:  # warm-up: the first call pays for lazy model loading, not the method
        search_texts(client, layout, [first], mode, ef, limit=10, fusion=fusion)
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        t0 = time.perf_counter()
        hits = search_texts(client, layout, [text], mode, ef, limit=depth, candidates=depth,
                            fusion=fusion)[0]
        ranked = [h["id"] for h in hits]
        if reranker is not None and method == "reranked":
            top = rerank_hits(reranker, text, list(hits[:RERANK_DEPTH]), layout, RERANK_DEPTH)
            head = [h["id"] for h, _ in top]
            ranked = head + [d for d in ranked if d not in set(head)]
        latencies.append(time.perf_counter() - t0)
        run[qid] = ranked
        if bar is not None:
            bar.advance(task)
    return run, latencies


def score_run(method: str, run: dict[str, list[str]], latencies: list[float], ds: BeirDataset) -> dict:
    lat_ms = np.array(latencies) * 1000.0 if latencies else np.zeros(1)
    return {"method": method,
            "ndcg@10": round(mean_score(ndcg_at_k(run, ds.qrels, 10)), 4),
            "recall@100": round(mean_score(recall_at_k(run, ds.qrels, 100)), 4),
            "mean_ms": round(float(lat_ms.mean()), 2),
            "p95_ms": round(float(np.percentile(lat_ms, 95)), 2),
            "queries": len(run)}


def evaluate_methods(client, layout: Layout, ds: BeirDataset, methods, ef=None, reranker=None,
                     bar=None, fusions: list[str] | None = None) -> list[dict]:
    """Score each method on the judged queries of ``ds``; one result row per method, and per
    fusion spec for ``hybrid``/``reranked`` when several are given (``hybrid [dbsf]``)."""
    queries = ds.judged_queries()
    if not queries:
        raise ParamError("the data set has no judged queries (qrels) to evaluate")
    rows = []
    for method in methods:
        specs = fusions if fusions and method in ("hybrid", "reranked") else [None]
        for spec in specs:
            run, latencies = run_method(client, layout, queries, method, ef, reranker, bar=bar,
                                        fusion=spec)
            name = method if spec is None or len(specs) == 1 else f"{method} [{spec}]"
            rows.append(score_run(name, run, latencies, ds))
    return rows
