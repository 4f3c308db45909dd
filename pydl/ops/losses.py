"""Elementwise and probabilistic losses (torch.nn.functional names and semantics):
mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
binary_cross_entropy_with_logits, kl_div, plus sigmoid_focal_loss (torchvision's formula) and a
multi-class softmax focal_loss. (cross_entropy / nll_loss, which have fused kernels, are in
ops/loss.py.)

These are compositions of pydl's differentiable ops (each a checked kernel), written in the
numerically stable forms torch uses: BCE clamps its logs at -100, BCE-with-logits uses
max(-x, 0) + log1p(exp(-|x|)), kl_div treats 0 * log 0 as 0. binary_cross_entropy has its own
backward, torch's formula (x - t) / max(x (1 - x), 1e-12), which stays finite at x = 0 or 1.
"""
import warnings

from .. import _C
from ..autograd import Function
from .._tensor import Tensor
from . import elementwise as E
from .loss import _reduction

_NAMES = {0: "none", 1: "mean", 2: "sum"}


def _check_tensors(name, *ts):
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): argument must be Tensor, not {type(t).__name__}")


def _reduce(loss, red):
    if red == 0:
        return loss
    return loss.sum() if red == 2 else loss.mean()


def _broadcast_pair(name, input, target):  # noqa: A002
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)
    from .. import broadcast_shapes
    shape = broadcast_shapes(input.shape, target.shape)  # RuntimeError naming the sizes, as torch
    return input.expand(*shape), target.expand(*shape)


def _weighted(pointwise, weight, input, red, mean_by_weight_sum=True):  # noqa: A002
    """torch's weighted regression losses: loss * weight; 'mean' is sum / sum(weight) (mse, l1)
    or the plain mean (huber)."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    w = pointwise * weight
    if red == 0:
        return w
    if red == 2:
        return w.sum()
    return w.sum() / weight.sum() if mean_by_weight_sum else w.mean()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    """(input - target)^2 with torch's reductions (broadcasting with a warning, as torch)."""
    _check_tensors("mse_loss", input, target)
    red = _reduction(reduction, size_average, reduce)
    x, t = _broadcast_pair("mse_loss", input, target)
    d = x - t
    if weight is not None:
        return _weighted(d * d, weight, input, red)
    return _reduce(d * d, red)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    """|input - target| with torch's reductions."""
    _check_tensors("l1_loss", input, target)
    red = _reduction(reduction, size_average, reduce)
    x, t = _broadcast_pair("l1_loss", input, target)
    d = E.abs(x - t)
    if weight is not None:
        return _weighted(d, weight, input, red)
    return _reduce(d, red)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: the L1 loss)."""
    _check_tensors("smooth_l1_loss", input, target)
    red = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    x, t = _broadcast_pair("smooth_l1_loss", input, target)
    d = x - t
    ad = E.abs(d)
    if beta == 0.0:
        return _reduce(ad, red)
    # Both branches are finite everywhere, so where()'s masked gradients stay clean.
    loss = E.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)
    return _reduce(loss, red)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (= delta * smooth_l1 with beta=delta)."""
    _check_tensors("huber_loss", input, target)
    red = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}.")
    x, t = _broadcast_pair("huber_loss", input, target)
    d = x - t
    ad = E.abs(d)
    loss = E.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    if weight is not None:
        return _weighted(loss, weight, input, red, mean_by_weight_sum=False)
    return _reduce(loss, red)


# ---------------------------------------------------------------------------
# binary cross entropy
# ---------------------------------------------------------------------------
class _BinaryCrossEntropy(Function):
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100 (as torch: finite at x = 0, 1)."""

    @staticmethod
    def forward(ctx, x, t, w):
        log_x = E.clamp(E.log(x), min=-100.0)
        log_1mx = E.clamp(E.log1p(-x), min=-100.0)
        loss = (t - 1.0) * log_1mx - t * log_x
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w)
        ctx.logs = (log_x, log_1mx)
        return loss

    @staticmethod
    def backward(ctx, g):
        x, t, w = ctx.saved_tensors
        log_x, log_1mx = ctx.logs
        need = ctx.needs_input_grad
        gx = gt = None
        if need[0]:
            # torch's formula: (x - t) / max((1 - x) x, 1e-12)
            gx = g * (x - t) / E.clamp((1.0 - x) * x, min=1e-12)
            if w is not None:
                gx = gx * w
        if need[1]:
            gt = g * (log_1mx - log_x)
            if w is not None:
                gt = gt * w
        return gx, gt, None


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """Binary cross entropy of probabilities ``input`` (each in [0, 1], checked as torch)."""
    _check_tensors("binary_cross_entropy", input, target)
    red = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if input.numel():
        lo, hi = float(input.detach().amin().item()), float(input.detach().amax().item())
        if not (lo >= 0.0 and hi <= 1.0):  # NaN fails too, as torch
            raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None:
        from .. import broadcast_shapes
        weight = weight.expand(*broadcast_shapes(target.shape, weight.shape))
    loss = _BinaryCrossEntropy.apply(input, target, weight)
    return _reduce(loss, red)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """BCE on logits, stable for any magnitude: (1 - t) x + lw (max(-x, 0) + log1p(exp(-|x|))),
    lw = 1 + (pos_weight - 1) t."""
    _check_tensors("binary_cross_entropy_with_logits", input, target)
    red = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    x, t = input, target
    # softplus(-x) without overflow: max(-x, 0) + log1p(exp(-|x|))
    sp = E.clamp(-x, min=0.0) + E.log1p(E.exp(-E.abs(x)))
    if pos_weight is not None:
        lw = (pos_weight - 1.0) * t + 1.0
        loss = (1.0 - t) * x + lw * sp
    else:
        loss = (1.0 - t) * x + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, red)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    """Pointwise KL term: target (log target - input) (0 where target == 0), or with log_target
    exp(target) (target - input). 'batchmean' divides the sum by the batch size (input.size(0))."""
    _check_tensors("kl_div", input, target)
    if size_average is not None or reduce is not None:
        red = _reduction(reduction, size_average, reduce)
        batchmean = False
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          UserWarning, stacklevel=2)
        batchmean = reduction == "batchmean"
        red = _reduction("sum" if batchmean else reduction)
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        # xlogy(t, t) - t * x; log of 1 where t == 0 so 0 * log 0 is 0 in value and gradient
        # (a negative target still gives NaN, as torch).
        safe = E.where(target == 0, 1.0, target)
        loss = target * E.log(safe) - target * input
    out = _reduce(loss, red)
    if batchmean and input.ndim != 0:
        out = out / input.shape[0]
    return out


# ---------------------------------------------------------------------------
# focal losses
# ---------------------------------------------------------------------------
def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (Lin et al., RetinaNet): BCE-with-logits weighted by
    (1 - p_t)^gamma and, for alpha >= 0, by alpha_t = alpha t + (1 - alpha)(1 - t)."""
    _check_tensors("sigmoid_focal_loss", inputs, targets)
    p = E.sigmoid(inputs)
    ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: 'none', "
                     "'mean', 'sum'")


def focal_loss(input, target, gamma=2.0, alpha=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Multi-class focal loss on logits: -alpha[t] (1 - p_t)^gamma log p_t with
    log p = log_softmax(input, 1) (dim 0 for unbatched (C,) input), target class indices of shape
    (N,) / (N, d1, ...) / (). Targets equal to ignore_index contribute 0; 'mean' divides by the
    summed alpha of the non-ignored targets (their count without alpha), so gamma = 0 is exactly
    cross_entropy(input, target, weight=alpha, ignore_index=ignore_index)."""
    from .. import _dtype as _D
    from .softmax import log_softmax
    _check_tensors("focal_loss", input, target)
    red = _reduction(reduction)
    if target.dtype is not _D.int64:
        raise RuntimeError(f"focal_loss: expected target of dtype int64 (class indices), got {target.dtype}")
    if gamma < 0:
        raise ValueError(f"focal_loss: gamma must be >= 0, got {gamma}")
    unbatched = input.ndim == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if input.ndim < 2:
        raise ValueError(f"focal_loss: expected input of shape (C,), (N, C) or (N, C, d1, ...), got "
                         f"{tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if tuple(target.shape) != (n,) + tuple(input.shape[2:]):
        raise ValueError(f"focal_loss: expected target of shape {(n,) + tuple(input.shape[2:])}, got "
                         f"{tuple(target.shape)}")
    valid = target != ignore_index
    if target.numel():
        tv = E.where(valid, target, 0)
        lo, hi = int(tv.amin().item()), int(tv.amax().item())
        if lo < 0 or hi >= c:
            raise IndexError(f"Target {lo if lo < 0 else hi} is out of bounds (number of classes {c}).")
    else:
        tv = target
    if alpha is not None:
        if not isinstance(alpha, Tensor) or alpha.ndim != 1 or alpha.shape[0] != c:
            raise RuntimeError(f"focal_loss: alpha must be a 1-D tensor of {c} per-class weights")
    logp = log_softmax(input, 1)
    logp_t = logp.gather(1, tv.unsqueeze(1)).squeeze(1)
    p_t = E.exp(logp_t)
    loss = -logp_t if gamma == 0 else -((1.0 - p_t) ** gamma) * logp_t
    vf = valid.to(input.dtype)
    w = vf if alpha is None else alpha.index_select(0, tv.reshape(-1)).reshape(*tv.shape) * vf
    loss = loss * w
    if red == 0:
        return loss.squeeze(0) if unbatched else loss
    if red == 2:
        return loss.sum()
    return loss.sum() / w.sum()
