"""softmax / log_softmax and layer_norm (float32, forward), under every ISA, plus the plain
reference kernels; cross_entropy forward+backward.

The rate is GB/s of the unavoidable traffic: the input read once and the output written once
(layer_norm also reads weight and bias; cross_entropy reads the logits twice -- forward and
backward -- and writes the gradient once).
"""
from ..registry import Case, Variant, isa_variants, register
from ._inputs import randn

import pydl


def _x(r, c):
    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(r, c)
        return (x,), (tx,)
    return make_inputs


def _reference(fn_c):
    return Variant("reference", lambda x: pydl.Tensor._wrap(fn_c(x)))


@register("softmax", "softmax / log_softmax over the last dim and over dim 0, float32; memory-bound (GB/s)")
def softmax_cases(cfg):
    r, c = cfg.pick(default=(4096, 1024), quick=(1024, 1024), tiny=(64, 64))
    nbytes = 2 * 4.0 * r * c
    C = pydl._C
    return [
        Case(op="softmax dim=-1", shape=f"{r}x{c}", make_inputs=_x(r, c),
             variants=isa_variants(cfg, lambda x: x.softmax(-1))
             + [_reference(lambda x: C.softmax_reference(x._impl, 1, False))],
             torch_fn=lambda x: x.softmax(-1), bytes=nbytes),
        Case(op="log_softmax dim=-1", shape=f"{r}x{c}", make_inputs=_x(r, c),
             variants=isa_variants(cfg, lambda x: x.log_softmax(-1)),
             torch_fn=lambda x: x.log_softmax(-1), bytes=nbytes),
        Case(op="softmax dim=0 (columns)", shape=f"{r}x{c}", make_inputs=_x(r, c),
             variants=isa_variants(cfg, lambda x: x.softmax(0)),
             torch_fn=lambda x: x.softmax(0), bytes=nbytes),
    ]


@register("layer_norm", "layer_norm over the last dim (weight, bias), float32; memory-bound (GB/s)")
def layer_norm_cases(cfg):
    import torch

    r, c = cfg.pick(default=(4096, 1024), quick=(1024, 1024), tiny=(64, 64))

    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(r, c)
        w, tw = randn(c)
        b, tb = randn(c)
        return (x, w, b), (tx, tw, tb)

    F = pydl.nn.functional
    return [
        Case(op="layer_norm", shape=f"{r}x{c}", make_inputs=make_inputs,
             variants=isa_variants(cfg, lambda x, w, b: F.layer_norm(x, (c,), w, b))
             + [Variant("reference", lambda x, w, b: pydl.Tensor._wrap(
                 pydl._C.layer_norm(x._impl, [c], w._impl, b._impl, 1e-5, True)[0]))],
             torch_fn=lambda x, w, b: torch.nn.functional.layer_norm(x, (c,), w, b),
             bytes=2 * 4.0 * r * c + 8.0 * c),
    ]
