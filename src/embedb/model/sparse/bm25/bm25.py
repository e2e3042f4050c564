"""BM25EmbeddingFunction: Okapi BM25 (rank_bm25's ``BM25Okapi``) as sparse vectors, vectorised.

``encode_queries(q) @ encode_documents(d).T`` equals ``BM25Okapi(tokenized_corpus).get_scores``:
documents carry ``tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))`` per term, queries carry
``idf(t)`` per query token (a repeated token counts again), with
``idf(t) = ln(N − df + 0.5) − ln(df + 0.5)`` and negative idfs replaced by
``epsilon · mean(idf)``.

Statistics (N, total length, df per term) are kept as counts, so ``partial_fit`` adds documents
without a refit and without holding the corpus. ``save`` writes JSON readable by pymilvus.model's
``load`` too, plus the df counts and the analyzer configuration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence

import numpy as np
from scipy.sparse import csr_array

from embedb.errors import ParamError
from embedb.model.base import BaseEmbeddingFunction
from embedb.text import Analyzer, TokenBatch, build_analyzer
from embedb.text.analyzer import batch_from_token_lists

_FORMAT = "embedb.bm25"
_VERSION = 2


class BM25EmbeddingFunction(BaseEmbeddingFunction):
    """BM25 sparse vectors fitted on your corpus.

    ``analyzer``: an :class:`embedb.text.Analyzer`, Milvus-style ``analyzer_params`` (dict), a
    language code (``"en"``, ``"de"``...) or any callable ``text -> list[str]``; default: the
    English analyzer (Unicode words, lowercase, Snowball stop words and stemmer).
    ``corpus``: fit on it right away. ``num_workers`` is accepted for pymilvus compatibility and
    has no effect (tokenisation is already a C-speed batch).
    """

    def __init__(
        self,
        analyzer: Any = None,
        corpus: Optional[List[str]] = None,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        num_workers: int = 1,
    ) -> None:
        self.k1, self.b, self.epsilon = _check_params(k1, b, epsilon)
        self.num_workers = num_workers
        self.analyzer = _resolve_analyzer(analyzer)
        self._clear()
        if corpus is not None:
            self.fit(corpus)

    # Statistics ---------------------------------------------------------------------------
    def _clear(self) -> None:
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(0, dtype=np.int64)
        self.corpus_size = 0
        self.total_length = 0
        self._idf_cache: Optional[np.ndarray] = None
        self._fixed_idf: Optional[np.ndarray] = None  # idf loaded from a file without df counts

    @property
    def dim(self) -> int:
        """Vocabulary size: the number of columns of every vector."""
        return len(self._vocab)

    @property
    def avgdl(self) -> float:
        return self.total_length / self.corpus_size if self.corpus_size else 0.0

    @property
    def vocabulary(self) -> dict[str, int]:
        """term -> column index (first-appearance order). Do not modify."""
        return self._vocab

    @property
    def df(self) -> np.ndarray:
        """Document frequency of each term, by column index."""
        return self._df

    @property
    def idf(self) -> np.ndarray:
        """idf of each term by column index, after the epsilon floor (float64)."""
        if self._idf_cache is None:
            if self._fixed_idf is not None:
                self._idf_cache = self._fixed_idf
            else:
                self._idf_cache = okapi_idf(self._df, self.corpus_size, self.epsilon)
        return self._idf_cache

    def fit(self, corpus: Iterable[str]) -> "BM25EmbeddingFunction":
        """Learn N, avgdl and df from ``corpus`` (replacing what was learnt before)."""
        corpus = _as_list(corpus, "corpus")
        if not corpus:
            raise ParamError("fit: the corpus is empty; BM25 needs at least one document")
        self._clear()
        return self.partial_fit(corpus)

    def partial_fit(self, documents: Iterable[str]) -> "BM25EmbeddingFunction":
        """Add documents to the statistics without refitting: afterwards the model equals one
        fitted on all documents seen so far (call it batch by batch on a growing corpus)."""
        documents = _as_list(documents, "documents")
        if self._fixed_idf is not None:
            raise ParamError(
                "partial_fit: this model was loaded from a file without document frequencies "
                "(pymilvus format); refit it with fit(corpus) first"
            )
        if not documents:
            return self
        batch = self._analyze(documents)
        vocab = self._vocab
        term_ids = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in batch.vocab), dtype=np.int64, count=len(batch.vocab)
        )
        ids = term_ids[batch.ids]
        docs = np.repeat(np.arange(len(documents), dtype=np.int64), batch.lengths)
        width = max(len(vocab), 1)
        pairs, _ = _unique_counts(docs * width + ids)
        df = np.zeros(len(vocab), dtype=np.int64)
        df[: len(self._df)] = self._df
        df += np.bincount(pairs % width, minlength=len(vocab))[: len(vocab)]
        self._df = df
        self.corpus_size += len(documents)
        self.total_length += int(len(ids))
        self._idf_cache = None
        return self

    # Encoding -----------------------------------------------------------------------------
    def encode_documents(self, documents: List[str]) -> csr_array:
        """One row per document: BM25 term weights (no idf), float32."""
        documents = _as_list(documents, "documents")
        self._check_fitted()
        batch = self._analyze(documents)
        rows, cols, tf = self._term_counts(batch, len(documents))
        doc_len = batch.lengths.astype(np.float64)  # includes out-of-vocabulary tokens
        k1, b = self.k1, self.b
        norm = k1 * (1.0 - b + b * doc_len / self.avgdl)
        values = tf * (k1 + 1.0) / (tf + norm[rows])
        return self._csr(rows, cols, values, len(documents))

    def encode_queries(self, queries: List[str]) -> csr_array:
        """One row per query: idf of each in-vocabulary query token (repeats add up), float32."""
        queries = _as_list(queries, "queries")
        self._check_fitted()
        batch = self._analyze(queries)
        rows, cols, counts = self._term_counts(batch, len(queries))
        return self._csr(rows, cols, counts * self.idf[cols], len(queries))

    def __call__(self, texts: List[str]) -> csr_array:
        return self.encode_documents(texts)

    def _term_counts(self, batch: TokenBatch, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, count) of each distinct in-vocabulary term of each text, row-major."""
        vocab = self._vocab
        term_ids = np.fromiter((vocab.get(t, -1) for t in batch.vocab), dtype=np.int64, count=len(batch.vocab))
        ids = term_ids[batch.ids]
        docs = np.repeat(np.arange(n, dtype=np.int64), batch.lengths)
        keep = ids >= 0
        width = max(len(vocab), 1)
        keys, counts = _unique_counts(docs[keep] * width + ids[keep])
        return keys // width, keys % width, counts.astype(np.float64)

    def _csr(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> csr_array:
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return csr_array(
            (values.astype(np.float32), cols.astype(np.int32), indptr.astype(np.int32)),
            shape=(n, self.dim),
        )

    def _check_fitted(self) -> None:
        if self.corpus_size == 0:
            raise ParamError("BM25EmbeddingFunction is not fitted: call fit(corpus) or load(path) first")

    def _analyze(self, texts: Sequence[str]) -> TokenBatch:
        if isinstance(self.analyzer, Analyzer):
            return self.analyzer.analyze_batch(texts)
        return batch_from_token_lists([self.analyzer(t) for t in texts])

    # Persistence --------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the parameters as JSON (pymilvus.model's keys plus ``df``, ``total_length`` and
        ``analyzer_params``)."""
        self._check_fitted()
        params = {
            "format": _FORMAT,
            "version": "v1",  # pymilvus.model checks nothing, but keep its value
            "format_version": _VERSION,
            "corpus_size": self.corpus_size,
            "avgdl": self.avgdl,
            "total_length": self.total_length,
            "idf_word": list(self._vocab),
            "idf_value": self.idf.tolist(),
            "df": None if self._fixed_idf is not None else self._df.tolist(),
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "analyzer_params": self.analyzer.params if isinstance(self.analyzer, Analyzer) else None,
        }
        Path(path).write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")

    def load(self, path: Optional[str | Path] = None) -> "BM25EmbeddingFunction":
        """Restore parameters saved by :meth:`save` (analyzer included) or by pymilvus.model."""
        if path is None:
            raise ParamError(
                "load: give the path of a saved model; embedb never downloads parameters "
                "(pymilvus.model fetched MS MARCO statistics from the internet here)"
            )
        try:
            params = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ParamError(f"load: cannot read {str(path)!r}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ParamError(f"load: {str(path)!r} is not a BM25 JSON file: {exc}") from None
        try:
            words = params["idf_word"]
            k1, b, epsilon = _check_params(params["k1"], params["b"], params["epsilon"])
            corpus_size = int(params["corpus_size"])
            avgdl = float(params["avgdl"])
            idf_values = np.asarray(params["idf_value"], dtype=np.float64)
            df = params.get("df")
        except (KeyError, TypeError, ValueError) as exc:
            raise ParamError(f"load: {str(path)!r} lacks BM25 parameters ({exc})") from None
        if len(words) != len(idf_values) or len(set(words)) != len(words):
            raise ParamError(f"load: {str(path)!r}: idf_word and idf_value do not match")
        analyzer_params = params.get("analyzer_params")
        analyzer = build_analyzer(analyzer_params) if analyzer_params is not None else self.analyzer
        self._clear()
        self.analyzer = analyzer
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self._vocab = dict(zip(words, range(len(words))))
        self.corpus_size = corpus_size
        if df is not None:
            self._df = np.asarray(df, dtype=np.int64)
            self.total_length = int(params.get("total_length", round(avgdl * corpus_size)))
        else:  # a pymilvus.model file: idf only
            self._fixed_idf = idf_values
            self._df = np.zeros(len(words), dtype=np.int64)
            self.total_length = avgdl * corpus_size
        return self


def _unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and their counts (a plain sort beats np.unique's hashing here)."""
    if not len(keys):
        return keys, np.zeros(0, dtype=np.int64)
    keys = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, len(keys)))
    return keys[starts], counts


def okapi_idf(df: np.ndarray, n: int, epsilon: float) -> np.ndarray:
    """rank_bm25 BM25Okapi idf: ln(N - df + 0.5) - ln(df + 0.5), negatives -> epsilon * mean."""
    dff = df.astype(np.float64)
    idf = np.log(n - dff + 0.5) - np.log(dff + 0.5)
    if len(idf):
        idf[idf < 0] = epsilon * idf.mean()
    return idf


def _check_params(k1: Any, b: Any, epsilon: Any) -> tuple[float, float, float]:
    try:
        k1, b, epsilon = float(k1), float(b), float(epsilon)
    except (TypeError, ValueError):
        raise ParamError(f"k1, b and epsilon must be numbers, got {k1!r}, {b!r}, {epsilon!r}") from None
    if not (k1 >= 0 and math.isfinite(k1)):
        raise ParamError(f"k1 must be a finite number >= 0, got {k1}")
    if not 0.0 <= b <= 1.0:
        raise ParamError(f"b must be between 0 and 1, got {b}")
    if not math.isfinite(epsilon):
        raise ParamError(f"epsilon must be finite, got {epsilon}")
    return k1, b, epsilon


def _resolve_analyzer(analyzer: Any) -> Analyzer | Callable[[str], list[str]]:
    if analyzer is None:
        return build_analyzer({"type": "english"})
    if isinstance(analyzer, Analyzer):
        return analyzer
    if isinstance(analyzer, (dict, str)):
        return build_analyzer(analyzer)
    if callable(analyzer):
        return analyzer
    raise ParamError(
        "analyzer must be an embedb.text.Analyzer, analyzer_params (dict), a language code "
        f"or a callable text -> tokens; got {type(analyzer).__name__}"
    )


def _as_list(texts: Any, what: str) -> list:
    if isinstance(texts, str):
        raise ParamError(f"{what} must be a list of strings, not a single string")
    try:
        return list(texts)
    except TypeError:
        raise ParamError(f"{what} must be a list of strings, got {type(texts).__name__}") from None
