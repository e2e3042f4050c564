"""BERT encoder forward pass in NumPy (float32): the exact, dependency-free runtime.

Per-token work (projections, feed-forward, layer norms) runs on the packed real tokens only, so
padding costs nothing there; only attention sees the padded ``(batch, heads, seq, seq)`` block.
"""

from __future__ import annotations

import math

import numpy as np

from embedb.model.dense.bert_weights import BertWeights


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    centred *= 1.0 / np.sqrt(var + eps)
    centred *= gamma
    centred += beta
    return centred


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, at float32 precision; ~3x faster than
# scipy.special.erf, which took 40% of the forward pass
_ERF_P = np.float32(0.3275911)
_ERF_A = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]


def _erf(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * a)
    poly = np.full_like(t, _ERF_A[0])
    for coef in _ERF_A[1:]:
        poly *= t
        poly += coef
    poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1.0, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def _activate(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gelu":
        return 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))
    if kind == "relu":
        return np.maximum(x, 0, out=x)
    # tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
    c = np.float32(math.sqrt(2.0 / math.pi))
    return 0.5 * x * (1.0 + np.tanh(c * (x + np.float32(0.044715) * x * x * x)))


class NumpyBert:
    """``forward(ids, mask) -> last hidden states (batch, seq, hidden)`` for one BERT encoder."""

    name = "numpy"

    def __init__(self, weights: BertWeights) -> None:
        self.w = weights

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, seq = input_ids.shape
        hidden, heads = w.hidden_size, w.num_heads
        head_dim = hidden // heads
        keep = attention_mask.astype(bool)
        flat_ids = input_ids[keep]  # packed real tokens, row-major
        positions = np.broadcast_to(np.arange(seq), (batch, seq))[keep]
        x = w.word[flat_ids] + w.position[positions] + w.token_type[0]
        x = _layer_norm(x, w.emb_ln_g, w.emb_ln_b, w.layer_norm_eps)
        # additive mask: 0 for real tokens, a large negative for padding
        bias = np.where(keep, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(head_dim))
        padded = np.zeros((batch, seq, 3 * hidden), np.float32)
        for layer in w.layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            padded[keep] = qkv
            q, k, v = (
                padded[:, :, i * hidden:(i + 1) * hidden].reshape(batch, seq, heads, head_dim)
                .transpose(0, 2, 1, 3)
                for i in range(3)
            )
            scores = (q * scale) @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)[keep]
            attn = context @ layer.out_w
            attn += layer.out_b
            attn += x
            x = _layer_norm(attn, layer.ln1_g, layer.ln1_b, w.layer_norm_eps)
            h = x @ layer.ff1_w
            h += layer.ff1_b
            h = _activate(h, w.activation)
            out = h @ layer.ff2_w
            out += layer.ff2_b
            out += x
            x = _layer_norm(out, layer.ln2_g, layer.ln2_b, w.layer_norm_eps)
        result = np.zeros((batch, seq, hidden), np.float32)
        result[keep] = x
        return result
