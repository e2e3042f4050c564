"""PKIndex against a plain dict, for int keys and long string keys (NumPy's StringDType
searchsorted is wrong past 15 bytes, numpy/numpy#31533: the index must not depend on it)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from embedb.engine.columns import STRING_DTYPE
from embedb.engine.pkindex import PKIndex

long_text = st.text(alphabet="ab/é-_.#0123456789", min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    string_keys=st.booleans(),
    batches=st.lists(st.tuples(st.lists(st.integers(0, 60), max_size=10), st.lists(st.integers(0, 60), max_size=5)),
                     max_size=12),
    names=st.lists(long_text, min_size=61, max_size=61),
    merge_min=st.sampled_from([0, 3, 8192]),   # the delta level merged often, sometimes, never
)
def test_pkindex_matches_a_dict(string_keys, batches, names, merge_min):
    saved, PKIndex.MERGE_MIN = PKIndex.MERGE_MIN, merge_min
    try:
        _check_against_a_dict(string_keys, batches, names)
    finally:
        PKIndex.MERGE_MIN = saved


def _check_against_a_dict(string_keys, batches, names):
    def keys_of(ks):
        if string_keys:
            return np.array([names[k] for k in ks], dtype=STRING_DTYPE) if ks else np.empty(0, STRING_DTYPE)
        return np.asarray(ks, dtype=np.int64)

    index = PKIndex(STRING_DTYPE if string_keys else np.int64)
    model: dict = {}
    next_row = 0
    for add, remove in batches:
        uniq = list(dict.fromkeys(names[k] if string_keys else k for k in add))
        arr = keys_of([add[[names[k] if string_keys else k for k in add].index(u)] for u in uniq])
        rows = np.arange(next_row, next_row + len(arr))
        next_row += len(arr)
        index.set(arr, rows)
        model.update(zip(uniq, rows.tolist()))
        rem = keys_of(remove)
        index.remove(rem)
        for k in rem.tolist():
            model.pop(k, None)
        probe = keys_of(list(range(61)))
        expected = [model.get(k, -1) for k in probe.tolist()]
        assert index.lookup(probe).tolist() == expected
    assert len(index) == len(model)
    assert index.sorted_rows().tolist() == [model[k] for k in sorted(model)]
    # building from a column gives the same mapping
    pks = list(model)
    column = np.array(pks, dtype=STRING_DTYPE) if string_keys else np.asarray(pks, dtype=np.int64)
    built = PKIndex.build(column, np.ones(len(pks), bool))
    assert built.lookup(column).tolist() == list(range(len(pks)))


def test_a_frozen_twin_never_changes_while_the_index_does():
    """Read views share a frozen twin without the lock: later sets, removes and merges of the
    index must not show through it (every change replaces arrays)."""
    saved, PKIndex.MERGE_MIN = PKIndex.MERGE_MIN, 4
    try:
        index = PKIndex.build(np.arange(100, dtype=np.int64) * 2, np.ones(100, bool))
        index.set(np.array([1, 3, 5], dtype=np.int64), np.array([100, 101, 102]))
        twin = index.frozen()
        probe = np.arange(0, 220, dtype=np.int64)
        before = twin.lookup(probe).copy()
        order = twin.sorted_rows().copy()
        for i in range(30):   # the delta fills and merges several times
            index.set(np.array([201 + 2 * i, 2 * i], dtype=np.int64), np.array([200 + i, 300 + i]))
            index.remove(np.array([4 * i + 2], dtype=np.int64))
        assert twin.lookup(probe).tolist() == before.tolist()
        assert twin.sorted_rows().tolist() == order.tolist()
        assert len(twin) == 103
    finally:
        PKIndex.MERGE_MIN = saved
