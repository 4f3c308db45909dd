"""softmax / log_softmax over any dim, forward and backward.

Kernels in csrc/cpu/softmax.cpp: the last dim runs as rows, any other dim as
[outer, R, inner] columns (no transpose copy); exp is vectorised and the max
is subtracted first, so ±1e4 inputs and -inf entries are fine (a row of only
-inf gives NaN, as torch).
"""
import warnings

from .. import _C
from ..autograd import Function
from .._tensor import Tensor, _wrap_dim


class _Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        ctx.dim, ctx.log = dim, log
        y = Tensor._wrap(_C.softmax(x._impl, dim, log))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return Tensor._wrap(_C.softmax_backward(y._impl, g._impl, ctx.dim, ctx.log)), None, None


def _legacy_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _prep(x, dim, dtype, name):
    if dim is None:
        dim = _legacy_dim(name, x.ndim)
    dim = _wrap_dim(dim, x.ndim)
    if dtype is not None:
        x = x.to(dtype)
    return x, dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """exp(x - max) / sum(exp(x - max)) along dim (PyTorch's signature)."""
    x, dim = _prep(input, dim, dtype, "softmax")
    return _Softmax.apply(x, dim, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """x - max - log(sum(exp(x - max))) along dim."""
    x, dim = _prep(input, dim, dtype, "log_softmax")
    return _Softmax.apply(x, dim, True)


def softmin(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    x, dim = _prep(input, dim, dtype, "softmin")
    return _Softmax.apply(-x, dim, False)
