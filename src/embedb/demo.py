"""The embedb demo: ``python -m embedb.demo [--docs N] [--queries N]``.

1. Runs the three seed examples of the PyMilvus model article with ``pymilvus`` replaced by
   ``embedb`` (each in a subprocess, in a temporary folder). The Jina reranker example needs an
   API key and network; it is skipped, with the reason, unless ``JINAAI_API_KEY`` is set.
2. Builds a collection from msmarco-5k with dense all-MiniLM-L6-v2 vectors and built-in BM25,
   answers a few real queries with dense, BM25 and hybrid search, and prints nDCG@10, recall@100
   and latency for each method.

The collection embeds its own text (a TEXTEMBEDDING function with the local MiniLM model), so
every run embeds the corpus (about two minutes on two cores); ``--docs N`` makes it shorter. Data: ``$EMBEDB_DATA_DIR`` or ``../shared/data/msmarco-5k`` beside the
repository; seed examples: ``$EMBEDB_SEED_EXAMPLES`` or ``../shared/seed-examples``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
JINA_KEY_ENV = "JINAAI_API_KEY"
SAMPLE_QUERIES = 3


def _shared_path(env: str, *parts: str) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else REPO_ROOT.parent.joinpath("shared", *parts)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)  # long lines stay whole in logs


# -- seed examples -------------------------------------------------------------------------------

def _clip(output: str, head: int = 6, tail: int = 3, width: int = 150) -> str:
    """The first and last lines of an example's output, indented."""
    lines = [ln if len(ln) <= width else ln[: width - 1] + "…" for ln in output.rstrip().splitlines()]
    if len(lines) > head + tail + 1:
        lines = lines[:head] + [f"… ({len(lines) - head - tail} lines)"] + lines[-tail:]
    return "\n".join("    " + ln for ln in lines)


def run_seed_examples(console, folder: Path) -> bool:
    """Run each ``example*.py`` with pymilvus replaced by embedb; True when none failed."""
    console.rule("[bold]1. The seed examples, with pymilvus replaced by embedb")
    scripts = sorted(folder.glob("example*.py")) if folder.is_dir() else []
    if not scripts:
        console.print(f"[yellow]no seed examples found in {folder} (set EMBEDB_SEED_EXAMPLES)")
        return True
    ok = True
    with tempfile.TemporaryDirectory(prefix="embedb-seed-") as tmp:
        for script in scripts:
            source = script.read_text(encoding="utf-8").replace("pymilvus", "embedb")
            if "jina" in script.name.lower():
                key = os.environ.get(JINA_KEY_ENV)
                if not key:
                    console.print(f"[bold]{script.name}[/]: [yellow]skipped[/] — the Jina reranker is "
                                  f"a hosted API: it needs an API key and network access. Set "
                                  f"{JINA_KEY_ENV} to run it.")
                    continue
                source = source.replace('"<YOUR_JINA_API_KEY>"', repr(key))
            target = Path(tmp) / script.name
            target.write_text(source, encoding="utf-8")
            t0 = time.perf_counter()
            with console.status(f"running {script.name}…"):
                proc = subprocess.run([sys.executable, str(target)], cwd=tmp, capture_output=True,
                                      text=True, timeout=600)
            took = time.perf_counter() - t0
            if proc.returncode == 0:
                console.print(f"[bold]{script.name}[/]: [green]ok[/] ({took:.1f} s)")
                console.print(_clip(proc.stdout), markup=False)
            else:
                ok = False
                console.print(f"[bold]{script.name}[/]: [red]failed[/] (exit {proc.returncode})")
                console.print(_clip(proc.stderr or proc.stdout), markup=False)
    return ok


# -- msmarco -------------------------------------------------------------------------------------

def _show_sample_queries(console, client, layout, ds, ef) -> None:
    from embedb.cli.search import search_texts, snippet

    for qid, text in list(ds.judged_queries().items())[:SAMPLE_QUERIES]:
        console.print(f"\n[bold]query:[/] {text}")
        for mode in ("dense", "bm25", "hybrid"):
            hits = search_texts(client, layout, [text], mode, ef, limit=1)[0]
            if not hits:
                console.print(f"  {mode:>6}: (no hit)")
                continue
            hit = hits[0]
            mark = "[green]relevant[/]" if ds.qrels[qid].get(hit["id"], 0) > 0 else "[dim]not judged relevant[/]"
            console.print(f"  {mode:>6}: {mark} {hit['distance']:.3f}  ", end="")
            console.print(snippet(str(hit["entity"].get(layout.text, "")), 110), markup=False)


def run_msmarco(console, data_dir: Path, docs: int | None, queries: int | None,
                db: str | None) -> list[dict]:
    from embedb import MilvusClient
    from embedb.cli.benchmark import evaluate_methods, load_corpus
    from embedb.cli.layout import embedding_dim
    from embedb.cli.models import DEFAULT_MODEL
    from embedb.cli.output import emit_rows, progress
    from embedb.eval import load_beir, subsample

    console.rule("[bold]2. msmarco-5k: a collection that embeds its own text (TEXTEMBEDDING) "
                 "+ built-in BM25, hybrid search")
    if not (data_dir / "corpus.jsonl").is_file():
        raise SystemExit(f"error: msmarco-5k not found at {data_dir} (set EMBEDB_DATA_DIR to a BEIR "
                         "folder with corpus.jsonl, queries.jsonl and qrels/test.tsv)")
    ds = load_beir(data_dir)
    if docs is not None or queries is not None:
        ds = subsample(ds, docs, queries)
    console.print(f"{len(ds.corpus)} documents, {len(ds.judged_queries())} judged queries "
                  f"(from {data_dir})")
    with tempfile.TemporaryDirectory(prefix="embedb-demo-") as tmp:
        path = db or str(Path(tmp) / "demo.db")
        client = MilvusClient(path)
        try:
            name = "msmarco"
            if client.has_collection(name):
                client.drop_collection(name)
            with progress() as bar:   # text only: the collection's function embeds it
                layout = load_corpus(client, name, ds, None, DEFAULT_MODEL,
                                     embedding_dim(DEFAULT_MODEL), bar=bar)
            _show_sample_queries(console, client, layout, ds, None)
            console.print()
            with progress() as bar:
                rows = evaluate_methods(client, layout, ds, ("dense", "bm25", "hybrid"), None,
                                        bar=bar)
        finally:
            client.close()
    emit_rows(rows, "table", columns=["method", "ndcg@10", "recall@100", "mean_ms", "p95_ms", "queries"],
              title=f"msmarco-5k: {len(ds.corpus)} docs, {rows[0]['queries']} queries "
                    "(latency per query, query embedding included)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedb.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=None, help="use at most N documents (judged first)")
    parser.add_argument("--queries", type=int, default=None, help="use at most N judged queries")
    parser.add_argument("--db", default=None, help="keep the demo database at this path")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed examples")
    parser.add_argument("--no-cache", action="store_true", help="(no effect: the demo's collection embeds its own text with a TEXTEMBEDDING function)")
    args = parser.parse_args(argv)
    for flag in ("docs", "queries"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    console = _console()
    t0 = time.perf_counter()
    ok = True
    if not args.no_seed:
        ok = run_seed_examples(console, _shared_path("EMBEDB_SEED_EXAMPLES", "seed-examples"))
    run_msmarco(console, _shared_path("EMBEDB_DATA_DIR", "data", "msmarco-5k"), args.docs,
                args.queries, args.db)
    console.print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s"
                  + ("" if ok else " [red](a seed example failed)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
