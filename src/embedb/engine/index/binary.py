"""Binary vector indexes over packed bits (uint8, dim/8 bytes per row): BIN_FLAT and BIN_IVF_FLAT,
with HAMMING and JACCARD.

BIN_FLAT is exact (popcount kernels). BIN_IVF_FLAT clusters rows with k-means on the unpacked
bits (faiss), keeps each row's list number, and scores exactly the rows of the ``nprobe`` lists
nearest (in HAMMING) to each query; the same code serves both metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import topk
from .base import SearchRequest, VectorIndex, int_param, load_npy, save_npy
from .exact import exact_search
from .metrics import get_metric, to_key


class BinFlatIndex(VectorIndex):
    index_type = "BIN_FLAT"
    persistent = False

    def add(self, vectors) -> None:
        self.ntotal += len(vectors)

    def search(self, queries, vectors, req: SearchRequest):
        return exact_search(queries, vectors[: self.ntotal], self.metric_type, req.k,
                            allowed=req.allowed, pk_of=req.pk_of)

    def save(self, directory: Path, stem: str) -> list[str]:
        return []

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        self.ntotal = ntotal


def _nearest_lists(x: np.ndarray, centroids: np.ndarray, nprobe: int) -> np.ndarray:
    """The ``nprobe`` nearest centroids (HAMMING) of each packed row, in chunks of rows."""
    out = np.empty((len(x), nprobe), dtype=np.int64)
    step = 4096
    for s in range(0, len(x), step):
        d = get_metric("HAMMING").kernel(x[s:s + step], centroids)
        part = np.argpartition(d, nprobe - 1, axis=1)[:, :nprobe] if nprobe < d.shape[1] else \
            np.broadcast_to(np.arange(d.shape[1]), d.shape)
        out[s:s + step] = part
    return out


class BinIVFIndex(VectorIndex):
    index_type = "BIN_IVF_FLAT"
    DEFAULT_NLIST = 128
    DEFAULT_NPROBE = 8

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        return {"nlist": int_param(params, "nlist", cls.DEFAULT_NLIST, 1, 65536, cls.index_type)}

    def __init__(self, metric_type: str, params: dict[str, Any], dim: int) -> None:
        super().__init__(metric_type, params, dim)
        self.centroids: np.ndarray | None = None        # (nlist, dim/8) uint8
        self.assign = np.zeros(0, dtype=np.int32)        # list number of each covered row

    def ready(self, num_rows: int) -> bool:
        return num_rows >= int(self.params["nlist"]) * 4

    def build(self, vectors) -> None:
        from .dense import faiss_module

        faiss = faiss_module()
        nlist = int(self.params["nlist"])
        train = np.asarray(vectors)
        if len(train) > nlist * 256:
            pick = np.random.default_rng(12345).choice(len(train), nlist * 256, replace=False)
            train = train[np.sort(pick)]
        bits = np.unpackbits(train, axis=1).astype(np.float32)
        km = faiss.Kmeans(bits.shape[1], nlist, niter=10, seed=1234)
        km.train(bits)
        self.centroids = np.packbits(km.centroids > 0.5, axis=1)
        self.assign = np.zeros(0, dtype=np.int32)
        self.ntotal = 0
        self.add(vectors)

    def add(self, vectors) -> None:
        if self.centroids is None:
            self.build(vectors)
            return
        if len(vectors):
            lists = _nearest_lists(np.asarray(vectors), self.centroids, 1)[:, 0].astype(np.int32)
            self.assign = np.concatenate([self.assign, lists])
        self.ntotal = len(self.assign)

    def search(self, queries, vectors, req: SearchRequest):
        nlist = len(self.centroids)
        nprobe = min(nlist, int_param(req.params, "nprobe", self.DEFAULT_NPROBE, 1, 65536,
                                      self.index_type))
        probes = _nearest_lists(queries, self.centroids, nprobe)            # (nq, nprobe)
        probe_matrix = np.zeros((len(queries), nlist), dtype=bool)
        np.put_along_axis(probe_matrix, probes, True, axis=1)
        in_probed = probe_matrix.any(axis=0)[self.assign]
        if req.allowed is not None:
            in_probed &= req.allowed[: self.ntotal]
        cand = np.flatnonzero(in_probed)                                    # union over queries
        if len(cand) == 0:
            return topk.select(np.zeros((len(queries), 0), np.float32), cand, req.k, req.pk_of)
        kernel = get_metric(self.metric_type).kernel
        step = max(1, (1 << 24) // max(1, len(queries) * vectors.shape[1]))
        parts = []
        for s in range(0, len(cand), step):
            rows = cand[s:s + step]
            keys = to_key(kernel(queries, vectors[rows]), self.metric_type).astype(np.float32)
            keys[~probe_matrix[:, self.assign[rows]]] = np.inf   # a query sees only its lists
            parts.append(topk.select(keys, rows.astype(np.int64), req.k, req.pk_of))
        return topk.merge(parts, req.k, req.pk_of)

    def save(self, directory: Path, stem: str) -> list[str]:
        save_npy(directory / f"{stem}.centroids.npy", self.centroids)
        save_npy(directory / f"{stem}.assign.npy", self.assign)
        return [f"{stem}.centroids.npy", f"{stem}.assign.npy"]

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        self.centroids = load_npy(directory / f"{stem}.centroids.npy")
        self.assign = load_npy(directory / f"{stem}.assign.npy")
        self.ntotal = len(self.assign)


BINARY_INDEXES: dict[str, type[VectorIndex]] = {
    "BIN_FLAT": BinFlatIndex,
    "BIN_IVF_FLAT": BinIVFIndex,
}
