"""conv2d: every rung of pydl.kernels.variants("conv2d") (and the per-shape default) against
torch.nn.functional.conv2d, float32, on ResNet-style layers: 3x3 stride 1, a 1x1 expansion,
a 3x3 stride-2 downsample and a depthwise 3x3; forward alone and forward + backward (the
gradients of input and weight, as an inner layer of a network needs).

Variants: direct, im2col (+ the packed GEMM), winograd (F(2x2, 3x3): only the 3x3 stride-1 layer
runs Winograd; on the other layers that row is its im2col fallback), and auto, the per-shape default.
The flops column counts the direct convolution's multiply-adds for every variant, so Winograd's
rate is "effective" GFLOP/s (it does 2.25x fewer multiplies).

flops: 2 * N * OC * OH * OW * (C / groups) * KH * KW for the forward; the backward does two more
products of the same size (input gradient and weight gradient), so forward + backward is 3x.
"""
from ..registry import Case, Variant, register, kernel_variants
from ._inputs import randn

import pydl


def _out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


def _case(cfg, name, n, c, h, oc, k, stride, pad, groups=1, backward=False, direct_max=None):
    oh = _out(h, k, stride, pad)
    depth = (c // groups) * k * k
    flops = 2.0 * n * oc * oh * oh * depth * (3 if backward else 1)
    kw = dict(stride=stride, padding=pad, groups=groups)

    def make_inputs():
        import torch

        pydl.manual_seed(0)
        x, tx = randn(n, c, h, h)
        w, tw = randn(oc, c // groups, k, k)
        if not backward:
            return (x, w), (tx, tw)
        g, tg = randn(n, oc, oh, oh)
        tx2, tw2 = tx.clone().requires_grad_(), tw.clone().requires_grad_()
        return (x.requires_grad_(), w.requires_grad_(), g), (tx2, tw2, tg)

    if backward:
        def fn(x, w, g):
            x.grad = None
            w.grad = None
            out = (pydl if isinstance(x, pydl.Tensor) else _torch()).nn.functional.conv2d(x, w, **kw)
            out.backward(g)
            return out, x.grad, w.grad
    else:
        def fn(x, w):
            return (pydl if isinstance(x, pydl.Tensor) else _torch()).nn.functional.conv2d(x, w, **kw)

    variants = kernel_variants(cfg, "conv2d", fn, max_flops={"direct": direct_max})
    # the per-shape default (what pydl runs when nothing is forced)
    variants.append(Variant("auto", fn, isa=cfg.default_isa, kernel=("conv2d", "auto")))
    shape = f"{n}x{c}x{h}x{h} {k}x{k}/{stride}{' g' + str(groups) if groups > 1 else ''} -> {oc}"
    return Case(op=f"conv2d {'fwd+bwd' if backward else 'fwd'} ({name})", shape=shape,
                make_inputs=make_inputs, variants=variants, torch_fn=fn, flops=flops,
                bytes=4.0 * (n * c * h * h + oc * (c // groups) * k * k + n * oc * oh * oh),
                # depth-long float32 sums (the weight gradient sums over N*OH*OW)
                tol=2e-5 * max(1.0, (max(depth, n * oh * oh) if backward else depth) ** 0.5))


def _torch():
    import torch
    return torch


@register("conv2d", "conv2d float32 NCHW, ResNet-style layers, forward and forward+backward; compute-bound")
def cases(cfg):
    n, h = cfg.pick(default=(8, 56), quick=(2, 28), tiny=(1, 8))
    c = cfg.pick(default=64, quick=32, tiny=4)
    direct_max = cfg.pick(default=2e9, quick=2e8, tiny=1e7)
    out = []
    for backward in (False, True):
        out += [
            _case(cfg, "3x3", n, c, h, c, 3, 1, 1, backward=backward, direct_max=direct_max),
            _case(cfg, "1x1", n, c, h, 4 * c, 1, 1, 0, backward=backward, direct_max=direct_max),
            _case(cfg, "3x3 stride 2", n, c, h, 2 * c, 3, 2, 1, backward=backward, direct_max=direct_max),
            _case(cfg, "depthwise 3x3", n, c, h, c, 3, 1, 1, groups=c, backward=backward,
                  direct_max=direct_max),
        ]
    return out
