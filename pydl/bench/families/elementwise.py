"""elementwise: binary ops with broadcasting and activations, float32, under every ISA.

Each op reads its inputs once and writes its output once, so at these sizes (tens of MB, beyond
L2 and most of L3) they are memory-bound and the rate is GB/s of that unavoidable traffic. The
transcendental ones (exp, gelu, sigmoid) are where the SIMD width shows: the scalar ISA is
compute-bound on them.
"""
from ..registry import Case, isa_variants, numel, register
from ._inputs import randn

import pydl
import pydl.nn.functional as F


def _unary(cfg, op, shape, fn, torch_fn):
    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(*shape)
        return (x,), (tx,)
    return Case(op=op, shape="x".join(map(str, shape)), make_inputs=make_inputs,
                variants=isa_variants(cfg, fn), torch_fn=torch_fn, bytes=2.0 * 4 * numel(shape))


def _binary(cfg, op, sym, a_shape, b_shape, fn, torch_fn):
    out_n = numel(a_shape)
    def make_inputs():
        pydl.manual_seed(0)
        a, ta = randn(*a_shape)
        b, tb = randn(*b_shape)
        return (a, b), (ta, tb)
    shape = "x".join(map(str, a_shape)) + f" {sym} " + "x".join(map(str, b_shape))
    return Case(op=op, shape=shape, make_inputs=make_inputs, variants=isa_variants(cfg, fn),
                torch_fn=torch_fn, bytes=4.0 * (numel(a_shape) + numel(b_shape) + out_n))


@register("elementwise", "add (broadcast), mul, exp, gelu, sigmoid on float32; memory-bound (GB/s)")
def cases(cfg):
    import torch
    import torch.nn.functional as TF

    r, c = cfg.pick(default=(4096, 1024), quick=(1024, 1024), tiny=(64, 64))
    return [
        _binary(cfg, "add (broadcast)", "+", (r, c), (c,), lambda a, b: a + b, lambda a, b: a + b),
        _binary(cfg, "mul", "*", (r, c), (r, c), lambda a, b: a * b, lambda a, b: a * b),
        _unary(cfg, "exp", (r, c), pydl.exp, torch.exp),
        _unary(cfg, "gelu", (r, c), F.gelu, TF.gelu),
        _unary(cfg, "sigmoid", (r, c), pydl.sigmoid, torch.sigmoid),
    ]
