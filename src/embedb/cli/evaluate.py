"""``embedb eval``: nDCG@10, recall@100 and latency of each search method on a BEIR data set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ParamError
from ..eval import load_beir, subsample
from .app import db_option, ensure_loaded, open_client
from .benchmark import (METHODS, collection_name_for, corpus_is_loaded, corpus_vectors,
                        evaluate_methods, load_corpus)
from .fusion import DEFAULT_FUSION, parse_fusion_list
from .layout import read_layout
from .models import DEFAULT_MODEL, load_embedding, load_reranker
from .output import emit_rows, output_options, progress, to_jsonable

RESULT_COLUMNS = ["method", "ndcg@10", "recall@100", "mean_ms", "p95_ms", "queries"]


def parse_methods(text: str, have_reranker: bool) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise click.BadParameter(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from "
                                 f"{', '.join(METHODS)}", param_hint="--methods")
    if "reranked" in methods and not have_reranker:
        raise click.BadParameter("'reranked' needs --rerank MODEL", param_hint="--methods")
    return methods


@click.command("eval")
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@db_option
@click.option("-c", "--collection", default=None, metavar="NAME",
              help="Collection for the corpus (default: beir_<folder name>).")
@click.option("--methods", default=None, metavar="LIST",
              help="Comma-separated: dense,bm25,hybrid,reranked (default: all that apply).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True, metavar="MODEL",
              help="Embedding model for the corpus and the queries.")
@click.option("--language", default=None, metavar="LANG",
              help="Language of the BM25 analyzer (ISO code or name, e.g. 'ar', 'german'); stored "
                   "with the collection and used for queries. Default: english.")
@click.option("--rerank", default=None, metavar="MODEL",
              help="Local cross-encoder folder (or bge:FOLDER) for the 'reranked' method.")
@click.option("--fusion", default=DEFAULT_FUSION, show_default=True, metavar="LIST",
              help="Comma-separated fusions for hybrid, one result row each: rrf[:K], "
                   "weighted[:W], dbsf[:W], convex[:W] (W = dense weight).")
@click.option("--split", default="test", show_default=True, help="qrels file: qrels/<split>.tsv.")
@click.option("--max-docs", type=click.IntRange(min=1), default=None,
              help="Use at most N documents (judged ones first).")
@click.option("--max-queries", type=click.IntRange(min=1), default=None,
              help="Use at most N judged queries.")
@click.option("--rebuild", is_flag=True, help="Reload the corpus even if the collection has it.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the corpus vector cache.")
@click.option("--save-json", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Also write the results as JSON to FILE.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@output_options
def evaluate(dataset_dir, db, collection, methods, model, language, rerank, fusion, split, max_docs, max_queries,
             rebuild, no_cache, save_json, quiet, fmt):
    """Evaluate dense, BM25, hybrid and reranked search on a BEIR-format folder
    (corpus.jsonl, queries.jsonl, qrels/test.tsv): nDCG@10, recall@100 and latency per query.

    The corpus is loaded into a collection of DB once and reused by later runs; its vectors are
    cached in ~/.cache/embedb (or $EMBEDB_CACHE_DIR).

    \b
    Example:
        embedb eval ./msmarco-5k --db bench.db
        embedb eval ./scifact --db bench.db --methods bm25,hybrid --max-queries 50 --json
        embedb eval ./msmarco-5k --db bench.db --methods hybrid --fusion rrf,rrf:10,dbsf,convex:0.7
        embedb eval ./arabic-set --db ar.db --language ar --model ./multilingual-e5-small
    """
    method_list = parse_methods(methods or "dense,bm25,hybrid" + (",reranked" if rerank else ""),
                                have_reranker=bool(rerank))
    fusions = parse_fusion_list(fusion)
    ds = load_beir(dataset_dir, split=split)
    if max_docs is not None or max_queries is not None:
        ds = subsample(ds, max_docs, max_queries)
    if not ds.corpus:
        raise ParamError(f"{dataset_dir}: the corpus is empty")
    name = collection or collection_name_for(dataset_dir)
    client = open_client(db, create=True)
    reload = rebuild or not corpus_is_loaded(client, name, ds, model, language)
    # a BM25-only run on a loaded corpus needs no embedding model at all
    ef = load_embedding(model) if reload or any(m != "bm25" for m in method_list) else None
    reranker = load_reranker(rerank) if rerank else None
    with progress(transient=False) if not quiet else _Silent() as bar:
        if reload:
            if client.has_collection(name):
                client.drop_collection(name)
            vectors = corpus_vectors(ds, ef, model, bar=bar, use_cache=not no_cache)
            layout = load_corpus(client, name, ds, vectors, model, ef.dim, bar=bar,
                                 language=language)
        else:
            ensure_loaded(client, name)
            layout = read_layout(client, name)
        rows = evaluate_methods(client, layout, ds, method_list, ef, reranker, bar=bar,
                                fusions=fusions)
    report = {"dataset": str(Path(dataset_dir)), "collection": name, "documents": len(ds.corpus),
              "model": model, "language": layout.language, "reranker": rerank, "fusion": fusions, "results": rows}
    if save_json:
        Path(save_json).write_text(json.dumps(to_jsonable(report), indent=2) + "\n", encoding="utf-8")
    if fmt == "json":
        click.echo(json.dumps(to_jsonable(report), indent=2))
    else:
        emit_rows(rows, fmt, columns=RESULT_COLUMNS,
                  title=f"{Path(dataset_dir).name}: {len(ds.corpus)} docs, {rows[0]['queries']} queries")


class _Silent:
    """A progress display that shows nothing (``--quiet``)."""

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
