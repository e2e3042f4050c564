"""Ingest throughput of a collection that embeds its own text (a TEXTEMBEDDING function) beside
embedding by hand with the same model and inserting the vectors, side by side in one run.

Both sides insert the same msmarco-5k passages in batches of ``--batch`` rows into a fresh file
database with the same schema (VARCHAR text + BM25 + 384-d COSINE vector), the model already
loaded (it is shared per process, so both sides use the same object). Runs alternate
(by hand, function, by hand, function...) so a shared machine's noise hits both alike; the
best of ``--reps`` is reported. The function must not be slower.

    .venv/bin/python bench/bench_textembedding.py [--docs 1000] [--batch 250] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "msmarco-5k"


def passages(n: int) -> list[str]:
    out = []
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            out.append(((doc.get("title") or "") + " " + doc.get("text", "")).strip())
            if len(out) >= n:
                break
    return out


def make(client, name: str, with_function: bool) -> None:
    from embedb import DataType, Function, FunctionType

    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    s.add_field("text", DataType.VARCHAR, max_length=8000, enable_analyzer=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=384)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    if with_function:
        s.add_function(Function("embed", FunctionType.TEXTEMBEDDING, ["text"], ["vector"],
                                params={"provider": "local"}))
    idx = client.prepare_index_params()
    idx.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    idx.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=s, index_params=idx)


def run(texts: list[str], batch: int, with_function: bool, ef) -> float:
    from embedb import MilvusClient

    with tempfile.TemporaryDirectory() as tmp:
        client = MilvusClient(str(Path(tmp) / "b.db"))
        make(client, "c", with_function)
        t0 = time.perf_counter()
        for start in range(0, len(texts), batch):
            part = texts[start:start + batch]
            if with_function:
                client.insert("c", [{"text": t} for t in part])
            else:
                vectors = ef.encode_documents(part)
                client.insert("c", [{"text": t, "vector": v} for t, v in zip(part, vectors)])
        client.flush("c")
        elapsed = time.perf_counter() - t0
        client.close()
    return len(texts) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    from embedb import Function, FunctionType
    from embedb.functions.embedding import model_for

    texts = passages(args.docs)
    # the model the function uses, loaded once; the by-hand side calls the same object
    ef = model_for(Function("embed", FunctionType.TEXTEMBEDDING, ["text"], ["vector"],
                            params={"provider": "local"}))
    ef.encode_documents(texts[:8])   # warm-up
    by_hand, in_db = [], []
    for _ in range(args.reps):
        by_hand.append(run(texts, args.batch, False, ef))
        in_db.append(run(texts, args.batch, True, ef))
    print(f"{len(texts)} msmarco passages, batches of {args.batch}, best of {args.reps}")
    print(f"{'':34} {'rows/s':>8}")
    print(f"{'embed by hand, then insert':34} {max(by_hand):8.1f}")
    print(f"{'TEXTEMBEDDING function (text only)':34} {max(in_db):8.1f}")
    print(f"function / by hand: {max(in_db) / max(by_hand):.2f}x")


if __name__ == "__main__":
    main()
