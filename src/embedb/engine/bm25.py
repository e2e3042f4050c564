"""BM25 scoring over posting lists: maintained statistics and dynamic pruning.

``fulltext.search_bm25`` analyses the query and finds the posting lists; this module scores them.

* ``Bm25Stats`` keeps, per posting-list state, the document frequency of every term over the
  rows a read view sees as live, the number of those rows and the sum of their lengths. New rows
  are added as they are indexed; rows whose liveness changed since the last query (deletes,
  upserts, TTL) are applied row by row, so a query never counts a posting list.
* ``top_candidates`` is exact top-k by dynamic pruning (the threshold algorithm over
  impact-ordered lists, the list-level form of MaxScore/block-max WAND): each query term's
  postings are kept ordered by decreasing impact ``tf (k1 + 1) / (tf + norm)`` (cached per term
  until rows are added); only the rows at the head of some list are
  scored, by probing every list with binary search, and the search stops as soon as the summed
  impacts at the lists' depth fall below the k-th best score, so long lists of common terms are
  never scored whole.
* ``score_exhaustive`` scores every posting of every term (the reference, and the fallback when
  no term can be left out).

Scores are bit-identical on both paths: each row's score is the float64 sum of its terms'
contributions in term-id order, each computed by ``_contribution``. Rows tied with the k-th
float32 score are all returned, so the caller breaks ties by primary key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SLACK = 1.0 + 1e-9   # the bounds and the scores are computed in different orders: a margin
_DENSE_FACTOR = 16    # exhaustive: accumulate over all rows when candidates exceed 1/16 of them
PRUNE_MIN = 20_000    # postings of a query below which scoring them all is cheaper than pruning
FIRST_DEPTH = 256     # entries of each impact-ordered list read by the first, shallow pass
_FLAT = 0.9           # bound at the first depth over the largest: above it, pruning is hopeless
_DEEPEST = 10         # probing every list for the heads' rows costs about 10x scoring an entry
_IMPACT_CACHE = 1 << 23   # impact-ordered entries kept across queries


class Bm25Stats:
    """Document frequencies over the live rows of one posting-list state (callers hold
    ``fulltext._lock``). ``df`` is replaced, never written in place, so a query may keep it."""

    def __init__(self) -> None:
        self.rows = 0                                # rows of the postings accounted for
        self.live = np.zeros(0, dtype=bool)          # liveness the counts assume
        self.df = np.zeros(0, dtype=np.int64)        # per term id: live rows holding it
        self.n_live = 0
        self.len_live = 0                            # sum of live rows' lengths (integers: exact)
        self.impacts: dict[int, tuple] = {}          # term id -> (rows, impact-ordered postings)
        self.impacts_size = 0                        # entries held by that cache

    def append(self, terms: np.ndarray, doc_len: np.ndarray, n_terms: int) -> None:
        """Rows just indexed (all live): their entries' term ids and their lengths."""
        self._grow(n_terms)
        self.df = self.df + np.bincount(terms, minlength=len(self.df)).astype(np.int64)
        self.live = np.concatenate([self.live, np.ones(len(doc_len), dtype=bool)])
        self.rows += len(doc_len)
        self.n_live += len(doc_len)
        self.len_live += int(doc_len.sum())

    def _grow(self, n_terms: int) -> None:
        extra = n_terms - len(self.df)
        if extra > 0:
            self.df = np.concatenate([self.df, np.zeros(extra, np.int64)])

    def sync(self, state: Any, live: np.ndarray, terms_of_rows: Any) -> None:
        """Bring the counts to ``live`` (length ``state.rows``). ``terms_of_rows(rows)`` gives
        the term ids of every entry of those rows (one array)."""
        changed = np.flatnonzero(self.live != live)
        if not len(changed):
            return
        if len(changed) * 16 > len(live):   # many rows changed: count again
            self.recount(state, live)
            return
        turned_on = live[changed]
        df = self.df.copy()
        for rows, sign in ((changed[turned_on], 1), (changed[~turned_on], -1)):
            if len(rows):
                df += sign * np.bincount(terms_of_rows(rows), minlength=len(df))
                self.n_live += sign * len(rows)
                self.len_live += sign * int(state.doc_len[rows].sum())
        self.df = df
        self.live = live.copy()

    def recount(self, state: Any, live: np.ndarray) -> None:
        """Counts from scratch over the postings (after a reopen or a mass delete)."""
        self._grow(len(state.term_of))
        df = np.zeros(len(self.df), dtype=np.int64)
        dead = ~live
        for part in (state._main, state._tail):
            if part.nnz:   # list lengths, less the entries of dead rows (usually few)
                n = len(part.indptr) - 1
                df[:n] += np.diff(part.indptr)
                if dead.any():
                    gone = np.flatnonzero(dead[part.rows])
                    df[:n] -= np.bincount(np.searchsorted(part.indptr, gone, side="right") - 1, minlength=n)
        self.df = df
        self.live = live.copy()
        self.rows = state.rows
        self.n_live = int(live.sum())
        self.len_live = int(state.doc_len[: state.rows][live].sum())


def _contribution(weight: Any, tf: np.ndarray, doc_len: np.ndarray, k1: float, b: float,
                  avgdl: float) -> np.ndarray:
    norm = k1 * (1.0 - b + b * doc_len / avgdl)
    return weight * tf * (k1 + 1.0) / (tf + norm)


def score_exhaustive(lists: list, weight: np.ndarray, k1: float, b: float, avgdl: float,
                     doc_len: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every allowed row holding a term and its score (float64), rows ascending."""
    all_rows, all_scores = [], []
    for (r, tf), w in zip(lists, weight):
        ok = allowed[r]
        r, tf = r[ok], tf[ok]
        all_rows.append(r)
        all_scores.append(_contribution(w, tf, doc_len[r], k1, b, avgdl))
    if not all_rows:
        return np.zeros(0, np.int64), np.zeros(0)
    rows_cat = np.concatenate(all_rows)
    if not len(rows_cat):
        return np.zeros(0, np.int64), np.zeros(0)
    if len(rows_cat) * _DENSE_FACTOR > len(allowed):   # many candidates: accumulate over all rows
        dense = np.bincount(rows_cat, weights=np.concatenate(all_scores), minlength=len(allowed))
        cand = np.flatnonzero(np.bincount(rows_cat, minlength=len(allowed)))
        return cand, dense[cand]
    cand, inverse = np.unique(rows_cat, return_inverse=True)
    scores = np.bincount(inverse, weights=np.concatenate(all_scores), minlength=len(cand))
    return cand.astype(np.int64), scores


def _score_rows(cand: np.ndarray, lists: list, weight: np.ndarray, k1: float, b: float,
                avgdl: float, doc_len: np.ndarray) -> np.ndarray:
    """Full scores of the sorted rows ``cand``: each list probed by binary search, terms
    summed in list order (the same additions as ``score_exhaustive``)."""
    total = np.zeros(len(cand))
    dl = doc_len[cand]
    for (r, tf), w in zip(lists, weight):
        if not len(r):
            continue
        pos = np.searchsorted(r, cand)
        pos[pos == len(r)] = 0
        hit = np.flatnonzero(r[pos] == cand)
        if len(hit):
            contrib = np.zeros(len(cand))
            contrib[hit] = _contribution(w, tf[pos[hit]], dl[hit], k1, b, avgdl)
            total += contrib
    return total


def impact_order(state: Any, stats: Bm25Stats, term: int, k1: float, b: float, avgdl: float,
                 n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A term's posting rows by decreasing impact ``tf (k1 + 1) / (tf + norm)`` (at the average
    length of when it was sorted), with the largest tf and smallest row length from each
    position on: ``bound_at`` turns them into a bound for any later average length, so the
    order is kept until rows are added (deletes and upserts' tombstones do not move it).
    Only rows below ``n_rows`` (the read view's) are taken: a newer snapshot may have added more."""
    cached = stats.impacts.get(term)
    if cached is not None and cached[0] == n_rows:
        return cached[1]
    rows, tf = state.gather(term)
    end = int(np.searchsorted(rows, n_rows))
    rows, tf = rows[:end], tf[:end]
    dl = state.doc_len[rows]
    order = np.argsort(-_contribution(1.0, tf, dl, k1, b, avgdl), kind="stable")
    tf, dl = tf[order].astype(np.float64), dl[order]
    out = (rows[order], np.maximum.accumulate(tf[::-1])[::-1], np.minimum.accumulate(dl[::-1])[::-1])
    if stats.impacts_size > _IMPACT_CACHE:   # bounded: a long run of distinct terms starts over
        stats.impacts, stats.impacts_size = {}, 0
    stats.impacts[term] = (n_rows, out)
    stats.impacts_size += len(rows)
    return out


def bound_at(by_impact: list, weight: np.ndarray, depth: int, k1: float, b: float, avgdl: float) -> float:
    """Largest score of a row found in no list's first ``depth`` entries."""
    total = 0.0
    for (_, maxtf, mindl), w in zip(by_impact, weight):
        if depth < len(maxtf):
            t, d = float(maxtf[depth]), float(mindl[depth])
            total += float(w) * t * (k1 + 1.0) / (t + k1 * (1.0 - b + b * d / avgdl))
    return total * _SLACK


def top_candidates(lists: list, weight: np.ndarray, by_impact: list, k: int, k1: float, b: float,
                   avgdl: float, doc_len: np.ndarray, allowed: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose float32 score reaches the k-th best (ties at the k-th all kept) and their
    float32 scores. Threshold algorithm over impact-ordered lists (``by_impact``): the rows
    among the first ``depth`` of some list are scored in full (each list probed); a row outside
    all of them scores at most ``bound_at(depth)``. A first shallow pass gives a k-th score;
    the depth is then the smallest whose bound falls below it, found by bisection (the bound
    only falls with depth), so one more pass holds the exact top k."""
    sizes = np.array([len(r) for r, _ in lists])
    longest = int(sizes.max())
    depth = min(max(2 * k, FIRST_DEPTH), longest)
    kth = None
    if bound_at(by_impact, weight, depth, k1, b, avgdl) > _FLAT * bound_at(by_impact, weight, 0, k1, b, avgdl):
        depth = longest   # impacts barely fall along the lists: no depth can prune, score all
    while True:
        if _DEEPEST * np.minimum(sizes, depth).sum() > sizes.sum():   # too deep to pay: score all
            break
        cand = np.unique(np.concatenate([r[:depth] for r, _, _ in by_impact]))
        cand = cand[allowed[cand]]
        if len(cand) >= k:
            scores32 = _score_rows(cand, lists, weight, k1, b, avgdl, doc_len).astype(np.float32)
            kth = np.partition(scores32, len(cand) - k)[len(cand) - k]
            if np.float32(bound_at(by_impact, weight, depth, k1, b, avgdl)) < kth:
                keep = scores32 >= kth   # no row outside cand can reach the k-th score
                return cand[keep], scores32[keep]
        if kth is None or depth >= longest:
            depth = min(depth * 4, longest)
            continue
        lo, hi = depth, longest   # bisect: the smallest depth whose bound is below kth
        while lo < hi:
            mid = (lo + hi) // 2
            if np.float32(bound_at(by_impact, weight, mid, k1, b, avgdl)) < kth:
                hi = mid
            else:
                lo = mid + 1
        depth = lo
    cand, scores = score_exhaustive(lists, weight, k1, b, avgdl, doc_len, allowed)
    return select_with_ties(cand, scores.astype(np.float32), k)


def select_with_ties(rows: np.ndarray, scores32: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose float32 score is at least the k-th best (all of them when fewer)."""
    if len(rows) <= k:
        return rows, scores32
    kth = np.partition(scores32, len(rows) - k)[len(rows) - k]
    keep = scores32 >= kth
    return rows[keep], scores32[keep]
