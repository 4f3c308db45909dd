"""Losses against torch, forward and backward (input and, where torch differentiates it, target):
mse / l1 / smooth_l1 / huber (weights, broadcasting, legacy size_average / reduce), binary cross
entropy (probabilities, edges 0 and 1, weights), BCE with logits (large magnitudes, weight,
pos_weight), kl_div (log_target, batchmean), sigmoid focal loss (torchvision's formula, written
here in torch) and the softmax focal loss (reference formula in torch; gamma = 0 is cross_entropy),
the loss modules, float64 finite differences, and the bad calls."""
import warnings

import numpy as np
import pytest
import torch

import pydl
from harness import check_error, check_op, fd_gradcheck, lib_fns, make_pair, to_numpy

F = pydl.nn.functional
TF = torch.nn.functional
REDUCTIONS = ["none", "mean", "sum"]
SHAPES = [(), (1,), (7,), (4, 33), (2, 3, 7), (1, 127), (0,), (3, 0)]


def _quiet(fn):
    """Runs fn with warnings silenced (torch warns about mean over empty tensors)."""
    def g(*a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*a)
    return g


# ------------------------------------------------------------------------------------------
# regression losses
# ------------------------------------------------------------------------------------------
REGRESSION = [
    ("mse_loss", lambda L, x, t, r: L.nn.functional.mse_loss(x, t, reduction=r)),
    ("l1_loss", lambda L, x, t, r: L.nn.functional.l1_loss(x, t, reduction=r)),
    ("smooth_l1_b1", lambda L, x, t, r: L.nn.functional.smooth_l1_loss(x, t, reduction=r)),
    ("smooth_l1_b05", lambda L, x, t, r: L.nn.functional.smooth_l1_loss(x, t, reduction=r, beta=0.5)),
    ("smooth_l1_b2", lambda L, x, t, r: L.nn.functional.smooth_l1_loss(x, t, reduction=r, beta=2.0)),
    ("smooth_l1_b0", lambda L, x, t, r: L.nn.functional.smooth_l1_loss(x, t, reduction=r, beta=0.0)),
    ("huber_d1", lambda L, x, t, r: L.nn.functional.huber_loss(x, t, reduction=r)),
    ("huber_d05", lambda L, x, t, r: L.nn.functional.huber_loss(x, t, reduction=r, delta=0.5)),
    ("huber_d3", lambda L, x, t, r: L.nn.functional.huber_loss(x, t, reduction=r, delta=3.0)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("row", REGRESSION, ids=lambda r: r[0])
def test_regression_losses(row, reduction, dtype):
    name, fn = row
    for shape in SHAPES:
        check_op(name, *lib_fns(_quiet(lambda L, x, t: fn(L, x, t, reduction))), shapes=[shape, shape],
                 dtype=dtype, low=-3, high=3)
    check_op(name + "_nc", *lib_fns(lambda L, x, t: fn(L, x, t, reduction)), shapes=[(5, 33), (5, 33)],
             noncontiguous=True, low=-3, high=3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_weighted_and_broadcast(reduction):
    for name in ("mse_loss", "l1_loss", "huber_loss"):
        check_op(name + "_w", *lib_fns(lambda L, x, t, w: getattr(L.nn.functional, name)(x, t, reduction=reduction,
                                                                                         weight=w)),
                 shapes=[(4, 7), (4, 7), (4, 7)], low=0.1, high=2, grad=[0, 1])
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        def fn(L, x, t):
            with pytest.warns(UserWarning, match="target size"):
                return getattr(L.nn.functional, name)(x, t, reduction=reduction)
        check_op(name + "_bcast", *lib_fns(fn), shapes=[(4, 7), (1, 7)], low=-3, high=3)


def test_regression_legacy_and_large():
    check_op("mse_legacy", *lib_fns(lambda L, x, t: L.nn.functional.mse_loss(x, t, size_average=False)),
             shapes=[(3, 5), (3, 5)])
    check_op("l1_legacy", *lib_fns(lambda L, x, t: L.nn.functional.l1_loss(x, t, reduce=False)),
             shapes=[(3, 5), (3, 5)])
    check_op("smooth_l1_big", *lib_fns(lambda L, x, t: L.nn.functional.smooth_l1_loss(x, t, reduction="sum")),
             shapes=[(6, 9), (6, 9)], dtype="float64", low=-1e4, high=1e4)
    check_op("huber_big", *lib_fns(lambda L, x, t: L.nn.functional.huber_loss(x, t, reduction="none")),
             shapes=[(6, 9), (6, 9)], low=-1e3, high=1e3)


def test_regression_fd():
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        fd_gradcheck(name, lambda x, t: getattr(F, name)(x, t, reduction="mean"), shapes=[(3, 4), (3, 4)])


def test_regression_errors():
    check_error(lambda: F.smooth_l1_loss(pydl.ones(3), pydl.ones(3), beta=-1.0), RuntimeError, match="negative",
                torch_fn=lambda: TF.smooth_l1_loss(torch.ones(3), torch.ones(3), beta=-1.0))
    check_error(lambda: F.mse_loss(pydl.ones(3), pydl.ones(3), reduction="avg"), ValueError,
                torch_fn=lambda: TF.mse_loss(torch.ones(3), torch.ones(3), reduction="avg"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_error(lambda: F.mse_loss(pydl.ones(3), pydl.ones(4)), RuntimeError,
                    torch_fn=lambda: TF.mse_loss(torch.ones(3), torch.ones(4)))
    check_error(lambda: F.l1_loss(pydl.ones(3), pydl.ones(3), weight=pydl.ones(2)), ValueError,
                torch_fn=lambda: TF.l1_loss(torch.ones(3), torch.ones(3), weight=torch.ones(2)))


# ------------------------------------------------------------------------------------------
# binary cross entropy
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(reduction, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(0)
    for shape in [(7,), (4, 33), (2, 3, 7), (), (0, 3)]:
        x = rng.uniform(0.02, 0.98, shape).astype(npd)
        t = rng.uniform(0, 1, shape).astype(npd)
        w = rng.uniform(0.5, 2, shape).astype(npd)
        check_op("bce", *lib_fns(_quiet(lambda L, x, t: L.nn.functional.binary_cross_entropy(x, t,
                                                                                              reduction=reduction))),
                 inputs=[x, t])
        check_op("bce_w", *lib_fns(_quiet(lambda L, x, t, w: L.nn.functional.binary_cross_entropy(
            x, t, w, reduction=reduction))), inputs=[x, t, w], grad=[0, 1])
    # weight broadcast over the batch: (N, C) input, (C,) weight
    x = rng.uniform(0.02, 0.98, (5, 3)).astype(npd)
    t = (rng.uniform(0, 1, (5, 3)) > 0.5).astype(npd)
    w = rng.uniform(0.5, 2, (3,)).astype(npd)
    check_op("bce_wb", *lib_fns(lambda L, x, t, w: L.nn.functional.binary_cross_entropy(x, t, w,
                                                                                        reduction=reduction)),
             inputs=[x, t, w], grad=[0])


def test_bce_edges():
    """Inputs exactly 0 and 1: logs clamped at -100, gradient (x - t) / max(x (1 - x), 1e-12)."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.5], dtype=np.float32)
    check_op("bce_edges", *lib_fns(lambda L, x, t: L.nn.functional.binary_cross_entropy(x, t, reduction="none")),
             inputs=[x, t], grad=[0])


def test_bce_fd_and_errors():
    fd_gradcheck("bce_fd", lambda x, t: F.binary_cross_entropy(x, t), shapes=[(3, 4), (3, 4)], low=0.1, high=0.9)
    check_error(lambda: F.binary_cross_entropy(pydl.tensor([0.5, 1.5]), pydl.tensor([0.0, 1.0])), RuntimeError,
                match="between 0 and 1",
                torch_fn=lambda: TF.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.tensor([0.0, 1.0])))
    check_error(lambda: F.binary_cross_entropy(pydl.tensor([-0.1]), pydl.tensor([0.0])), RuntimeError,
                torch_fn=lambda: TF.binary_cross_entropy(torch.tensor([-0.1]), torch.tensor([0.0])))
    check_error(lambda: F.binary_cross_entropy(pydl.full((2,), 0.5), pydl.ones(3)), ValueError, match="target size",
                torch_fn=lambda: TF.binary_cross_entropy(torch.full((2,), 0.5), torch.ones(3)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(1)
    Fn = lambda L: L.nn.functional.binary_cross_entropy_with_logits  # noqa: E731
    for shape in [(7,), (4, 33), (2, 3, 7), (), (0,)]:
        x = rng.uniform(-5, 5, shape).astype(npd)
        t = rng.uniform(0, 1, shape).astype(npd)
        check_op("bcel", *lib_fns(_quiet(lambda L, x, t: Fn(L)(x, t, reduction=reduction))), inputs=[x, t])
    x = rng.uniform(-40, 40, (6, 5)).astype(npd)   # large magnitudes: exp never overflows
    t = (rng.uniform(0, 1, (6, 5)) > 0.5).astype(npd)
    w = rng.uniform(0.5, 2, (6, 5)).astype(npd)
    pw = rng.uniform(0.5, 3, (5,)).astype(npd)
    check_op("bcel_big", *lib_fns(lambda L, x, t: Fn(L)(x, t, reduction=reduction)), inputs=[x, t])
    check_op("bcel_w_pw", *lib_fns(lambda L, x, t, w, pw: Fn(L)(x, t, w, reduction=reduction, pos_weight=pw)),
             inputs=[x, t, w, pw], grad=[0, 1])
    check_op("bcel_pw", *lib_fns(lambda L, x, t, pw: Fn(L)(x, t, reduction=reduction, pos_weight=pw)),
             inputs=[x, t, pw], grad=[0, 1])  # torch does not differentiate pos_weight
    check_op("bcel_nc", *lib_fns(lambda L, x, t: Fn(L)(x, t, reduction=reduction)), shapes=[(5, 33), (5, 33)],
             noncontiguous=True, dtype=dtype)


def test_bce_with_logits_fd_and_errors():
    pw = pydl.tensor([0.5, 2.0, 1.5], dtype=pydl.float64)
    fd_gradcheck("bcel_fd", lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
                 shapes=[(4, 3), (4, 3)])
    check_error(lambda: F.binary_cross_entropy_with_logits(pydl.ones(2), pydl.ones(3)), ValueError,
                match="same as input size",
                torch_fn=lambda: TF.binary_cross_entropy_with_logits(torch.ones(2), torch.ones(3)))


# ------------------------------------------------------------------------------------------
# kl_div
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(log_target, reduction, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(2)

    def fn(L, x, t):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'mean' warns in both libraries (checked below)
            return L.nn.functional.kl_div(x, t, reduction=reduction, log_target=log_target)
    for shape in [(4, 7), (2, 3, 33), (1, 5), (7,)]:
        logits = rng.standard_normal(shape)
        x = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(npd)   # log-probabilities
        q = rng.uniform(0, 1, shape)
        if not log_target:
            q[..., 0] = 0.0                       # 0 * log 0 = 0: forward and input gradient
            t = (q / q.sum(-1, keepdims=True)).astype(npd)
            check_op("kl_div", *lib_fns(fn), inputs=[x, t], grad=[0])
            t_pos = np.clip(t, 0.05, None).astype(npd)   # target gradient log(t) + 1 - x needs t > 0
            check_op("kl_div_tgrad", *lib_fns(fn), inputs=[x, t_pos])
        else:
            t = np.log(q / q.sum(-1, keepdims=True)).astype(npd)
            check_op("kl_div_log", *lib_fns(fn), inputs=[x, t])
    if reduction == "mean":
        with pytest.warns(UserWarning, match="batchmean"):
            F.kl_div(pydl.zeros(2, 2), pydl.ones(2, 2), reduction="mean")


def test_kl_div_fd():
    fd_gradcheck("kl_fd", lambda x, t: F.kl_div(x, t, reduction="batchmean"), shapes=[(3, 4), (3, 4)],
                 low=0.1, high=1.0)
    fd_gradcheck("kl_fd_log", lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True), shapes=[(3, 4), (3, 4)])


# ------------------------------------------------------------------------------------------
# focal losses
# ------------------------------------------------------------------------------------------
def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss's formula (torchvision is not installed)."""
    p = torch.sigmoid(inputs)
    ce_loss = TF.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_loss(reduction, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(3)
    for shape in [(7,), (4, 33), (2, 3, 5, 5)]:
        x = rng.uniform(-6, 6, shape).astype(npd)
        t = (rng.uniform(0, 1, shape) > 0.7).astype(npd)
        for alpha, gamma in [(0.25, 2), (-1, 2), (0.5, 0), (0.25, 1.5), (0.9, 3)]:
            check_op(f"sfl_a{alpha}_g{gamma}",
                     lambda x, t: F.sigmoid_focal_loss(x, t, alpha, gamma, reduction),
                     lambda x, t: torchvision_sigmoid_focal_loss(x, t, alpha, gamma, reduction),
                     inputs=[x, t], grad=[0])
    fd_gradcheck("sfl_fd", lambda x: F.sigmoid_focal_loss(x, pydl.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]],
                                                                         dtype=pydl.float64), reduction="sum"),
                 shapes=[(2, 3)])
    with pytest.raises(ValueError, match="reduction"):
        F.sigmoid_focal_loss(pydl.ones(2), pydl.ones(2), reduction="avg")


def torch_focal_loss(input, target, gamma=2.0, alpha=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Reference multi-class focal loss, -alpha_t (1 - p_t)^gamma log p_t, written in torch."""
    if input.dim() == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
        unbatched = True
    else:
        unbatched = False
    logp = torch.log_softmax(input, 1)
    valid = target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target))
    logp_t = logp.gather(1, t.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype) if alpha is None else alpha[t] * valid.to(input.dtype)
    loss = -w * (1 - logp_t.exp()) ** gamma * logp_t
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_loss(reduction, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(4)
    for xshape in [(5, 7), (1, 3), (3, 4, 2, 5), (4, 33), (6,)]:
        c = xshape[1] if len(xshape) > 1 else xshape[0]
        tshape = (xshape[0],) + xshape[2:] if len(xshape) > 1 else ()
        x = rng.uniform(-4, 4, xshape).astype(npd)
        t = rng.integers(0, c, tshape).astype(np.int64)
        if t.size > 2:
            t.reshape(-1)[1] = -100   # an ignored target
        alpha = rng.uniform(0.2, 1.0, (c,)).astype(npd)
        for gamma in (0.0, 1.0, 2.0, 2.5):
            check_op(f"focal_g{gamma}", lambda x, t: F.focal_loss(x, t, gamma, reduction=reduction),
                     lambda x, t: torch_focal_loss(x, t, gamma, reduction=reduction), inputs=[x, t])
            check_op(f"focal_a_g{gamma}", lambda x, t, a: F.focal_loss(x, t, gamma, a, reduction=reduction),
                     lambda x, t, a: torch_focal_loss(x, t, gamma, a, reduction=reduction), inputs=[x, t, alpha],
                     grad=[0])
        # gamma = 0 is cross entropy (weight = alpha, ignore_index): an independent check of the formula
        check_op("focal_is_ce", lambda x, t, a: F.focal_loss(x, t, 0.0, a, reduction=reduction),
                 lambda x, t, a: TF.cross_entropy(x, t, a, reduction=reduction), inputs=[x, t, alpha], grad=[0])


def test_focal_loss_fd_module_errors():
    t = pydl.tensor([0, 2, 1, -100])
    a = pydl.tensor([0.3, 0.5, 1.0], dtype=pydl.float64)
    fd_gradcheck("focal_fd", lambda x: F.focal_loss(x, t, 2.0, a), shapes=[(4, 3)])
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    check_op("FocalLoss", lambda x: pydl.nn.FocalLoss(gamma=1.5, ignore_index=-100)(x, t),
             lambda x: torch_focal_loss(x, torch.tensor([0, 2, 1, -100]), 1.5), inputs=[x])
    check_error(lambda: F.focal_loss(pydl.ones(2, 3), pydl.tensor([0, 3])), IndexError)
    check_error(lambda: F.focal_loss(pydl.ones(2, 3), pydl.tensor([0.0, 1.0])), RuntimeError)
    check_error(lambda: F.focal_loss(pydl.ones(2, 3), pydl.tensor([0, 1, 2])), ValueError)
    check_error(lambda: F.focal_loss(pydl.ones(2, 3), pydl.tensor([0, 1]), alpha=pydl.ones(2)), RuntimeError)


# ------------------------------------------------------------------------------------------
# modules
# ------------------------------------------------------------------------------------------
def test_loss_modules():
    rng = np.random.default_rng(6)
    x = rng.uniform(-2, 2, (5, 4)).astype(np.float32)
    y = rng.uniform(-2, 2, (5, 4)).astype(np.float32)
    for name, kw in [("MSELoss", {}), ("L1Loss", {"reduction": "sum"}), ("SmoothL1Loss", {"beta": 0.5}),
                     ("HuberLoss", {"delta": 0.7, "reduction": "none"}), ("MSELoss", {"size_average": False})]:
        check_op(name, lambda a, b: getattr(pydl.nn, name)(**kw)(a, b),
                 lambda a, b: getattr(torch.nn, name)(**kw)(a, b), inputs=[x, y])
    p = rng.uniform(0.05, 0.95, (5, 4)).astype(np.float32)
    tb = (rng.uniform(0, 1, (5, 4)) > 0.5).astype(np.float32)
    w = rng.uniform(0.5, 2, (4,)).astype(np.float32)
    pw, tw = make_pair(w)
    check_op("BCELoss", lambda a, b: pydl.nn.BCELoss(weight=pw)(a, b), lambda a, b: torch.nn.BCELoss(weight=tw)(a, b),
             inputs=[p, tb], grad=[0])
    check_op("BCEWithLogitsLoss", lambda a, b: pydl.nn.BCEWithLogitsLoss(pos_weight=pw)(a, b),
             lambda a, b: torch.nn.BCEWithLogitsLoss(pos_weight=tw)(a, b), inputs=[x, tb], grad=[0])
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    check_op("KLDivLoss", lambda a, b: pydl.nn.KLDivLoss(reduction="batchmean", log_target=True)(a, b),
             lambda a, b: torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(a, b),
             inputs=[lp, lp[::-1].copy()])
    t = np.array([0, 3, 1, 2, 3], dtype=np.int64)
    for name, kw in [("CrossEntropyLoss", {"label_smoothing": 0.1}), ("CrossEntropyLoss", {"ignore_index": 3}),
                     ("NLLLoss", {"reduction": "sum"})]:
        check_op(name, lambda a, b: getattr(pydl.nn, name)(**kw)(a, b),
                 lambda a, b: getattr(torch.nn, name)(**kw)(a, b), inputs=[x, t])
    check_op("CrossEntropyLoss_w", lambda a, b: pydl.nn.CrossEntropyLoss(weight=pw)(a, b),
             lambda a, b: torch.nn.CrossEntropyLoss(weight=tw)(a, b), inputs=[x, t])
    # weight buffers travel in the state_dict under torch's names
    assert set(pydl.nn.BCEWithLogitsLoss(weight=pw, pos_weight=pw).state_dict()) == set(
        torch.nn.BCEWithLogitsLoss(weight=tw, pos_weight=tw).state_dict())
    assert set(pydl.nn.CrossEntropyLoss(weight=pw).state_dict()) == set(
        torch.nn.CrossEntropyLoss(weight=tw).state_dict())
    assert to_numpy(pydl.nn.MSELoss()(pydl.ones(3), pydl.zeros(3))) == 1.0
