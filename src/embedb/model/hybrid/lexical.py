"""Shared pieces of the hybrid (dense + lexical) encoders: per-token weights -> sparse rows."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def max_weight_per_token(weights: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray,
                         skip_ids: Iterable[int], vocab_size: int):
    """One sparse row per text: for each token id the largest weight among its occurrences.

    ``weights``, ``input_ids``, ``attention_mask`` are ``(batch, seq)``. Padding, ids in
    ``skip_ids`` (structural tokens) and non-positive weights are dropped, as BGE-M3 does.
    Returns a float32 ``csr_array`` of shape ``(batch, vocab_size)``.
    """
    from scipy.sparse import csr_array

    batch, seq = input_ids.shape
    keep = (attention_mask > 0) & (weights > 0)
    skip = np.fromiter((int(i) for i in skip_ids if i is not None), np.int64)
    if skip.size:
        keep &= ~np.isin(input_ids, skip)
    rows = np.broadcast_to(np.arange(batch)[:, None], (batch, seq))[keep]
    ids = input_ids[keep].astype(np.int64)
    vals = weights[keep].astype(np.float32)
    if vals.size == 0:
        return csr_array((batch, vocab_size), dtype=np.float32)
    keys = rows * vocab_size + ids
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    maxima = np.maximum.reduceat(vals, starts)
    unique = keys[starts]
    return csr_array((maxima, (unique // vocab_size, unique % vocab_size)),
                     shape=(batch, vocab_size), dtype=np.float32)


def structural_token_ids(tokenizer) -> set:
    """CLS, SEP, EOS, PAD, UNK ids (those the tokenizer defines): they carry no lexical weight.
    BGE-M3 drops CLS/EOS/PAD/UNK; for its XLM-R tokenizer SEP is EOS, and for BERT tokenizers
    (no EOS) dropping SEP keeps the same meaning."""
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.eos_token_id,
           tokenizer.pad_token_id, tokenizer.unk_token_id)
    return {int(i) for i in ids if i is not None}
