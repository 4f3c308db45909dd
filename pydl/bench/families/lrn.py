"""local_response_norm: AlexNet's first LRN (size 5, alpha 1e-4, beta 0.75, k 2 over 96 channels of
55 x 55), float32, forward and forward + backward, both rungs of pydl.kernels.variants("lrn") and
the fast one under each ISA.

The rate is GB/s of the unavoidable traffic: forward reads x and writes y (pydl also writes the
saved denominator, counted: it is what the backward reads instead of recomputing the window sums);
forward + backward adds reading the gradient and writing dx. torch builds LRN from pow / avg_pool3d
and runs its backward through autograd.
"""
from ..registry import Case, kernel_variants, register
from ._inputs import randn

import pydl


def _F(x):
    if isinstance(x, pydl.Tensor):
        return pydl.nn.functional
    import torch.nn.functional as F
    return F


def _fwd(x, g):
    return _F(x).local_response_norm(x, 5, 1e-4, 0.75, 2.0)


def _fwd_bwd(x, g):
    x.grad = None
    _F(x).local_response_norm(x, 5, 1e-4, 0.75, 2.0).backward(g)
    return x.grad


@register("lrn", "local_response_norm (AlexNet layer 1), forward and forward+backward, float32; GB/s")
def cases(cfg):
    n, c, h = cfg.pick(default=(16, 96, 55), quick=(4, 96, 55), tiny=(1, 8, 7))
    numel = n * c * h * h

    def make_inputs(grad):
        def make():
            pydl.manual_seed(0)
            x, tx = randn(n, c, h, h)
            g, tg = randn(n, c, h, h)
            if grad:
                x.requires_grad_()
                tx.requires_grad_()
            return (x, g), (tx, tg)
        return make

    shape = f"{n}x{c}x{h}x{h}"
    return [
        Case(op="lrn forward", shape=shape, make_inputs=make_inputs(False),
             variants=kernel_variants(cfg, "lrn", _fwd, isas=cfg.isas), torch_fn=_fwd,
             bytes=3 * 4.0 * numel),
        Case(op="lrn forward+backward", shape=shape, make_inputs=make_inputs(True),
             variants=kernel_variants(cfg, "lrn", _fwd_bwd, isas=cfg.isas), torch_fn=_fwd_bwd,
             bytes=8 * 4.0 * numel),
    ]
