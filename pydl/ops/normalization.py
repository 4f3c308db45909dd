"""layer_norm, batch_norm, local_response_norm.

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


class _LocalResponseNorm(Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        y, den = _C.local_response_norm(x._impl, size, alpha, beta, k)
        ctx.args = (size, alpha, beta, k)
        ctx.save_for_backward(x)
        ctx.y, ctx.den = y, den
        return Tensor._wrap(y)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dx = _C.local_response_norm_backward(g._impl, x._impl, ctx.y, ctx.den, *ctx.args)
        return Tensor._wrap(dx), None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002
    """AlexNet's LRN across channels (dim 1) of a 3-D or higher input, exactly as torch:
    y = x / ((sum of x^2 over the channel window [c - size//2, c + (size-1)//2]) / size * alpha + k)^beta
    (zero padding at the channel edges, still divided by size). Kernel in csrc/cpu/lrn.cpp."""
    dim = input.ndim
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    return _LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k))
