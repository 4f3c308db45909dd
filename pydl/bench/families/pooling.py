"""pooling: max_pool2d (2x2/2 and 3x3/2 pad 1), avg_pool2d (2x2/2, 3x3/2 pad 1) and global
adaptive_avg_pool2d (to 1x1) on a ResNet stem-sized float32 activation, forward (inference: no
indices are kept), every rung of pydl.kernels.variants("pooling") and the fastest under each ISA.

The rate is GB/s of the unavoidable traffic: the input read once and the output written once.
"""
from ..registry import Case, kernel_variants, register
from ._inputs import randn

import pydl


def _out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


def _case(cfg, op, shape, out_hw, fn, first):
    n, c, h, w = shape

    def make_inputs():
        pydl.manual_seed(0)
        x, tx = randn(n, c, h, w)
        return (x,), (tx,)

    return Case(op=op, shape=f"{n}x{c}x{h}x{w}", make_inputs=make_inputs,
                variants=kernel_variants(cfg, "pooling", fn, isas=cfg.isas if first else None),
                torch_fn=fn, bytes=4.0 * n * c * (h * w + out_hw[0] * out_hw[1]))


def _F(x):
    if isinstance(x, pydl.Tensor):
        return pydl.nn.functional
    import torch.nn.functional as F
    return F


@register("pooling", "max/avg pool 2d and global average pool on float32 NCHW; memory-bound (GB/s)")
def cases(cfg):
    n, c, h = cfg.pick(default=(8, 64, 112), quick=(2, 64, 112), tiny=(1, 4, 16))
    s = (n, c, h, h)
    o2, o3 = _out(h, 2, 2, 0), _out(h, 3, 2, 1)
    return [
        _case(cfg, "max_pool2d 2x2/2", s, (o2, o2), lambda x: _F(x).max_pool2d(x, 2), True),
        _case(cfg, "max_pool2d 3x3/2 p1", s, (o3, o3),
              lambda x: _F(x).max_pool2d(x, 3, stride=2, padding=1), True),
        _case(cfg, "avg_pool2d 2x2/2", s, (o2, o2), lambda x: _F(x).avg_pool2d(x, 2), False),
        _case(cfg, "avg_pool2d 3x3/2 p1", s, (o3, o3),
              lambda x: _F(x).avg_pool2d(x, 3, stride=2, padding=1), False),
        _case(cfg, "adaptive_avg_pool2d -> 1x1", s, (1, 1), lambda x: _F(x).adaptive_avg_pool2d(x, 1), False),
    ]
