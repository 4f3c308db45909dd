"""matmul: every rung of pydl.kernels.variants("matmul") (reference, blocked, packed) against
torch.matmul, float32.

Square sizes, a transformer projection (M x K x N = tokens x d_model x d_ff) with the three
products of nn.Linear (forward x @ W^T, and the backward's dX = dY @ W and dW = dY^T @ X, whose
transposed operands the kernels read through strides), and a batched attention-score product; the representative square size also runs the fastest rung under every
ISA. The reference triple loop runs at ~1 GFLOP/s, so it is timed only up to a size where a call
stays well under a second.
"""
from ..registry import Case, register, kernel_variants
from ._inputs import randn

import pydl


def _mm(a, b):
    return a @ b


def _mm_bt(a, b):  # b stored as [.., N, K]: a transposed view, which the kernels take without a copy
    return a @ b.mT


def _mm_at(a, b):  # a stored as [.., K, M]
    return a.mT @ b


def _case(cfg, op, a_shape, b_shape, represent=False, ref_max_flops=None, b_transposed=False,
          a_transposed=False):
    *batch, m, k = a_shape
    if a_transposed:
        m, k = k, m
    n = b_shape[-2] if b_transposed else b_shape[-1]
    nb = 1
    for d in batch:
        nb *= d
    flops = 2.0 * nb * m * k * n
    nbytes = 4.0 * nb * (m * k + k * n + m * n)

    def make_inputs():
        pydl.manual_seed(0)
        a, ta = randn(*a_shape)
        b, tb = randn(*b_shape)
        return (a, b), (ta, tb)

    fn = _mm_bt if b_transposed else (_mm_at if a_transposed else _mm)
    shape = "x".join(map(str, batch)) + ("x" if batch else "") + f"{m}x{k}x{n}"
    return Case(op=op, shape=shape, make_inputs=make_inputs,
                variants=kernel_variants(cfg, "matmul", fn, isas=cfg.isas if represent else None,
                                         max_flops={"reference": ref_max_flops}),
                torch_fn=fn, flops=flops, bytes=nbytes,
                # K-long float32 dot products: rounding grows ~sqrt(K) * eps.
                tol=2e-5 * max(1.0, k ** 0.5))


@register("matmul", "C = A @ B, float32, M x K x N (batched: B x M x K x N); compute-bound")
def cases(cfg):
    squares = cfg.pick(default=[256, 512, 1024, 2048], quick=[128, 256, 512], tiny=[32, 64])
    represent = cfg.pick(default=1024, quick=256, tiny=64)
    # Reference above this size takes seconds per call (the brief: --quick stops it after 256).
    ref_limit = 2.0 * cfg.pick(default=512, quick=256, tiny=64) ** 3
    m, k, n = cfg.pick(default=(4096, 768, 3072), quick=(1024, 256, 768), tiny=(64, 32, 96))
    bh, l, d = cfg.pick(default=(16, 512, 64), quick=(8, 256, 64), tiny=(2, 16, 8))
    out = [_case(cfg, "matmul", (s, s), (s, s), represent=(s == represent), ref_max_flops=ref_limit)
           for s in squares]
    out.append(_case(cfg, "matmul (linear)", (m, k), (k, n), ref_max_flops=ref_limit))
    # nn.Linear(k -> n) on m tokens, W stored [n, k]: forward, and the two backward products
    out.append(_case(cfg, "linear fwd (x @ W^T)", (m, k), (n, k), ref_max_flops=ref_limit,
                     b_transposed=True))
    out.append(_case(cfg, "linear bwd (dY @ W)", (m, n), (n, k), ref_max_flops=ref_limit))
    out.append(_case(cfg, "linear bwd (dY^T @ X)", (m, n), (m, k), ref_max_flops=ref_limit,
                     a_transposed=True))
    out.append(_case(cfg, "bmm (Q @ K^T)", (bh, l, d), (bh, l, d), ref_max_flops=ref_limit,
                     b_transposed=True))
    return out
