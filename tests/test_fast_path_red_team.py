"""Red team of the single-query fast lanes (``engine/search_fast.py``, ``filter_cache``,
``index/filtered.py``, ``client/search.py``): for any input, and after any sequence of calls
and writes, ``client.search`` (the plain-call path) answers exactly what the general path
(``client._search`` -> ``engine.search.search``) answers for the same arguments: the same ids
in the same order, the same distances to the last bit, ties by primary key, or an error of the
same type. Where the index answers exactly (small collections, ef >= rows, nprobe = nlist) both
also equal a NumPy reference; a single query equals the same query inside a batch.

Each test compares the two doors on the same client and state, so a cache kept between calls
by either door (the kept filtered lane, the mask's derived plans, faiss parameter objects) is
exercised in the order a user would hit it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import embedb
from embedb.client import search as client_search

DIM = 8


# -- the two doors ---------------------------------------------------------------------------

def _general(client, name, data, **kw):
    """``client._search``: the general path ``search`` takes when the plain call declines."""
    args = dict(filter="", limit=10, output_fields=None, search_params=None, timeout=None,
                partition_names=None, anns_field=None, ranker=None, function_chains=None,
                highlighter=None, ids=None, search_aggregation=None)
    extra = {k: v for k, v in kw.items() if k not in args}
    args.update({k: v for k, v in kw.items() if k in args})
    return client._search(name, data, **args, **extra)


def _outcome(call):
    """Hits as (id, distance, entity) per query, or (error type, message)."""
    try:
        result = call()
    except Exception as exc:   # noqa: BLE001 - the error itself is compared
        return type(exc).__name__, str(exc)
    return [[(h.id, h["distance"], dict(h["entity"])) for h in hits] for hits in result]


@pytest.fixture
def answered(monkeypatch):
    """Whether the plain-call path answered each ``client.search`` (True) or declined it to
    the general path (False): a spy beside the real function, which still runs."""
    calls = []
    real = client_search._plain_search

    def spy(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(client_search, "_plain_search", spy)
    return calls


def _same(client, name, data, **kw):
    """Search through both doors; assert equal outcomes (distances bit for bit) and return
    the fast door's."""
    fast = _outcome(lambda: client.search(name, data, **kw))
    general = _outcome(lambda: _general(client, name, data, **kw))
    assert fast == general, (kw, fast, general)
    return fast


def _client(index_type="HNSW", metric="COSINE", n=300, dup=1, seed=0, pk="int",
            dynamic=False, params=None, client=None, name="c"):
    """Collection ``name``: id (INT64 or VARCHAR primary key, unrelated to row order), tag
    (row % 10), v (``DIM``-d float vectors; with ``dup`` > 1 each distinct vector is stored
    ``dup`` times, so distances tie exactly and the primary key decides)."""
    rng = np.random.default_rng(seed)
    client = client or embedb.MilvusClient(":memory:")
    schema = client.create_schema(auto_id=False, enable_dynamic_field=dynamic)
    if pk == "int":
        schema.add_field("id", embedb.DataType.INT64, is_primary=True)
    else:
        schema.add_field("id", embedb.DataType.VARCHAR, is_primary=True, max_length=20)
    schema.add_field("tag", embedb.DataType.INT64)
    schema.add_field("v", embedb.DataType.FLOAT_VECTOR, dim=DIM)
    index = None
    if index_type is not None:
        index = client.prepare_index_params()
        if params is None:
            params = {"HNSW": {"M": 8, "efConstruction": 40},
                      "IVF_FLAT": {"nlist": 4}}.get(index_type, {})
        index.add_index("v", index_type=index_type, metric_type=metric, params=params)
    client.create_collection(name, schema=schema, index_params=index)
    base = rng.standard_normal((max(1, n // dup), DIM)).astype(np.float32)
    which = np.arange(n) % len(base)
    ids = rng.permutation(10 * n)[:n]
    rows = [{"id": int(ids[i]) if pk == "int" else f"k{ids[i]}", "tag": i % 10,
             "v": base[which[i]]} for i in range(n)]
    if dynamic:
        for i, row in enumerate(rows):
            row["x"] = i % 5
    client.insert(name, rows)
    client.search(name, [base[0]], limit=1)   # the index covers every row
    return client, base, which, ids


# -- search parameters that compare equal but are not equally valid ---------------------------

@pytest.mark.parametrize("index_type,param", [("HNSW", "ef"), ("IVF_FLAT", "nprobe")])
def test_a_bool_search_parameter_is_refused_also_after_its_int_twin(graph_path, index_type,
                                                                    param):
    """``{"ef": True}`` is a ParamError (``int_param`` refuses bools); ``True == 1`` and they
    hash alike, so a cache keyed by the raw value that a search with ``{"ef": 1}`` filled
    answered the bool afterwards: the fast door (``search_masked_one``'s lane key) and the
    general one (``FaissIndex._filtered_parameters``' key) both did, after refusing it on a
    fresh mask."""
    client, base, _, _ = _client(index_type, n=2000)
    q = base[5] + np.float32(0.1)
    bad = {"params": {param: True}}
    for flt in ("tag < 5", "tag < 4"):
        kw = dict(limit=10, filter=flt)
        if flt == "tag < 4":   # the int twin first: its lane and parameters are kept
            _same(client, "c", [q], search_params={"params": {param: 1}}, **kw)
            _same(client, "c", [q], search_params={"params": {param: 1}}, **kw)
        for _ in range(2):
            out = _same(client, "c", [q], search_params=bad, **kw)
            assert out[0] == "ParamError" and "must be an integer" in out[1], out
    # the unfiltered lanes never kept it (their key wants an int)
    assert _same(client, "c", [q], limit=10, search_params=bad)[0] == "ParamError"


# -- queries -----------------------------------------------------------------------------------

def _with_warnings(call):
    """The outcome and the warnings it emitted (category, message)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = _outcome(call)
    return out, [(w.category.__name__, str(w.message)) for w in seen]


@pytest.mark.parametrize("index_type,metric", [("HNSW", "L2"), ("HNSW", "IP"), ("FLAT", "L2"),
                                               ("FLAT", "IP"), ("FLAT", "COSINE"),
                                               ("IVF_FLAT", "L2")])
@pytest.mark.parametrize("flt", ["", "tag < 5"])
def test_a_finite_query_whose_squared_norm_overflows_warns_as_the_general_path(
        graph_path, index_type, metric, flt):
    """A query of finite float32 components near 1e19: its squared norm overflows float32.
    The lanes' finiteness check (``v.dot(v)``) made numpy warn "overflow encountered in dot"
    (an exception under ``-W error`` or ``np.errstate(over="raise")``) before declining the
    call to the general path, which answers it without a warning."""
    client, _, _, _ = _client(index_type, metric, n=2000)
    q = np.full(DIM, 1e19, np.float32)
    q[::2] = -1e19
    kw = dict(limit=10, filter=flt)
    for _ in range(2):
        fast = _with_warnings(lambda: client.search("c", [q], **kw))
        general = _with_warnings(lambda: _general(client, "c", [q], **kw))
        assert fast == general
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _same(client, "c", [q], **kw)
        with np.errstate(all="raise"):
            _same(client, "c", [q], **kw)
