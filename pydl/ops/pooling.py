"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d (and the 1-d
wrappers max_pool1d / avg_pool1d), with their gradients.

Kernels in csrc/cpu/pooling.cpp (a plain reference and a version vectorised across output
columns), argument checks with PyTorch's messages in csrc/core/ops_pooling.cpp. Inputs are
[N, C, H, W] or unbatched [C, H, W]. Max pooling saves the flat argmax of each output within its
H x W plane (torch's `indices`); its backward scatters the gradient there. The indices are only
computed when asked for or when a gradient will be needed.
"""
import numbers

from .. import _C
from ..autograd import Function, is_grad_enabled
from .._tensor import Tensor


def _ints(v):
    """int or sequence of ints -> list (the C++ side checks the length, as torch)."""
    if v is None:
        return []
    if isinstance(v, numbers.Integral):
        return [int(v)]
    return [int(a) for a in v]


class _MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, with_indices):
        y, idx = _C.max_pool2d(x._impl, kernel, stride, padding, dilation, ceil_mode, with_indices)
        ctx.idx = idx
        if with_indices:
            return Tensor._wrap(y), Tensor._wrap(idx)
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g, *_):
        dx = _C.max_pool2d_backward(g._impl, ctx.idx, list(ctx.in_shapes[0]))
        return Tensor._wrap(dx), None, None, None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    need_grad = is_grad_enabled() and input.requires_grad
    out = _MaxPool2d.apply(input, _ints(kernel_size), _ints(stride), _ints(padding), _ints(dilation),
                           bool(ceil_mode), bool(return_indices or need_grad))
    if need_grad and not return_indices:
        return out[0]
    return out


class _AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return Tensor._wrap(_C.avg_pool2d(x._impl, *ctx.args))

    @staticmethod
    def backward(ctx, g):
        dx = _C.avg_pool2d_backward(g._impl, list(ctx.in_shapes[0]), *ctx.args)
        return Tensor._wrap(dx), None, None, None, None, None, None


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    return _AvgPool2d.apply(input, _ints(kernel_size), _ints(stride), _ints(padding), bool(ceil_mode),
                            bool(count_include_pad),
                            None if divisor_override is None else int(divisor_override))


def _output_size(input, output_size):
    """int / pair with None entries (keep that input size) -> [oh, ow]."""
    if isinstance(output_size, numbers.Integral):
        return [int(output_size), int(output_size)]
    out = list(output_size)
    if len(out) == 2 and input.ndim >= 2:
        out = [input.shape[-2 + i] if o is None else int(o) for i, o in enumerate(out)]
    return [int(o) if o is not None else -1 for o in out]


class _AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        return Tensor._wrap(_C.adaptive_avg_pool2d(x._impl, output_size))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.adaptive_avg_pool2d_backward(g._impl, list(ctx.in_shapes[0]))), None


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    return _AdaptiveAvgPool2d.apply(input, _output_size(input, output_size))


class _AdaptiveMaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        y, idx = _C.adaptive_max_pool2d(x._impl, output_size)
        ctx.idx = idx
        return Tensor._wrap(y), Tensor._wrap(idx)

    @staticmethod
    def backward(ctx, g, *_):
        return Tensor._wrap(_C.max_pool2d_backward(g._impl, ctx.idx, list(ctx.in_shapes[0]))), None


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    y, idx = _AdaptiveMaxPool2d.apply(input, _output_size(input, output_size))
    return (y, idx) if return_indices else y


# 1-d pooling: the 2-d kernels on [N, C, 1, L] --------------------------------------------------
def _one(v, name, what):
    if isinstance(v, numbers.Integral):
        return int(v)
    v = list(v)
    if len(v) != 1:
        raise RuntimeError(f"{name}: {what} must be a single int, or a tuple of one int")
    return int(v[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    if input.ndim not in (2, 3):
        raise RuntimeError("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch "
                           f"size for input, but got:{list(input.shape)}")
    k = _one(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _one(stride, "max_pool1d", "stride")
    out = max_pool2d(input.unsqueeze(-2), [1, k], [1, s], [0, _one(padding, "max_pool1d", "padding")],
                     [1, _one(dilation, "max_pool1d", "dilation")], ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for "
                           "argument #1 'self' (while checking arguments for avg_pool1d)")
    k = _one(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None or (not isinstance(stride, numbers.Integral) and len(stride) == 0) else \
        _one(stride, "avg_pool1d", "stride")
    out = avg_pool2d(input.unsqueeze(-2), [1, k], [1, s], [0, _one(padding, "avg_pool1d", "padding")],
                     ceil_mode, count_include_pad)
    return out.squeeze(-2)
