"""cross_entropy (fused with log_softmax) and nll_loss, with PyTorch's options.

Kernels in csrc/cpu/loss.cpp: the forward computes one log-sum-exp per row and
never stores the log-probabilities; the backward recomputes softmax on the fly
and writes (softmax - smoothed one-hot) * scale in one pass. Reduction,
ignore_index, class weights and label smoothing follow torch exactly (mean
divides by the summed weight of the non-ignored targets; all ignored -> nan).
"""
from .. import _C
from ..autograd import Function
from .._tensor import Tensor

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def _impl(t):
    return None if t is None else t._impl


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        loss, lse = _C.cross_entropy(x._impl, target._impl, _impl(weight), ignore_index, reduction,
                                     label_smoothing)
        ctx.save_for_backward(x, target, weight)
        ctx.lse, ctx.args = lse, (ignore_index, reduction, label_smoothing)
        return Tensor._wrap(loss)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        ii, red, ls = ctx.args
        dx = _C.cross_entropy_backward(g._impl, x._impl, target._impl, _impl(weight), ctx.lse, ii, red, ls)
        return Tensor._wrap(dx), None, None, None, None, None


class _NllLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        ctx.save_for_backward(x, target, weight)
        ctx.args = (ignore_index, reduction)
        return Tensor._wrap(_C.nll_loss(x._impl, target._impl, _impl(weight), ignore_index, reduction))

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        ii, red = ctx.args
        dx = _C.nll_loss_backward(g._impl, x._impl, target._impl, _impl(weight), ii, red)
        return Tensor._wrap(dx), None, None, None, None


def _check_tensor(name, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}(): argument must be Tensor, not {type(t).__name__}")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for unbatched input) + nll_loss, fused. target: class
    indices (int64, shape (N,) / (N, d1, ...) / ()) or class probabilities (input's shape)."""
    _check_tensor("cross_entropy", input)
    _check_tensor("cross_entropy", target)
    red = _reduction(reduction, size_average, reduce)
    return _CrossEntropy.apply(input, target, weight, int(ignore_index), red, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    """-weight[t] * input[n, t] with torch's reductions (input holds log-probabilities)."""
    _check_tensor("nll_loss", input)
    _check_tensor("nll_loss", target)
    red = _reduction(reduction, size_average, reduce)
    return _NllLoss.apply(input, target, weight, int(ignore_index), red)
