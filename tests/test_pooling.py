"""Pooling against torch: max_pool2d (indices, dilation, ceil_mode, NaN, ties), avg_pool2d
(count_include_pad, divisor_override, ceil_mode), adaptive_avg_pool2d / adaptive_max_pool2d (None
entries, exact tilings that take the fixed-window fast path, global 1x1), max_pool1d/avg_pool1d;
forward and backward, float32 and float64, batched and unbatched, non-contiguous inputs, every ISA
and both kernel variants for key rows, float64 finite differences, and error rows."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import pydl
import pydl.nn.functional as PF
from harness import ISAS, check_error, check_op, fd_gradcheck, on_isa, on_variant, row_id


def fns(name, **kw):
    """(pydl_fn, torch_fn) for F.<name>(x, **kw)."""
    return (lambda x: getattr(PF, name)(x, **kw)), (lambda x: getattr(TF, name)(x, **kw))


# (id, function name, kwargs, shapes)
ROWS = [
    ("max_k2s2", "max_pool2d", dict(kernel_size=2), [(2, 3, 8, 8), (1, 2, 7, 9), (3, 5, 5)]),
    ("max_k2s2_wide", "max_pool2d", dict(kernel_size=2, stride=2), [(1, 2, 3, 150)]),
    ("max_k3s2p1", "max_pool2d", dict(kernel_size=3, stride=2, padding=1),
     [(2, 3, 9, 11), (1, 2, 5, 70), (2, 1, 1, 1), (4, 8, 3)]),
    ("max_k3s1p1", "max_pool2d", dict(kernel_size=3, stride=1, padding=1), [(2, 2, 6, 7), (1, 1, 3, 67)]),
    ("max_k2s3", "max_pool2d", dict(kernel_size=2, stride=3), [(2, 2, 8, 10)]),
    ("max_ceil", "max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True), [(2, 3, 8, 8), (1, 2, 7, 10)]),
    ("max_ceil_pad", "max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
     [(1, 2, 6, 6), (2, 1, 9, 4)]),
    ("max_ceil_k2s2_odd", "max_pool2d", dict(kernel_size=2, ceil_mode=True), [(1, 2, 5, 7)]),
    ("max_dilation", "max_pool2d", dict(kernel_size=3, stride=1, padding=1, dilation=2), [(2, 2, 9, 10)]),
    ("max_dilation_rect", "max_pool2d", dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1),
                                              dilation=(3, 2)), [(1, 2, 11, 12)]),
    ("max_rect", "max_pool2d", dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0)), [(2, 2, 7, 9)]),
    ("max_indices", "max_pool2d", dict(kernel_size=3, stride=2, padding=1, return_indices=True),
     [(2, 3, 9, 11), (3, 7, 7)]),
    ("max_indices_ceil", "max_pool2d", dict(kernel_size=2, stride=2, ceil_mode=True, return_indices=True),
     [(1, 2, 5, 9)]),
    ("max_parallel", "max_pool2d", dict(kernel_size=3, stride=2, padding=1), [(4, 16, 32, 33)]),
    ("avg_k2s2", "avg_pool2d", dict(kernel_size=2), [(2, 3, 8, 8), (1, 2, 7, 9), (3, 5, 5)]),
    ("avg_k3s2p1", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1), [(2, 3, 9, 11), (1, 2, 5, 70)]),
    ("avg_k3s2p1_nopad", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
     [(2, 3, 9, 11)]),
    ("avg_k3s1p1", "avg_pool2d", dict(kernel_size=3, stride=1, padding=1), [(2, 2, 6, 7), (1, 1, 3, 67)]),
    ("avg_ceil_pad", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), [(1, 2, 6, 6)]),
    ("avg_ceil_pad_nocount", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                count_include_pad=False), [(1, 2, 6, 6), (2, 1, 8, 5)]),
    ("avg_ceil", "avg_pool2d", dict(kernel_size=2, ceil_mode=True), [(1, 2, 5, 7)]),
    ("avg_divisor", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, divisor_override=3),
     [(2, 2, 7, 8)]),
    ("avg_rect", "avg_pool2d", dict(kernel_size=(2, 4), stride=(1, 3), padding=(1, 2)), [(2, 2, 7, 13)]),
    ("avg_parallel", "avg_pool2d", dict(kernel_size=2), [(4, 16, 32, 33)]),
    ("adaptive_avg_34", "adaptive_avg_pool2d", dict(output_size=(3, 4)), [(2, 3, 7, 9), (3, 10, 5)]),
    ("adaptive_avg_1", "adaptive_avg_pool2d", dict(output_size=1), [(2, 3, 7, 9), (2, 4, 12, 12)]),
    ("adaptive_avg_none", "adaptive_avg_pool2d", dict(output_size=(None, 4)), [(2, 3, 7, 9)]),
    ("adaptive_avg_tiles", "adaptive_avg_pool2d", dict(output_size=(4, 2)), [(2, 3, 8, 8), (3, 12, 10)]),
    ("adaptive_avg_upsample", "adaptive_avg_pool2d", dict(output_size=5), [(1, 2, 3, 3)]),
    ("adaptive_max_34", "adaptive_max_pool2d", dict(output_size=(3, 4), return_indices=True),
     [(2, 3, 7, 9), (3, 10, 5)]),
    ("adaptive_max_tiles", "adaptive_max_pool2d", dict(output_size=(4, 2), return_indices=True),
     [(2, 3, 8, 8)]),
    ("adaptive_max_1", "adaptive_max_pool2d", dict(output_size=1), [(2, 3, 7, 9)]),
    ("adaptive_max_none", "adaptive_max_pool2d", dict(output_size=(2, None)), [(1, 2, 5, 6)]),
    ("max_pool1d", "max_pool1d", dict(kernel_size=3, stride=2, padding=1), [(2, 3, 17), (3, 9)]),
    ("max_pool1d_ind", "max_pool1d", dict(kernel_size=2, ceil_mode=True, return_indices=True), [(2, 3, 9)]),
    ("avg_pool1d", "avg_pool1d", dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), [(2, 3, 17)]),
]
CASES = [(r[0], r[1], r[2], s) for r in ROWS for s in r[3]]
KEY = ["max_k2s2", "max_k3s2p1", "max_indices", "avg_k3s2p1_nopad", "avg_ceil_pad", "adaptive_avg_34",
       "adaptive_avg_1", "adaptive_max_tiles"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", CASES, ids=lambda c: f"{c[0]}-{c[3]}")
def test_pool(row, dtype):
    name, fn, kw, shape = row
    p, t = fns(fn, **kw)
    check_op(name, p, t, shapes=[shape], dtype=dtype)


@pytest.mark.parametrize("row", [r for r in ROWS if r[0] in KEY], ids=row_id)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("variant", ["reference", "simd"])
def test_pool_isa_variant(row, isa, variant):
    name, fn, kw, shapes = row
    p, t = fns(fn, **kw)
    with on_isa(isa), on_variant("pooling", variant):
        for s in shapes:
            check_op(name, p, t, shapes=[s])


@pytest.mark.parametrize("row", [r for r in ROWS if len(r[3][0]) == 4 and "1d" not in r[0]], ids=row_id)
def test_pool_noncontiguous(row):
    name, fn, kw, shapes = row
    p, t = fns(fn, **kw)
    check_op(name, p, t, shapes=[shapes[0]], noncontiguous=True)


def test_variants_listed():
    assert pydl.kernels.variants("pooling") == ["reference", "simd"]


# Ties: integer-valued inputs; torch keeps the first maximum, and the gradient goes there.
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=1, padding=1, return_indices=True)])
def test_max_ties(kw, isa):
    x = np.random.default_rng(3).integers(0, 3, size=(2, 3, 9, 70)).astype(np.float32)
    with on_isa(isa):
        check_op("max_ties", *fns("max_pool2d", **kw), inputs=[x])
        check_op("adaptive_max_ties", *fns("adaptive_max_pool2d", output_size=(3, 7), return_indices=True),
                 inputs=[x])


# NaN: a NaN always wins (the last one in scan order, as torch); -inf windows keep the first index.
@pytest.mark.parametrize("isa", ISAS)
def test_max_nan_inf(isa):
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, size=(2, 2, 9, 70)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, 0, :4, :8] = -np.inf
    with on_isa(isa):
        for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1)):
            check_op("max_nan", *fns("max_pool2d", return_indices=True, **kw), inputs=[x], grad=False)
        check_op("adaptive_max_nan", *fns("adaptive_max_pool2d", output_size=(4, 9), return_indices=True),
                 inputs=[x], grad=False)


def test_empty_batch():
    for fn, kw in [("max_pool2d", dict(kernel_size=2)), ("avg_pool2d", dict(kernel_size=2)),
                   ("adaptive_avg_pool2d", dict(output_size=3))]:
        check_op("empty_batch", *fns(fn, **kw), shapes=[(0, 3, 8, 8)], grad=False)
    check_op("adaptive_empty_out", *fns("adaptive_avg_pool2d", output_size=(0, 2)), shapes=[(2, 3, 8, 8)],
             grad=False)


def test_no_grad_no_indices():
    x = pydl.randn(2, 3, 8, 8, requires_grad=True)
    y = PF.max_pool2d(x, 2)
    assert isinstance(y, pydl.Tensor) and y.requires_grad
    with pydl.no_grad():
        y = PF.max_pool2d(x, 2)
    assert isinstance(y, pydl.Tensor) and not y.requires_grad
    assert pydl.max_pool2d is PF.max_pool2d


FD_ROWS = [
    ("max", lambda x: PF.max_pool2d(x, 2, stride=1), (1, 2, 4, 5)),
    ("max_pad_dil", lambda x: PF.max_pool2d(x, 3, stride=2, padding=1, dilation=1, ceil_mode=True), (1, 1, 6, 5)),
    ("avg", lambda x: PF.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (1, 2, 5, 6)),
    ("avg_divisor", lambda x: PF.avg_pool2d(x, 2, stride=1, divisor_override=3), (2, 4, 5)),
    ("adaptive_avg", lambda x: PF.adaptive_avg_pool2d(x, (3, 4)), (1, 1, 5, 7)),
    ("adaptive_avg_tiles", lambda x: PF.adaptive_avg_pool2d(x, (2, 2)), (1, 1, 4, 6)),
    ("adaptive_max", lambda x: PF.adaptive_max_pool2d(x, (2, 3)), (1, 1, 5, 7)),
]


@pytest.mark.parametrize("row", FD_ROWS, ids=row_id)
def test_fd_gradcheck(row):
    fd_gradcheck(row[0], row[1], shapes=[row[2]])


X4 = lambda L: L.zeros(2, 3, 8, 8)  # noqa: E731
ERRORS = [
    ("pad_half", lambda L, F: F.max_pool2d(X4(L), 3, padding=2), RuntimeError, "pad should be at most half"),
    ("avg_pad_half", lambda L, F: F.avg_pool2d(X4(L), 3, padding=2), RuntimeError, "pad should be at most half"),
    ("pad_half_dil", lambda L, F: F.max_pool2d(X4(L), 2, padding=2, dilation=3), RuntimeError,
     "pad should be smaller than or equal to half"),
    ("pad_neg", lambda L, F: F.max_pool2d(X4(L), 3, padding=-1), RuntimeError, "pad must be non-negative"),
    ("stride0", lambda L, F: F.max_pool2d(X4(L), 2, stride=0), RuntimeError, "stride should not be zero"),
    ("avg_stride0", lambda L, F: F.avg_pool2d(X4(L), 2, stride=0), RuntimeError, "stride should not be zero"),
    ("kernel0", lambda L, F: F.max_pool2d(X4(L), 0), RuntimeError, "stride should not be zero"),
    ("kernel0_stride1", lambda L, F: F.max_pool2d(X4(L), 0, stride=1), RuntimeError,
     "kernel size should be greater than zero"),
    ("dilation0", lambda L, F: F.max_pool2d(X4(L), 2, dilation=0), RuntimeError,
     "dilation should be greater than zero"),
    ("kernel_len", lambda L, F: F.max_pool2d(X4(L), (2, 2, 2)), RuntimeError,
     "kernel_size must either be a single int, or a tuple of two ints"),
    ("stride_len", lambda L, F: F.max_pool2d(X4(L), 2, stride=(1, 1, 1)), RuntimeError,
     "stride must either be omitted"),
    ("padding_len", lambda L, F: F.max_pool2d(X4(L), 2, padding=(1, 1, 1)), RuntimeError,
     "padding must either be a single int"),
    ("dilation_len", lambda L, F: F.max_pool2d(X4(L), 2, dilation=(1, 1, 1)), RuntimeError,
     "dilation must be either a single int"),
    ("avg_kernel_len", lambda L, F: F.avg_pool2d(X4(L), (2, 2, 2)), RuntimeError,
     "avg_pool2d: kernel_size must either be"),
    ("rank2", lambda L, F: F.max_pool2d(L.zeros(8, 8), 2), RuntimeError, "3D or 4D"),
    ("rank5", lambda L, F: F.max_pool2d(L.zeros(1, 2, 8, 8, 8), 2), RuntimeError, "3D or 4D"),
    ("avg_rank2", lambda L, F: F.avg_pool2d(L.zeros(8, 8), 2), IndexError, "Dimension out of range"),
    ("avg_rank5", lambda L, F: F.avg_pool2d(L.zeros(1, 2, 8, 8, 8), 2), RuntimeError, "3D or 4D"),
    ("empty_channels", lambda L, F: F.max_pool2d(L.zeros(2, 0, 8, 8), 2), RuntimeError,
     "optional 0 dim batch size"),
    ("too_small", lambda L, F: F.max_pool2d(X4(L), 9), RuntimeError, "Output size is too small"),
    ("avg_too_small", lambda L, F: F.avg_pool2d(X4(L), 9), RuntimeError, "Output size is too small"),
    ("too_small_dil", lambda L, F: F.max_pool2d(X4(L), 3, dilation=4), RuntimeError,
     "Output size is too small"),
    ("divisor0", lambda L, F: F.avg_pool2d(X4(L), 2, divisor_override=0), RuntimeError,
     "divisor must be not zero"),
    ("adaptive_len", lambda L, F: F.adaptive_avg_pool2d(X4(L), (1, 2, 3)), RuntimeError, "output_size must be 2"),
    ("adaptive_neg", lambda L, F: F.adaptive_avg_pool2d(X4(L), (-1, 2)), RuntimeError,
     "greater than or equal to 0"),
    ("adaptive_rank", lambda L, F: F.adaptive_avg_pool2d(L.zeros(8, 8), 2), RuntimeError,
     "Expected 3D or 4D tensor"),
    ("adaptive_max_rank", lambda L, F: F.adaptive_max_pool2d(L.zeros(8, 8), 2), RuntimeError,
     "Expected 3D or 4D tensor"),
    ("max_pool1d_rank", lambda L, F: F.max_pool1d(L.zeros(8), 2), RuntimeError, "2D or 3D"),
    ("avg_pool1d_rank", lambda L, F: F.avg_pool1d(L.zeros(8), 2), RuntimeError, "Expected 2 to 3 dimensions"),
]


@pytest.mark.parametrize("row", ERRORS, ids=row_id)
def test_errors(row):
    _, fn, exc, match = row
    check_error(lambda: fn(pydl, PF), exc, match=match, torch_fn=lambda: fn(torch, TF))


def test_int_input_is_an_error_not_a_crash():
    with pytest.raises(NotImplementedError):
        PF.avg_pool2d(pydl.zeros(1, 2, 4, 4, dtype=pydl.int64), 2)


# Inference (no grad, no indices) takes a values-only path; NaN must still propagate.
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(3, 2), stride=2),
                                dict(kernel_size=2, stride=2, ceil_mode=True), dict(kernel_size=3, dilation=2)])
def test_max_values_only(kw, isa):
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 2, size=(2, 3, 11, 141)).astype(np.float32)
    xn = x.copy()
    xn[rng.random(x.shape) < 0.03] = np.nan
    xn[0, 0, :4, :8] = -np.inf
    with on_isa(isa):
        for a in (x, xn):
            check_op("max_values_only", *fns("max_pool2d", **kw), inputs=[a], grad=False)
            check_op("max_values_only_f64", *fns("max_pool2d", **kw), inputs=[a.astype(np.float64)], grad=False)
