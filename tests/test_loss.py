"""cross_entropy (fused with log_softmax) and nll_loss against torch: class indices for (C,), (N, C)
and (N, C, d1, ...), class-probability targets, weights, ignore_index, every reduction, label
smoothing, all-ignored batches, large logits, every ISA, float64 finite differences, errors."""
import itertools

import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, check_error, check_op, fd_gradcheck, on_isa

CE_SHAPES = [(4, 5), (1, 1), (7, 33), (3, 127), (2, 5, 3), (2, 3, 4, 5), (5,)]


def _inputs(shape, ignore=None, seed=0, low=-3.0, high=3.0, dtype=np.float32):
    rng = np.random.default_rng(seed + sum(shape))
    x = rng.uniform(low, high, shape).astype(dtype)
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()
    t = rng.integers(0, c, tshape).astype(np.int64)
    if ignore is not None and t.size > 1:
        t.reshape(-1)[::3] = ignore
    w = rng.uniform(0.2, 2.0, c).astype(dtype)
    return x, np.asarray(t), w


def _both(fn):
    """(pydl_fn, torch_fn) for fn(F, *xs) with F the functional module."""
    return (lambda *xs: fn(pydl.nn.functional, *xs)), (lambda *xs: fn(torch.nn.functional, *xs))


OPTIONS = list(itertools.product(["mean", "sum", "none"], [False, True], [None, -100, 1], [0.0, 0.2]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction,weighted,ignore,ls", OPTIONS)
def test_cross_entropy_indices(reduction, weighted, ignore, ls, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    for shape in CE_SHAPES:
        x, t, w = _inputs(shape, ignore, dtype=npd)
        kw = dict(reduction=reduction, label_smoothing=ls)
        if ignore is not None:
            kw["ignore_index"] = ignore
        if weighted:
            check_op("ce_w", *_both(lambda F, x, t, w: F.cross_entropy(x, t, weight=w, **kw)), inputs=[x, t, w],
                     grad=[0])
        else:
            check_op("ce", *_both(lambda F, x, t: F.cross_entropy(x, t, **kw)), inputs=[x, t])


@pytest.mark.parametrize("reduction,weighted,ls", list(itertools.product(["mean", "sum", "none"], [False, True],
                                                                            [0.0, 0.3])))
def test_cross_entropy_probs(reduction, weighted, ls):
    for shape in [(4, 5), (3, 33), (2, 4, 3), (6,)]:
        x, _, w = _inputs(shape)
        cdim = 1 if len(shape) > 1 else 0
        q = torch.softmax(torch.tensor(np.random.default_rng(7).standard_normal(shape)), cdim).numpy()
        q = q.astype(np.float32)
        kw = dict(reduction=reduction, label_smoothing=ls)
        if weighted:
            check_op("ce_prob_w", *_both(lambda F, x, q, w: F.cross_entropy(x, q, weight=w, **kw)),
                     inputs=[x, q, w], grad=[0])
        else:
            check_op("ce_prob", *_both(lambda F, x, q: F.cross_entropy(x, q, **kw)), inputs=[x, q], grad=[0])


@pytest.mark.parametrize("isa", ISAS)
def test_cross_entropy_isa_and_large(isa):
    with on_isa(isa):
        for shape in [(3, 7), (5, 33), (4, 127), (2, 1000), (3, 17, 2)]:
            x, t, w = _inputs(shape, ignore=-100, seed=3)
            check_op("ce_isa", *_both(lambda F, x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1)),
                     inputs=[x, t, w], grad=[0])
            xb, tb, _ = _inputs(shape, seed=5, low=-1e4, high=1e4)
            check_op("ce_large", *_both(lambda F, x, t: F.cross_entropy(x, t, reduction="none")),
                     inputs=[xb, tb])
            check_op("ce_large_mean_ls", *_both(lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.1)),
                     inputs=[xb, tb])


def test_cross_entropy_all_ignored_and_noncontiguous():
    x, t, w = _inputs((4, 5))
    t[:] = -100
    for red in ("mean", "sum", "none"):
        check_op("ce_all_ignored", *_both(lambda F, x, t: F.cross_entropy(x, t, reduction=red)), inputs=[x, t])
        check_op("ce_all_ignored_w", *_both(lambda F, x, t, w: F.cross_entropy(x, t, w, reduction=red,
                                                                                 label_smoothing=0.1)),
                 inputs=[x, t, w], grad=[0])
    x, t, _ = _inputs((6, 9))
    check_op("ce_nc", lambda x, t: pydl.nn.functional.cross_entropy(x.t(), t),
             lambda x, t: torch.nn.functional.cross_entropy(x.t(), t), inputs=[x, t[:1].repeat(9)])


@pytest.mark.parametrize("reduction,weighted,ignore", list(itertools.product(["mean", "sum", "none"],
                                                                              [False, True], [None, 2])))
def test_nll_loss(reduction, weighted, ignore):
    for shape in [(4, 5), (1, 1), (7, 33), (2, 5, 3), (2, 3, 4, 5), (5,)]:
        x, t, w = _inputs(shape, ignore if ignore is not None and ignore < (shape[1] if len(shape) > 1 else 5)
                          else None)
        kw = dict(reduction=reduction)
        if ignore is not None:
            kw["ignore_index"] = ignore
        if weighted:
            check_op("nll_w", *_both(lambda F, x, t, w: F.nll_loss(x, t, weight=w, **kw)), inputs=[x, t, w],
                     grad=[0])
        else:
            check_op("nll", *_both(lambda F, x, t: F.nll_loss(x, t, **kw)), inputs=[x, t])
    # composed: nll_loss(log_softmax) == cross_entropy
    x, t, _ = _inputs((4, 7))
    check_op("nll_of_log_softmax", *_both(lambda F, x, t: F.nll_loss(F.log_softmax(x, 1), t)), inputs=[x, t])


def test_loss_reference_kernel():
    x, t, w = _inputs((5, 33), ignore=-100)
    for ls in (0.0, 0.3):
        args = (pydl.tensor(x)._impl, pydl.tensor(t)._impl, pydl.tensor(w)._impl, -100, 0, ls)
        fast = pydl.Tensor._wrap(pydl._C.cross_entropy(*args, False)[0]).numpy()
        ref = pydl.Tensor._wrap(pydl._C.cross_entropy(*args, True)[0]).numpy()
        np.testing.assert_allclose(fast, ref, rtol=2e-6, atol=2e-6)


def test_loss_fd():
    x, t, w = _inputs((3, 4), ignore=-100, dtype=np.float64)
    pt, pw = pydl.tensor(t), pydl.tensor(w)
    fd_gradcheck("ce_fd", lambda x: pydl.nn.functional.cross_entropy(x, pt, weight=pw, label_smoothing=0.2),
                 inputs=[x])
    fd_gradcheck("ce_fd_none", lambda x: pydl.nn.functional.cross_entropy(x, pt, reduction="none"), inputs=[x])
    x3, t3, _ = _inputs((2, 3, 2), dtype=np.float64)
    pt3 = pydl.tensor(t3)
    fd_gradcheck("ce_fd_nd", lambda x: pydl.nn.functional.cross_entropy(x, pt3, label_smoothing=0.1), inputs=[x3])
    q = np.full((3, 4), 0.25)
    pq = pydl.tensor(q)
    fd_gradcheck("ce_fd_prob", lambda x: pydl.nn.functional.cross_entropy(x, pq, weight=pw, label_smoothing=0.1),
                 inputs=[x])
    fd_gradcheck("nll_fd", lambda x: pydl.nn.functional.nll_loss(x, pt, weight=pw), inputs=[x])


def test_loss_errors():
    F, TF = pydl.nn.functional, torch.nn.functional
    x, xt = pydl.ones(3, 5), torch.ones(3, 5)

    def both(name, exc, match, *a, **kw):
        conv = lambda v, lib: (lib.tensor(v) if isinstance(v, list) else v)  # noqa: E731
        check_error(lambda: getattr(F, name)(x, *[conv(v, pydl) for v in a], **kw), exc, match=match,
                    torch_fn=lambda: getattr(TF, name)(xt, *[conv(v, torch) for v in a], **kw))

    both("cross_entropy", IndexError, "out of bounds", [0, 1, 5])
    both("cross_entropy", IndexError, "out of bounds", [0, 1, -3])
    both("nll_loss", IndexError, "out of bounds", [0, 1, 5])
    both("cross_entropy", ValueError, "batch_size", [0, 1])
    both("cross_entropy", RuntimeError, "Long", [0.0, 1.0, 2.0])
    both("cross_entropy", ValueError, "batch_size", [[0, 1, 2]])
    both("cross_entropy", ValueError, "not a valid value", [0, 1, 2], reduction="bad")
    both("cross_entropy", RuntimeError, "label_smoothing", [0, 1, 2], label_smoothing=1.5)
    check_error(lambda: F.cross_entropy(x, pydl.tensor([0, 1, 2]), weight=pydl.ones(4)), RuntimeError,
                match="weight tensor", torch_fn=lambda: TF.cross_entropy(xt, torch.tensor([0, 1, 2]),
                                                                         weight=torch.ones(4)))
    check_error(lambda: F.cross_entropy(pydl.ones(3, 5, 2), pydl.tensor([0, 1, 2])), RuntimeError,
                match="target size", torch_fn=lambda: TF.cross_entropy(torch.ones(3, 5, 2), torch.tensor([0, 1, 2])))
    check_error(lambda: F.nll_loss(pydl.ones(3, 5, 2), pydl.tensor([0, 1, 2])), RuntimeError,
                match="target size", torch_fn=lambda: TF.nll_loss(torch.ones(3, 5, 2), torch.tensor([0, 1, 2])))
