"""Dense float vector indexes: FLAT (exact), and faiss HNSW / IVF_FLAT / IVF_SQ8 / IVF_PQ /
AUTOINDEX (= HNSW).

COSINE is served as inner product over normalised copies (queries normalised too); L2 distances
are squared, as in Milvus. FLOAT16 / BFLOAT16 / INT8 vectors are converted to float32 for faiss.
Filters and tombstones reach faiss as an ``IDSelectorBitmap`` in the search parameters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..integrity import release_pages
from . import topk
from .base import SearchRequest, VectorIndex, int_param, load_npy, save_npy, write_atomic
from .exact import as_float32, exact_search
from .filtered import clumping, filtered_ef, graph_ef
from .metrics import larger_is_better, to_key
from .storage_view import GraphStorage, normalized_copy

_faiss = None


def faiss_module():
    """faiss, imported on first use (it is a core dependency, but heavy to import)."""
    global _faiss
    if _faiss is None:
        import faiss  # noqa: PLC0415

        _faiss = faiss
    return _faiss


def normalized(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.float32, copy=True)
    # np.linalg.norm(x, axis=1) computes exactly this, after a dozen Python-level checks (a
    # single query's search pays them every call)
    norms = np.sqrt(np.add.reduce(x * x, axis=1, keepdims=True))
    if len(norms) == 1:   # one query: a scalar test, not a boolean mask
        if norms[0, 0] == 0:
            norms[0, 0] = 1.0
    else:
        norms[norms == 0] = 1.0
    x /= norms
    return x


def raw_swig_ptr() -> Any:
    """The builtin that ``faiss.swig_ptr`` (a Python function) calls, when it is found: one
    Python frame less per pointer; else the wrapper itself."""
    wrapper = faiss_module().swig_ptr
    module = getattr(wrapper, "__globals__", {}).get("_swigfaiss")
    return getattr(module, "swig_ptr", wrapper)


def raw_search_c(cls: type) -> Any:
    """``cls.search_c`` as a function of ``(index, n, x, k, distances, labels, params)``: the
    SWIG builtin that faiss's generated Python method (``return _swigfaiss.<Class>_search(self,
    n, x, k, distances, labels, params)``) calls, when its code is exactly that (one Python
    frame less per search); else the method itself."""
    method = cls.search_c
    code = getattr(method, "__code__", None)
    module = getattr(method, "__globals__", {}).get("_swigfaiss")
    if code is not None and module is not None and code.co_argcount == 7 and \
            len(code.co_names) == 2 and code.co_names[0] == "_swigfaiss" and \
            code.co_names[1].endswith("_search"):
        raw = getattr(module, code.co_names[1], None)
        if raw is not None and callable(raw):
            return raw
    return method


def bitmap_selector(allowed: np.ndarray | None, bits: np.ndarray | None = None, rows: int = 0):
    """faiss IDSelectorBitmap over row numbers, with the packed bytes it borrows (keep both
    alive while the search runs). ``bits``: ``allowed`` already packed (little-endian), of
    which the selector reads rows ``[0, rows)`` (faiss asks only for ids it holds)."""
    faiss = faiss_module()
    if bits is None:
        bits = np.packbits(allowed, bitorder="little")
        rows = len(allowed)
    return faiss.IDSelectorBitmap((rows + 7) // 8, faiss.swig_ptr(bits)), bits


class FlatIndex(VectorIndex):
    """Exact search over the collection's own vectors; keeps only squared norms for L2/COSINE."""

    index_type = "FLAT"

    def __init__(self, metric_type: str, params: dict[str, Any], dim: int) -> None:
        super().__init__(metric_type, params, dim)
        self.sqnorms = np.zeros(0, dtype=np.float32)

    def add(self, vectors: np.ndarray) -> None:
        if self.metric_type in ("L2", "COSINE") and len(vectors):
            x = as_float32(vectors)
            self.sqnorms = np.concatenate([self.sqnorms, np.einsum("ij,ij->i", x, x)])
        self.ntotal += len(vectors)

    def search(self, queries, vectors, req: SearchRequest):
        norms = self.sqnorms if self.metric_type in ("L2", "COSINE") else None
        return exact_search(queries, vectors[: self.ntotal], self.metric_type, req.k,
                            allowed=req.allowed, sqnorms=norms, pk_of=req.pk_of)

    def save(self, directory: Path, stem: str) -> list[str]:
        name = f"{stem}.norms.npy"
        save_npy(directory / name, self.sqnorms)
        return [name]

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        self.sqnorms = load_npy(directory / f"{stem}.norms.npy").astype(np.float32, copy=False)
        if self.metric_type not in ("L2", "COSINE"):
            self.sqnorms = np.zeros(0, dtype=np.float32)
        self.ntotal = ntotal


class FaissIndex(VectorIndex):
    """Base of the faiss-backed ANN indexes."""

    def __init__(self, metric_type: str, params: dict[str, Any], dim: int) -> None:
        super().__init__(metric_type, params, dim)
        self.index = None

    @property
    def faiss_metric(self) -> int:
        faiss = faiss_module()
        return faiss.METRIC_L2 if self.metric_type == "L2" else faiss.METRIC_INNER_PRODUCT

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = as_float32(x)
        if self.metric_type == "COSINE":
            return normalized(x)
        return np.ascontiguousarray(x, dtype=np.float32)

    def _prepare_stored(self, x: np.ndarray) -> np.ndarray:
        """``_prepare`` of a column's rows at load: the same values; under COSINE built block by
        block into one array (no whole-matrix temporaries on the way to the first result)."""
        if self.metric_type == "COSINE":
            return normalized_copy(x, as_float32)
        return self._prepare(x)

    def _new_index(self, train: np.ndarray):
        raise NotImplementedError

    def build(self, vectors) -> None:
        x = self._prepare(vectors)
        self.index = self._new_index(x)
        self.index.add(x)
        self.ntotal = self.index.ntotal

    def add(self, vectors) -> None:
        if self.index is None:
            self.build(vectors)
            return
        if len(vectors):
            self.index.add(self._prepare(vectors))
        self.ntotal = self.index.ntotal

    def _search_parameters(self, req: SearchRequest, selectivity: float):
        raise NotImplementedError

    def _filtered_parameters(self, req: SearchRequest):
        """Search parameters with the bitmap selector of a mask that was counted and packed
        once (``req.allowed_count``/``allowed_bits``), kept in ``req.allowed_cache`` (the
        mask's own dict) per (index, rows, k, params): faiss only reads them, so concurrent
        searches share them."""
        selectivity = max(req.allowed_count / max(1, len(req.allowed_bits) * 8), 1e-9)
        cache = req.allowed_cache
        try:
            # values with their types: True == 1 hashes alike, but only 1 is valid (int_param)
            key = (id(self), self.ntotal, req.k,
                   tuple(sorted((n, type(v).__name__, v) for n, v in req.params.items())))
            hit = None if cache is None else cache.get(key)
        except TypeError:   # an unhashable parameter value: not kept
            key = hit = cache = None
        if hit is not None and hit[0] is self:
            return hit[1]
        sel, bits = bitmap_selector(None, req.allowed_bits, self.ntotal)
        params = self._search_parameters(req, selectivity)
        params.sel = sel
        # faiss reads the selector and its bytes during the search: they live as long as the
        # parameters, also when the mask's cache cannot keep them (an unhashable parameter)
        params.embedb_keep_alive = (sel, bits)
        if cache is not None:
            if len(cache) >= 16:
                cache.clear()
            cache[key] = (self, params, sel, bits)
        return params

    def stored_vectors(self) -> np.ndarray | None:
        """The vectors the index scores, rows ``[0, ntotal)`` (normalised for COSINE), read in
        place from its flat storage (HNSW); None when it has none (IVF). A view of faiss's
        memory: valid until the next ``add``, so use it under the index's lock."""
        storage = getattr(self.index, "storage", None) if self.index is not None else None
        if storage is None or self.ntotal == 0:
            return None
        faiss = faiss_module()
        flat = faiss.downcast_index(storage)
        get_xb = getattr(flat, "get_xb", None)
        if get_xb is None or flat.ntotal < self.ntotal or flat.d != self.dim or \
                getattr(flat, "code_size", 4 * self.dim) != 4 * self.dim:
            return None
        return faiss.rev_swig_ptr(get_xb(), self.ntotal * self.dim).reshape(self.ntotal, self.dim)

    def search(self, queries, vectors, req: SearchRequest):
        if type(self)._refine is FaissIndex._refine:
            if req.allowed is None:
                return self._search_all(queries, req)
            if req.allowed_bits is not None:   # a cached filter mask: its kept parameters
                return self._search_all(queries, req, self._filtered_parameters(req))
        q = self._prepare(queries)
        selectivity = 1.0
        sel = bits = None
        if req.allowed is not None and req.allowed_bits is not None:
            params = self._filtered_parameters(req)   # made once per filter mask
        else:
            if req.allowed is not None:
                selectivity = max(float(req.allowed.sum()) / max(1, self.ntotal), 1e-9)
                sel, bits = bitmap_selector(req.allowed[: self.ntotal])
            params = self._search_parameters(req, selectivity)
            if sel is not None:
                params.sel = sel
        k = min(req.k, max(1, self.ntotal))
        dist, rows = self.index.search(q, k, params=params)
        del sel, bits
        rows = rows.astype(np.int64, copy=False)
        dist = self._refine(queries, vectors, rows, dist)
        keys = to_key(dist, self.metric_type).astype(np.float32, copy=False)
        out = topk.select(keys, rows, req.k, req.pk_of)   # it empties rows -1 itself
        return out

    def _search_all(self, queries, req: SearchRequest, params=None):
        """``search`` with no refinement (and no filter, or ``params`` carrying its selector):
        the same faiss call and top-k, minus the Python of faiss's ``search`` wrapper (its
        checks hold here: ``_prepare`` gives C-contiguous float32 of the index's dim), which a
        single query's search pays in full."""
        faiss = faiss_module()
        q = self._prepare(queries)
        if params is None:
            params = self._search_parameters(req, 1.0)
        n, k = len(q), min(req.k, max(1, self.ntotal))
        dist = np.empty((n, k), dtype=np.float32)
        rows = np.empty((n, k), dtype=np.int64)
        self.index.search_c(n, faiss.swig_ptr(q), k, faiss.swig_ptr(dist), faiss.swig_ptr(rows),
                            params)
        return topk.select(to_key(dist, self.metric_type), rows, req.k, req.pk_of)

    def _refine(self, queries, vectors, rows, dist):
        return dist

    def save(self, directory: Path, stem: str) -> list[str]:
        faiss = faiss_module()
        name = f"{stem}.faiss"
        write_atomic(directory / name, lambda p: faiss.write_index(self.index, p))
        return [name]

    def load(self, directory: Path, stem: str, ntotal: int) -> None:
        faiss = faiss_module()
        self.index = faiss.read_index(str(directory / f"{stem}.faiss"))
        self.ntotal = self.index.ntotal


class HNSWIndex(FaissIndex):
    index_type = "HNSW"
    DEFAULT_M = 16
    DEFAULT_EF_CONSTRUCTION = 200
    DEFAULT_EF = 64

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        return {
            "M": int_param(params, "M", cls.DEFAULT_M, 2, 2048, cls.index_type),
            "efConstruction": int_param(params, "efConstruction", cls.DEFAULT_EF_CONSTRUCTION, 1,
                                        1 << 31, cls.index_type),
        }

    def _new_index(self, train):
        faiss = faiss_module()
        index = faiss.IndexHNSWFlat(self.dim, int(self.params["M"]), self.faiss_metric)
        index.hnsw.efConstruction = int(self.params["efConstruction"])
        self._storage = GraphStorage(index)
        self._storage.own()   # a storage Python frees once a view replaces it
        return index

    # vectors stored once: the file holds the graph, the storage views the column -------------
    # (storage_view.py; the graph's storage is a view of float32 L2/IP columns, else one
    # converted copy in memory; ``_storage`` is None only before the first build/load)
    _storage = None
    loads_from_columns = True   # load() wants the column's vectors

    def _shares_column(self, vectors) -> bool:
        return self.metric_type != "COSINE" and vectors.dtype == np.float32 and \
            vectors.flags.c_contiguous

    def build(self, vectors) -> None:
        super().build(vectors)   # faiss adds into the storage _new_index gave the graph
        if self._shares_column(vectors):   # drop that copy: search the column itself
            self._storage.use_view(vectors[: self.ntotal])

    def add(self, vectors) -> None:
        if self._storage is not None and len(vectors):
            self._storage.make_owned()   # faiss appends to its storage: never to a view
        super().add(vectors)

    def search(self, queries, vectors, req: SearchRequest):
        storage = self._storage
        if storage is not None and self.metric_type != "COSINE":
            storage.follow(vectors, self.ntotal)   # the column's buffer, not a copy of it
        return super().search(queries, vectors, req)

    def save(self, directory: Path, stem: str) -> list[str]:
        faiss = faiss_module()
        name = f"{stem}.hnsw"
        write_atomic(directory / name,
                     lambda p: faiss.write_index(self.index, p, faiss.IO_FLAG_SKIP_STORAGE))
        (directory / f"{stem}.faiss").unlink(missing_ok=True)   # the format before: graph + vectors
        return [name]

    def load(self, directory: Path, stem: str, ntotal: int, vectors=None) -> None:
        faiss = faiss_module()
        path = directory / f"{stem}.hnsw"
        if not path.exists():   # written before vectors were stored once: graph + its own copy
            super().load(directory, stem, ntotal)
            self._storage = GraphStorage(self.index)
            return
        graph = faiss.read_index(str(path))
        if graph.storage is not None or graph.d != self.dim or graph.ntotal != ntotal or \
                graph.metric_type != self.faiss_metric or not isinstance(graph, faiss.IndexHNSW):
            raise ValueError(f"{path} does not hold the HNSW graph of {ntotal} rows it should")
        if vectors is None or len(vectors) < ntotal:
            raise ValueError(f"{path} covers {ntotal} rows; the column has fewer")
        self.index = graph
        self.ntotal = ntotal
        self._storage = GraphStorage(graph)
        prepared = self._prepare_stored(vectors[:ntotal])
        self._storage.use_view(prepared)
        if prepared.base is not vectors.base:   # converted (COSINE, float16...): the column's
            release_pages(vectors)              # pages are read once here, not needed after

    def filtered_plan(self, info: Any, total: int, k: int, params: dict | None) -> int | None:
        """The ef of the graph search for a filter mask (``filter_cache.Survivors`` of
        ``total`` rows), or None when it is searched exactly (``filtered.graph_ef``). Kept in
        the mask's ``derived`` dict per (index, rows, k, ef). Call under the entry's lock (it
        reads the graph's links)."""
        cache = info.derived   # one mask's: its row count is fixed
        try:   # keyed by the caller's raw ef: no parsing on a hit
            key = (id(self), self.ntotal, k, params.get("ef") if params else None, "plan")
            hit = cache.get(key)
        except TypeError:   # an unhashable ef: the graph search words the error
            key = hit = None
        if hit is not None and hit[0] is self:
            return hit[1]
        from ...errors import ParamError

        try:
            ef = int_param(params or {}, "ef", max(self.DEFAULT_EF, k), 1, 32768, self.index_type)
        except ParamError:   # the graph search words it; plan with the default
            ef = max(self.DEFAULT_EF, k)
        ef = max(ef, k)
        ckey = (id(self), self.ntotal, "clumping")
        clump = cache.get(ckey)
        if clump is None or clump[0] is not self:
            clump = (self, self._clumping(info))
            cache[ckey] = clump
        out = graph_ef(info.count, total, self.dim, ef, k, clump[1], self.metric_type)
        if key is not None:
            cache[key] = (self, out)
        return out

    def follow_column(self, vectors) -> None:
        """``search``'s first step under L2/IP: the graph's storage views the column's
        current buffer."""
        if self._storage is not None:
            self._storage.follow(vectors, self.ntotal)

    def masked_lane(self, k: int, params: dict, info: Any) -> tuple | None:
        """What ``filtered.search_masked_one`` keeps per (mask, index, k, raw ef) once the plan
        is the graph: ``(self, ntotal, faiss parameters with the mask's selector, cosine,
        follows the column, larger is better, swig_ptr)``. faiss only points at the selector
        and its bytes: the parameters keep them alive (``embedb_keep_alive``). Call under
        the entry's lock (``filtered_plan`` has run: its ef is read back)."""
        req = SearchRequest(k, info.mask, params, None, info.count, info.bits, info.derived)
        sel, bits = bitmap_selector(None, info.bits, self.ntotal)
        fparams = self._search_parameters(req, max(info.count / max(1, len(info.bits) * 8),
                                                   1e-9))
        fparams.sel = sel
        fparams.embedb_keep_alive = (sel, bits)
        cosine = self.metric_type == "COSINE"
        return (self, self.ntotal, fparams, cosine, not cosine and self._storage is not None,
                larger_is_better(self.metric_type), raw_swig_ptr())

    def _clumping(self, info: Any) -> float:
        """``filtered.clumping`` of a mask's rows on this graph (rows the graph covers)."""
        faiss = faiss_module()
        hnsw = self.index.hnsw
        nt = self.ntotal
        rows = info.rows
        rows = rows[:int(np.searchsorted(rows, nt))]
        neighbors = faiss.rev_swig_ptr(hnsw.neighbors.data(), hnsw.neighbors.size())
        offsets = faiss.rev_swig_ptr(hnsw.offsets.data(), hnsw.offsets.size())
        return clumping(neighbors, offsets, hnsw.nb_neighbors(0), info.mask, rows, nt)

    def _search_parameters(self, req: SearchRequest, selectivity: float):
        faiss = faiss_module()
        ef = int_param(req.params, "ef", max(self.DEFAULT_EF, req.k), 1, 32768, self.index_type)
        ef = max(ef, req.k)
        if selectivity < 1.0:
            # the ef filtered_plan chose for this mask (clumping included), else by selectivity
            cache = req.allowed_cache
            hit = None if cache is None else \
                cache.get((id(self), self.ntotal, req.k, req.params.get("ef"), "plan"))
            ef = hit[1] if hit is not None and hit[0] is self and hit[1] is not None else \
                filtered_ef(ef, req.k, selectivity)
        if req.allowed is not None:   # the caller sets a selector on it: a fresh object
            return faiss.SearchParametersHNSW(efSearch=ef)
        # unfiltered: one read-only parameter object per ef (making one costs several us)
        cache = self.__dict__.setdefault("_params_by_ef", {})
        params = cache.get(ef)
        if params is None:
            params = cache[ef] = faiss.SearchParametersHNSW(efSearch=ef)
        return params


class AutoIndex(HNSWIndex):
    """AUTOINDEX: an HNSW with parameters chosen for recall >= 0.95 at the default ef."""

    index_type = "AUTOINDEX"

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        out = HNSWIndex.validate(params, dim)
        return out


class IVFIndex(FaissIndex):
    index_type = "IVF_FLAT"
    DEFAULT_NLIST = 128
    DEFAULT_NPROBE = 8   # the Milvus server's default
    FILTERED_CANDIDATES = 4000

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        return {"nlist": int_param(params, "nlist", cls.DEFAULT_NLIST, 1, 65536, cls.index_type)}

    def min_rows(self) -> int:
        # enough rows for k-means to place every centroid on data
        return int(self.params["nlist"]) * 4

    def ready(self, num_rows: int) -> bool:
        return num_rows >= self.min_rows()

    def _quantizer(self):
        faiss = faiss_module()
        return faiss.IndexFlat(self.dim, self.faiss_metric)

    def _make(self, quantizer):
        faiss = faiss_module()
        return faiss.IndexIVFFlat(quantizer, self.dim, int(self.params["nlist"]), self.faiss_metric)

    def _new_index(self, train):
        quantizer = self._quantizer()
        index = self._make(quantizer)
        self._quantizer = quantizer   # the IVF index borrows its quantizer
        nlist = int(self.params["nlist"])
        cap = nlist * 256
        if len(train) > cap:
            pick = np.random.default_rng(12345).choice(len(train), cap, replace=False)
            train = train[np.sort(pick)]
        index.train(train)
        return index

    def _search_parameters(self, req: SearchRequest, selectivity: float):
        faiss = faiss_module()
        nlist = int(self.params["nlist"])
        nprobe = int_param(req.params, "nprobe", min(self.DEFAULT_NPROBE, nlist), 1, 65536,
                           self.index_type)
        if selectivity < 1.0:
            # probe enough lists to meet FILTERED_CANDIDATES admissible rows on average: a
            # filter thins every list, and the nearest admissible rows spread over more lists
            admissible = max(1.0, selectivity * self.ntotal)
            nprobe = max(nprobe, int(math.ceil(self.FILTERED_CANDIDATES * nlist / admissible)))
        return faiss.SearchParametersIVF(nprobe=min(nprobe, nlist))

    # IVF_FLAT's lists hold a float32 copy of every row: the files keep the trained centroids
    # (``{stem}.ivf``) and each row's list (``{stem}.lists.npy``, int32), and load() puts the
    # column's rows back into their lists in row order (the same lists, in the same order, as
    # before; no assignment pass). SQ8 / PQ codes are small: kept whole.
    loads_from_columns = True

    def save(self, directory: Path, stem: str) -> list[str]:
        faiss = faiss_module()
        name, lists = f"{stem}.ivf", f"{stem}.lists.npy"
        empty = self._make(self.index.quantizer)   # trained centroids, no rows
        write_atomic(directory / name, lambda p: faiss.write_index(empty, p))
        save_npy(directory / lists, self._list_of_rows())
        (directory / f"{stem}.faiss").unlink(missing_ok=True)   # the format before: with rows
        return [name, lists]

    def _list_of_rows(self) -> np.ndarray:
        faiss = faiss_module()
        invlists = self.index.invlists
        out = np.full(self.ntotal, -1, dtype=np.int32)
        for lst in range(self.index.nlist):
            size = invlists.list_size(lst)
            if size:
                out[faiss.rev_swig_ptr(invlists.get_ids(lst), size)] = lst
        return out

    def load(self, directory: Path, stem: str, ntotal: int, vectors=None) -> None:
        faiss = faiss_module()
        path = directory / f"{stem}.ivf"
        if not path.exists():   # written before vectors were stored once: centroids + rows
            super().load(directory, stem, ntotal)
            return
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIVFFlat) or index.ntotal != 0 or \
                index.d != self.dim or index.metric_type != self.faiss_metric or \
                index.nlist != int(self.params["nlist"]) or not index.is_trained:
            raise ValueError(f"{path} does not hold the trained {self.index_type} it should")
        if vectors is None or len(vectors) < ntotal:
            raise ValueError(f"{path} covers {ntotal} rows; the column has fewer")
        lists_path = directory / f"{stem}.lists.npy"
        lists = load_npy(lists_path) if lists_path.exists() else None
        if lists is not None and (lists.shape != (ntotal,) or lists.dtype != np.int32 or
                                  (ntotal and not 0 <= int(lists.min()) <= int(lists.max()) < index.nlist)):
            raise ValueError(f"{lists_path} does not hold the list of each of {ntotal} rows")
        if ntotal:
            prepared = self._prepare_stored(vectors[:ntotal])
            if lists is None:   # assign the rows again (the quantizer gives the same lists)
                index.add(prepared)
            else:
                assign = lists.astype(np.int64)
                index.add_core(ntotal, faiss.swig_ptr(prepared), None, faiss.swig_ptr(assign))
            if prepared.base is not vectors.base:
                release_pages(vectors)
        self.index = index
        self.ntotal = index.ntotal


class IVFSQ8Index(IVFIndex):
    index_type = "IVF_SQ8"
    loads_from_columns = False   # its codes are a quarter of the vectors: saved whole

    save = FaissIndex.save
    load = FaissIndex.load

    def _make(self, quantizer):
        faiss = faiss_module()
        return faiss.IndexIVFScalarQuantizer(quantizer, self.dim, int(self.params["nlist"]),
                                             faiss.ScalarQuantizer.QT_8bit, self.faiss_metric)


class IVFPQIndex(IVFIndex):
    """IVF_PQ. Candidates are re-ranked exactly against the stored vectors (``refine_k`` times
    the limit, default 4), which keeps recall high at PQ's memory cost."""

    index_type = "IVF_PQ"
    loads_from_columns = False   # compressed codes: saved whole

    save = FaissIndex.save
    load = FaissIndex.load
    DEFAULT_REFINE_K = 4

    @classmethod
    def validate(cls, params: dict, dim: int) -> dict:
        from ...errors import ParamError

        out = IVFIndex.validate.__func__(cls, params, dim)
        default_m = max(d for d in range(1, max(1, dim // 4) + 1) if dim % d == 0)
        m = int_param(params, "m", default_m, 1, dim, cls.index_type)
        if dim % m:
            raise ParamError(f"IVF_PQ: m must divide the vector dim {dim}, got m={m}")
        out["m"] = m
        out["nbits"] = int_param(params, "nbits", 8, 1, 16, cls.index_type)
        return out

    def min_rows(self) -> int:
        return max(int(self.params["nlist"]) * 4, 1 << int(self.params["nbits"]))

    def _make(self, quantizer):
        faiss = faiss_module()
        return faiss.IndexIVFPQ(quantizer, self.dim, int(self.params["nlist"]),
                                int(self.params["m"]), int(self.params["nbits"]), self.faiss_metric)

    def search(self, queries, vectors, req: SearchRequest):
        factor = int_param(req.params, "refine_k", self.DEFAULT_REFINE_K, 1, 1024, self.index_type)
        inner = SearchRequest(min(req.k * factor, 16384 * 4), req.allowed, req.params, req.pk_of)
        rows, _ = super().search(queries, vectors, inner)
        return self._exact_rerank(queries, vectors, rows, req)

    def _exact_rerank(self, queries, vectors, rows, req: SearchRequest):
        q = as_float32(queries)
        safe = np.where(rows < 0, 0, rows)
        x = as_float32(vectors[safe.ravel()]).reshape(rows.shape + (-1,))
        if self.metric_type == "L2":
            dist = ((x - q[:, None, :]) ** 2).sum(-1)
        else:
            dist = np.einsum("qkd,qd->qk", x, q)
            if self.metric_type == "COSINE":
                xn = np.linalg.norm(x, axis=-1)
                qn = np.linalg.norm(q, axis=-1)[:, None]
                dist = dist / np.where(xn == 0, 1, xn) / np.where(qn == 0, 1, qn)
        keys = to_key(dist, self.metric_type).astype(np.float32)
        keys[rows < 0] = np.inf
        return topk.select(keys, rows, req.k, req.pk_of)


DENSE_INDEXES: dict[str, type[VectorIndex]] = {
    "FLAT": FlatIndex,
    "HNSW": HNSWIndex,
    "AUTOINDEX": AutoIndex,
    "IVF_FLAT": IVFIndex,
    "IVF_SQ8": IVFSQ8Index,
    "IVF_PQ": IVFPQIndex,
}


def dense_distances_from_keys(keys: np.ndarray, metric_type: str) -> np.ndarray:
    return -keys if larger_is_better(metric_type) else keys
