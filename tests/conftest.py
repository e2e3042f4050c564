"""Shared fixtures. ``open_client`` opens a client through each door of embedb (one behaviour,
several doors): in-process ``embedb.MilvusClient``, and real ``pymilvus.MilvusClient`` over a
socket to ``embedb serve`` running in a thread. Tests that take it run once per door, so results
over the wire must equal those in-process."""

from __future__ import annotations

import contextlib
import re

import pytest

DOORS = ("embedded", "server")


@pytest.fixture(params=DOORS)
def door(request):
    if request.param == "server":
        pytest.importorskip("grpc", reason="the server door needs the serve extra (grpcio)")
        pytest.importorskip("pymilvus", reason="the server door needs pymilvus")
    return request.param


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "embedded_only(reason): the test checks what pymilvus itself does on the "
        "client side (its own validation or call sequence), not an answer of the server")


@pytest.fixture
def open_client(door, request):
    """``open_client(uri=":memory:")``: a client of the current door on that database."""
    marker = request.node.get_closest_marker("embedded_only")
    if door == "server" and marker is not None:
        pytest.skip(f"through pymilvus: {marker.args[0] if marker.args else 'client-side behaviour'}")
    servers = []
    clients = []

    def open_(uri=":memory:", **kwargs):
        if door == "embedded":
            from embedb import MilvusClient

            client = MilvusClient(uri, **kwargs)
        else:
            import pymilvus

            from embedb import serve_in_thread

            served = serve_in_thread(uri, **kwargs)
            servers.append(served)
            client = pymilvus.MilvusClient(uri=served)
        clients.append(client)
        return client

    yield open_
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()
    for s in servers:
        s.stop()


@contextlib.contextmanager
def milvus_raises(expected, match=None):
    """``pytest.raises`` for either door: the embedb error in-process; through pymilvus, a
    ``MilvusException`` with the same Milvus code and message from the server, or pymilvus's
    own refusal of the input before it was sent (a pymilvus ``ParamError``/data error)."""
    try:
        from pymilvus.exceptions import MilvusException as PyMilvusError
        from pymilvus.exceptions import ParamError as PyParamError
        client_side = (PyParamError,)
        try:
            from pymilvus.exceptions import DataNotMatchException, DataTypeNotMatchException
            client_side += (DataNotMatchException, DataTypeNotMatchException)
        except ImportError:
            pass
        accepted = (expected, PyMilvusError)
    except ImportError:
        PyMilvusError, client_side, accepted = None, (), (expected,)
    with pytest.raises(accepted) as info:
        yield info
    err = info.value
    if isinstance(err, expected):
        if match is not None:
            assert re.search(match, str(err)), f"{match!r} not in {err}"
        return
    code = getattr(expected, "default_code", None)
    any_code = expected.__name__ == "MilvusException"  # the base class: any Milvus error
    if err.code == code or (any_code and type(err) is PyMilvusError):
        # the server's answer: the same code and message as in-process
        if match is not None:
            assert re.search(match, err.message), f"{match!r} not in {err.message!r}"
        return
    # pymilvus refused the input itself (its own exception classes, code 1), before sending
    refused_by_pymilvus = isinstance(err, client_side) or (
        type(err) is not PyMilvusError and err.code == 1)
    assert refused_by_pymilvus, f"expected {expected.__name__} (code {code}), got {err!r}"


def door_api(client):
    """The package whose schema, function and ranker classes ``client`` takes: embedb for the
    in-process client, pymilvus for a pymilvus client."""
    import embedb

    if isinstance(client, embedb.MilvusClient):
        return embedb
    import pymilvus

    return pymilvus


@pytest.fixture
def graph_path(monkeypatch):
    """Filters take the graph even on small test collections: only the mask's own properties
    (clumping, selectivity) choose exact search, not the size rules."""
    from embedb.engine.index import filtered

    monkeypatch.setattr(filtered, "EXACT_MAX_ROWS", 100)
    monkeypatch.setattr(filtered, "EXACT_MAX_WORK", 0)
    monkeypatch.setattr(filtered, "EXACT_MAX_FRACTION", 0.0)


@pytest.fixture
def lane_calls(monkeypatch):
    """For each filtered search through the client's plain-call path, whether a single-query
    lane answered it (True: the filtered lane kept inline in ``search_fast.plain_search``, or
    ``search_masked_one``) or the general route did (False: a mask looked up or computed,
    then ``search_covered`` / ``IndexManager.search``)."""
    import threading

    from embedb.client import search as client_search
    from embedb.engine import filter_cache, search_fast

    calls = []
    route = threading.local()
    real_masked, real_plain = search_fast.search_masked_one, search_fast.plain_search
    real_cached, real_mask = filter_cache.cached_mask, filter_cache.search_mask

    def masked(*a, **kw):
        out = real_masked(*a, **kw)
        route.lane = out is not None
        return out

    def general(real):
        def asked(*a, **kw):   # every route but the inline lane looks the mask up first
            route.lane = False
            return real(*a, **kw)
        return asked

    def plain(*a):
        route.lane = True   # stays True only if nothing but the inline lane ran
        out = real_plain(*a)
        if len(a) > 6 and a[6] and out is not None:
            calls.append(route.lane)
        return out

    monkeypatch.setattr(search_fast, "search_masked_one", masked)
    monkeypatch.setattr(filter_cache, "cached_mask", general(real_cached))
    monkeypatch.setattr(filter_cache, "search_mask", general(real_mask))
    monkeypatch.setattr(client_search, "_plain_search", plain)
    return calls
