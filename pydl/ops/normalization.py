"""layer_norm, batch_norm (and local_response_norm as a composite).

Kernels in csrc/cpu/normalization.cpp: layer_norm computes mean and variance
per row in cache (two passes over L1, one over memory) and saves mean / rstd
for the backward; batch_norm computes per-channel statistics, updates the
running statistics in place with the unbiased variance (as torch), and has a
fused backward for training and eval.
"""
import numbers

from .. import _C
from ..autograd import Function
from .._tensor import Tensor


def _impl(t):
    return None if t is None else t._impl


class _LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        # No input needs a gradient: no backward, so mean / rstd are not kept.
        y, mean, rstd = _C.layer_norm(x._impl, list(normalized_shape), _impl(weight), _impl(bias), float(eps),
                                      save_stats=any(ctx.needs_input_grad))
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.rstd = mean, rstd
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx, dw, db = _C.layer_norm_backward(g._impl, x._impl, ctx.mean, ctx.rstd, _impl(weight),
                                            bool(need[0]), bool(need[1]), bool(need[2]))
        wrap = lambda t, n: Tensor._wrap(t) if n else None  # noqa: E731
        return wrap(dx, need[0]), wrap(dw, need[1]), wrap(db, need[2]), None, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalises over the trailing dims named by normalized_shape, then y * weight + bias."""
    if isinstance(normalized_shape, numbers.Integral):  # torch's F.layer_norm refuses an int too
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int")
    return _LayerNorm.apply(input, weight, bias, tuple(int(d) for d in normalized_shape), eps)


class _BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        y, mean, rstd = _C.batch_norm(x._impl, _impl(running_mean), _impl(running_var), _impl(weight),
                                      _impl(bias), bool(training), float(momentum), float(eps))
        if training:
            for r in (running_mean, running_var):
                if r is not None:
                    r._bump_version()
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.rstd, ctx.training = mean, rstd, bool(training)
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx, dw, db = _C.batch_norm_backward(g._impl, x._impl, ctx.mean, ctx.rstd, _impl(weight), ctx.training,
                                            bool(need[0]), bool(need[1]), bool(need[2]))
        wrap = lambda t, n: Tensor._wrap(t) if n else None  # noqa: E731
        return wrap(dx, need[0]), wrap(dw, need[1]), wrap(db, need[2]), None, None, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Per-channel normalisation of (N, C), (N, C, L) or (N, C, H, W) input. training: batch
    statistics, and running stats (when given) updated in place with momentum and the unbiased
    variance; eval: the running statistics."""
    if training:
        size = list(input.shape)
        n = size[0] if size else 1
        for s in size[2:]:
            n *= s
        if n == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"torch.Size({size})")
    if momentum is None:
        momentum = 0.0  # torch's modules pass a cumulative factor; F.batch_norm with None means 0
    return _BatchNorm.apply(input, weight, bias, running_mean, running_var, training, momentum, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002
    """AlexNet's LRN across channels: x / (k + alpha/size * sum_{window} x^2)^beta (as torch,
    a composite of differentiable ops: the window sum is an average pool over channels)."""
    from ..ops import elementwise as E
    from ..ops import shape as S
    dim = input.ndim
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    sq = input * input
    c = input.shape[1]
    # zero-pad the channel dim by (size // 2, (size - 1) // 2), then a windowed sum
    lead, trail = size // 2, (size - 1) // 2
    shp = list(sq.shape)
    parts = []
    if lead:
        parts.append(_zeros_like_shape(sq, shp[:1] + [lead] + shp[2:]))
    parts.append(sq)
    if trail:
        parts.append(_zeros_like_shape(sq, shp[:1] + [trail] + shp[2:]))
    padded = S.cat(parts, 1) if len(parts) > 1 else sq
    acc = None
    for i in range(size):
        win = padded[:, i:i + c]
        acc = win if acc is None else acc + win
    div = E.pow(acc * (alpha / size) + k, beta)
    return input / div


def _zeros_like_shape(t, shape):
    from .._creation import zeros
    return zeros(shape, dtype=t.dtype)
