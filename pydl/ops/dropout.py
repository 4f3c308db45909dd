"""Fused dropout (torch.nn.functional.dropout / dropout1d / dropout2d).

Kernel in csrc/cpu/dropout.cpp: one pass draws the keep mask with Philox4x32-10 (a counter-based
generator: element i's bits depend only on (seed, i), never on the thread count) and writes
x * keep / (1 - p). The seed is drawn from pydl's global generator, so ``pydl.manual_seed`` makes a
run reproducible and successive calls differ. The backward regenerates the same mask from the
seed (dx = dropout(dy) with that seed): no mask tensor is kept alive.
"""
import warnings

from .. import _C
from .. import _dtype as _D
from .._tensor import Tensor
from ..autograd import Function


def _next_seed():
    """64 random bits from pydl's generator (two exact 32-bit draws)."""
    a, b = Tensor._wrap(_C.randint(0, 1 << 32, [2], _C.DType.int64)).tolist()
    return (int(a) << 32) | int(b)


class _Dropout(Function):
    @staticmethod
    def forward(ctx, x, p, seed):
        ctx.p, ctx.seed = p, seed
        return Tensor._wrap(_C.dropout(x._impl, p, seed))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.dropout(g._impl, ctx.p, ctx.seed)), None, None


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply(input, fn, inplace):  # noqa: A002
    if inplace:
        from .. import _methods
        return _methods._inplace(fn)(input)
    return fn(input)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zeroes each element with probability p and scales the rest by 1/(1-p) while training;
    the identity in eval mode (p=1 gives zeros)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"dropout(): argument 'input' must be Tensor, not {type(input).__name__}")
    _check_p(p)
    if not training:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"dropout: expected a floating point input, got {input.dtype}")
    if p == 0.0 or input.numel() == 0:
        return input  # torch returns the input itself here too
    seed = _next_seed()
    return _apply(input, lambda x: _Dropout.apply(x, float(p), seed), inplace)


def _feature_dropout(input, p, training, inplace, batched_dims):  # noqa: A002
    """Zeroes whole channels: one mask value per (N, C) broadcast over the trailing dims."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"dropout: expected a floating point input, got {input.dtype}")
    from .._creation import ones
    lead = list(input.shape[:batched_dims])
    mask_shape = lead + [1] * (input.ndim - batched_dims)
    mask = Tensor._wrap(_C.dropout(ones(mask_shape, dtype=input.dtype)._impl, float(p), _next_seed()))
    if inplace:
        from .. import _methods
        return _methods._inplace(lambda x: x * mask)(input)
    return input * mask


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout for (N, C, L) or unbatched (C, L) input."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
                           "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, input.ndim - 1)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout for (N, C, H, W) or unbatched (C, H, W) input. As torch, a 3-D input is
    taken as (N, C, L) (with a warning: dropout1d semantics)."""
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a "
                      "batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, "
                      "please switch to using dropout1d instead.", UserWarning, stacklevel=2)
    return _feature_dropout(input, p, training, inplace, min(2, input.ndim))
