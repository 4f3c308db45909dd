"""scaled_dot_product_attention, forward and backward.

Kernels in csrc/cpu/attention.cpp (``pydl.kernels.variants("attention")``:
``reference`` materialises the scores, ``flash`` is FlashAttention-2 style:
key/value tiles with an online softmax, O(L) extra memory, the logsumexp of
each query row saved for a backward that recomputes the tiles).

Semantics are PyTorch's: q (..., L, E), k (..., S, E), v (..., S, Ev) with
broadcasting leading dims; a bool attn_mask keeps True entries, a float one is
added to the scores; is_causal keeps key j <= query i (top-left aligned when
L != S) and may not be combined with attn_mask; scale defaults to 1/sqrt(E).
A query row whose keys are all masked out gives 0 (and a zero gradient), which
is what torch >= 2.5 returns too (older torch math paths gave NaN).
dropout_p > 0 drops attention weights with a mask derived from a seed drawn
from pydl's generator (so ``pydl.manual_seed`` makes it repeatable); the
backward regenerates the very same mask from that seed. torch's own RNG
stream cannot be matched. dropout_p must lie in [0, 1] (torch also silently
accepts negative values; pydl refuses them).
"""
from .. import _C
from ..autograd import Function
from .._tensor import Tensor


def _sum_to(impl, shape):
    return _C.sum_to_shape(impl, list(shape)) if tuple(impl.shape) != tuple(shape) else impl


class _SDPA(Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, dropout_p, seed):
        mimpl = None if mask is None else mask._impl
        out, lse = _C.sdpa_forward(q._impl, k._impl, v._impl, mimpl, is_causal, scale, dropout_p, seed)
        o = Tensor._wrap(out)
        ctx.save_for_backward(q, k, v, mask)
        ctx.out, ctx.lse = out, lse
        ctx.args = (is_causal, scale, dropout_p, seed)
        return o

    @staticmethod
    def backward(ctx, g):
        q, k, v, mask = ctx.saved_tensors
        is_causal, scale, dropout_p, seed = ctx.args
        need = ctx.needs_input_grad
        dq, dk, dv = _C.sdpa_backward(g._impl, q._impl, k._impl, v._impl, None if mask is None else mask._impl,
                                      ctx.out, ctx.lse, is_causal, scale, dropout_p, seed)
        wrap = lambda t, shape, n: Tensor._wrap(_sum_to(t, shape)) if n else None  # noqa: E731
        return (wrap(dq, q.shape, need[0]), wrap(dk, k.shape, need[1]), wrap(dv, v.shape, need[2]),
                None, None, None, None, None)


def _draw_seed():
    # 62 random bits from pydl's generator: the dropout mask is a hash of (seed, position).
    return int(_C.randint(0, 1 << 62, [], _C.DType.int64).item())


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,  # noqa: C901
                                 scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, PyTorch's signature."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be Tensor, "
                            f"not {type(t).__name__}")
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        raise TypeError(f"scaled_dot_product_attention(): argument 'attn_mask' must be Tensor, "
                        f"not {type(attn_mask).__name__}")
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention(enable_gqa=True) is not supported")
    dropout_p = float(dropout_p)
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    seed = _draw_seed() if dropout_p > 0.0 else 0
    return _SDPA.apply(query, key, value, attn_mask, bool(is_causal), None if scale is None else float(scale),
                       dropout_p, seed)
