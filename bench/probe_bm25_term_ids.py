"""Would the BM25 posting build gain by reusing ingest's token ids? (issue 15, BM25 indexing)

    .venv/bin/python bench/probe_bm25_term_ids.py [--n 100000] [--reps 7]

The first BM25 search after the inserts maps every stored token hash of the sparse column to a
posting term id (``fulltext._term_ids_of``). The analyzer already knew each token's id at ingest,
so ingest could keep a token id per stored entry beside the column and the build could map the
small vocabulary instead. This probe times, in one process, interleaved, on bench_fulltext's
corpus in 1,000-document batches (what bench/speed_bm25_ingest.py inserts):

* ``tf hash grid``: today's ingest term-frequency step (uint32 grid of hashes, rows sorted);
* ``tf hash|tok grid``: the same grid in uint64 carrying each entry's token id in the low word
  (what ingest would pay to keep the ids, counts not included);
* ``map hashes``: today's build step, every stored hash to its term id;
* ``map token ids``: the reuse: the vocabulary's used tokens to term ids (the same ids: sorted
  distinct hashes), then one gather per entry;
* ``verify``: ``hash(token id) == stored hash`` for every entry, the check that would make a kept
  id array safe whatever happened between ingest and build (failed inserts, threads, compaction).

The script asserts both mappings give the same term ids, and prints the net change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT / "bench"))

from bench_fulltext import synthetic_corpus  # noqa: E402
from embedb.engine import fulltext as ft  # noqa: E402
from embedb.text import build_analyzer  # noqa: E402

_PAD64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def tf_with_token_ids(known: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct hashes ascending and one token id of each, from a uint64 grid."""
    lengths = np.diff(offsets)
    n, width = len(lengths), int(lengths.max())
    cells = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    grid = np.full((n, width), _PAD64, dtype=np.uint64)
    flat = grid.reshape(-1)
    at = np.arange(len(ids), dtype=np.int64)
    at += np.repeat(cells[:-1] - offsets[:-1], lengths)
    packed = known[ids].astype(np.uint64)
    packed <<= np.uint64(32)
    packed |= ids.astype(np.uint64)
    flat[at] = packed
    grid.sort(axis=1)
    hashes = grid >> np.uint64(32)
    first = np.empty((n, width), dtype=bool)
    first[:, 0] = True
    np.not_equal(hashes[:, 1:], hashes[:, :-1], out=first[:, 1:])
    first &= grid != _PAD64
    kept = flat[np.flatnonzero(first)]
    return (kept >> np.uint64(32)).astype(np.int64), (kept & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def map_token_ids(known: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """Term ids as ``_term_ids_of`` assigns them on a fresh build (sorted distinct hashes), via the
    tokens in use."""
    used = np.zeros(len(known), dtype=bool)
    used[tok] = True
    u = np.flatnonzero(used)
    order = np.argsort(known[u], kind="stable")
    ids = ft.Postings(0).term_ids(known[u][order].tolist(), add=True)
    tok_term = np.full(len(known), -1, dtype=np.int32)
    tok_term[u[order]] = ids
    return tok_term[tok]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    docs, _ = synthetic_corpus(args.n)
    analyzer = build_analyzer(None)
    batches = []
    for a in range(0, args.n, 1000):
        toks, ids, offsets = analyzer.token_ids(docs[a:a + 1000])
        batches.append((ids, offsets))
    known = ft._token_list_hashes(toks)
    times: dict[str, list[float]] = {k: [] for k in
                                     ("tf hash grid", "tf hash|tok grid", "map hashes", "map token ids", "verify")}

    def timed(name: str, fn):
        t = time.perf_counter()
        out = fn()
        times[name].append(time.perf_counter() - t)
        return out

    for _ in range(args.reps):
        plain = timed("tf hash grid", lambda: [ft._term_frequencies(known[i], o) for i, o in batches])
        carried = timed("tf hash|tok grid", lambda: [tf_with_token_ids(known, i, o) for i, o in batches])
        keys = np.concatenate([p[1] for p in plain]).astype(np.int64)
        tok = np.concatenate([c[1] for c in carried])
        assert np.array_equal(keys, np.concatenate([c[0] for c in carried]))
        terms = timed("map hashes", lambda: ft._term_ids_of(ft.Postings(0), keys))
        reused = timed("map token ids", lambda: map_token_ids(known, tok))
        assert timed("verify", lambda: np.array_equal(known[tok], keys))
        assert np.array_equal(terms, reused)
    print(f"{args.n:,} documents, {len(keys):,} stored entries, {len(known):,} tokens; {args.reps} reps interleaved")
    print(f"{'step':18s} {'min s':>7s} {'median s':>9s}")
    for name, v in times.items():
        print(f"{name:18s} {min(v):7.4f} {np.median(v):9.4f}")
    for stat in (min, np.median):
        m = {k: float(stat(v)) for k, v in times.items()}
        ingest = m["tf hash|tok grid"] - m["tf hash grid"]
        build = m["map token ids"] - m["map hashes"]
        print(f"net ({stat.__name__}): ingest {ingest:+.4f} s, build {build:+.4f} s, "
              f"with the check {build + m['verify']:+.4f} s -> {ingest + build + m['verify']:+.4f} s "
              f"(without it {ingest + build:+.4f} s)")


if __name__ == "__main__":
    main()
