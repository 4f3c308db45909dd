"""conv2d against torch.nn.functional.conv2d: forward and the gradients of input, weight and bias.

Rows cover odd sizes (1, 7, 33), batch > 1 and unbatched input, stride, padding (int, tuple,
'valid', 'same' incl. an even kernel's asymmetric padding), dilation, groups and depthwise,
1x1 / 3x3 / 5x5 / non-square kernels, non-contiguous inputs, float64, every conv2d variant under
every ISA, float64 finite differences, and the argument errors torch raises.

Tolerance: an output element is a sum of Cg*KH*KW products, a weight-gradient element a sum of
N*OH*OW, an input-gradient element up to OCg*KH*KW; float32 rounding grows with that depth
(harness.assert_close_fp64 explains the sqrt(depth) * eps * sum|terms| bound), so the float32
rows use atol derived from the row's deepest sum. float64 rows use the default tolerance.
"""
import math

import numpy as np
import pytest
import torch

import pydl
from harness import (ISAS, check_error, check_op, fd_gradcheck, lib_fns, on_isa, on_variant,
                     to_numpy)

CONV_VARIANTS = list(pydl.kernels.variants("conv2d"))

# (id, input shape, weight shape, kwargs)
ROWS = [
    ("3x3_pad1", (2, 3, 7, 7), (4, 3, 3, 3), dict(padding=1)),
    ("1x1_single", (1, 1, 1, 1), (1, 1, 1, 1), {}),
    ("3x3_valid", (1, 2, 6, 6), (3, 2, 3, 3), dict(padding="valid")),
    ("3x3_33", (1, 2, 33, 33), (3, 2, 3, 3), dict(padding=1)),
    ("3x3_stride2_odd", (2, 7, 33, 17), (5, 7, 3, 3), dict(stride=2, padding=1)),
    ("5x5_pad2", (2, 3, 11, 9), (4, 3, 5, 5), dict(padding=2)),
    ("nonsquare", (2, 4, 8, 10), (3, 4, 2, 5), dict(stride=(2, 1), padding=(1, 2))),
    ("dilation", (1, 3, 13, 13), (2, 3, 3, 3), dict(dilation=(2, 3), padding=2)),
    ("groups3", (2, 6, 9, 9), (9, 2, 3, 3), dict(groups=3, padding=1)),
    ("depthwise", (2, 8, 10, 10), (8, 1, 3, 3), dict(groups=8, padding=1)),
    ("depthwise_x2_stride2", (2, 4, 9, 9), (8, 1, 3, 3), dict(groups=4, stride=2, padding=1)),
    ("1x1", (3, 16, 7, 7), (33, 16, 1, 1), {}),
    ("1x1_stride2", (2, 8, 9, 9), (4, 8, 1, 1), dict(stride=2)),
    ("1x1_pad1", (2, 3, 5, 5), (4, 3, 1, 1), dict(padding=1)),
    ("same_even_kernel", (2, 3, 8, 8), (4, 3, 4, 4), dict(padding="same")),
    ("same_dilated_nonsquare", (1, 2, 9, 9), (3, 2, 3, 2), dict(padding="same", dilation=2)),
    ("unbatched", (3, 9, 9), (4, 3, 3, 3), dict(padding=1)),
    ("stride_gt_kernel", (1, 2, 11, 11), (3, 2, 2, 2), dict(stride=3)),
    ("pad_gt_input", (1, 1, 3, 3), (2, 1, 3, 3), dict(padding=3)),
    ("kernel_eq_input", (2, 3, 5, 7), (4, 3, 5, 7), {}),
    ("empty_batch", (0, 3, 5, 5), (4, 3, 3, 3), dict(padding=1)),
]
SMALL = ["3x3_pad1", "groups3", "depthwise_x2_stride2", "1x1", "same_even_kernel", "dilation",
         "unbatched", "1x1_stride2"]
BY_ID = {r[0]: r for r in ROWS}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _depth(xs, ws, kw):
    """Longest float32 sum in forward or backward for this row."""
    if len(xs) == 3:
        xs = (1,) + tuple(xs)
    n, c, h, w = xs
    oc, cg, khh, kww = ws
    groups = kw.get("groups", 1)
    out = torch.nn.functional.conv2d(torch.zeros(xs), torch.zeros(ws), **kw)
    p = out.shape[-1] * out.shape[-2]
    return max(cg * khh * kww, n * p, (oc // groups) * khh * kww, 1)


def _tol(xs, ws, kw):
    d = _depth(xs, ws, kw)
    # terms are products of U[-2,2] values (and N(0,1) upstream gradients): |term| <= ~4
    return dict(rtol=1e-5, atol=max(1e-5, 4 * math.sqrt(d) * 1.2e-7 * 4 * d),
                reason="float32 sums of depth Cg*KH*KW / N*OH*OW: rounding grows with depth")


def _fn(kw, bias):
    def f(L, x, w, *b):
        return L.nn.functional.conv2d(x, w, b[0] if bias else None, **kw)
    return f


def _run(row, bias=True, dtype="float32", noncontiguous=False):
    name, xs, ws, kw = row
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    tol = _tol(xs, ws, kw) if dtype == "float32" else {}
    check_op(f"conv2d_{name}", *lib_fns(_fn(kw, bias)), shapes=shapes, dtype=dtype,
             noncontiguous=noncontiguous, **tol)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_conv2d(row, bias):
    _run(row, bias)


@pytest.mark.parametrize("row", [r for r in ROWS if r[0] in SMALL], ids=[r for r in SMALL])
def test_conv2d_float64(row):
    _run(row, dtype="float64")


@pytest.mark.parametrize("row", [r for r in ROWS if r[0] in SMALL + ["5x5_pad2"]],
                         ids=[r for r in SMALL + ["5x5_pad2"]])
def test_conv2d_noncontiguous(row):
    _run(row, noncontiguous=True)


@pytest.mark.parametrize("variant", CONV_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_variants(isa, variant):
    with on_isa(isa), on_variant("conv2d", variant):
        for name in SMALL + ["pad_gt_input", "empty_batch"]:
            _run(BY_ID[name])
        _run(BY_ID["3x3_pad1"], dtype="float64")
        _run(BY_ID["depthwise"], bias=False, dtype="float64")


def test_conv2d_variants_registered():
    assert CONV_VARIANTS[0] == "direct" and "im2col" in CONV_VARIANTS
    assert pydl.kernels.current("conv2d") == "auto"
    with pydl.kernels.variant("conv2d", "direct"):
        assert pydl.kernels.current("conv2d") == "direct"
    assert pydl.kernels.current("conv2d") == "auto"
    with pytest.raises(ValueError):
        pydl.kernels.set_variant("conv2d", "nope")


@pytest.mark.parametrize("variant", CONV_VARIANTS)
def test_conv2d_integer_valued_exact(variant):
    # small integers: every partial sum is exact in float32, so any summation order gives numpy's
    # exact answer; a missed or doubled tap, or a wrong padding edge, shows up as a mismatch.
    rng = np.random.default_rng(5)
    with on_variant("conv2d", variant):
        for xs, ws, kw in [((2, 5, 13, 11), (6, 5, 3, 3), dict(padding=1, stride=2)),
                           ((1, 4, 9, 9), (4, 2, 3, 2), dict(groups=2, dilation=2, padding=(2, 1))),
                           ((3, 6, 7, 7), (12, 6, 1, 1), {})]:
            x = rng.integers(-3, 4, xs).astype(np.float32)
            w = rng.integers(-3, 4, ws).astype(np.float32)
            got = to_numpy(pydl.nn.functional.conv2d(pydl.tensor(x), pydl.tensor(w), **kw))
            want = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                              torch.tensor(w, dtype=torch.float64), **kw).numpy()
            np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"{xs} {ws} {kw}")


# Realistic sizes, compared with torch in float64: a ResNet-like block, and wide layers whose
# im2col buffer is split into several chunks of output rows (K*OW*4 bytes per row > 100 KiB,
# including a last, partial chunk), forward and both gradients. Tolerance from the float64
# reference: 4 * sqrt(depth) * eps32 * max|ref| * 4.
BIG = [
    ("resnet_block", (2, 32, 20, 20), (32, 32, 3, 3), dict(padding=1)),
    ("chunked_rows", (2, 64, 31, 70), (8, 64, 3, 3), dict(padding=1)),
    ("chunked_stride2_dilated", (1, 64, 35, 141), (6, 32, 3, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
]


@pytest.mark.parametrize("variant", ["auto", "im2col", "winograd"])
@pytest.mark.parametrize("row", BIG, ids=[r[0] for r in BIG])
def test_conv2d_large_vs_float64(row, variant):
    name, xs, ws, kw = row
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    with on_variant("conv2d", variant):
        px, pw, pb = (pydl.tensor(a, requires_grad=True) for a in (x, w, b))
        tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
        y = pydl.nn.functional.conv2d(px, pw, pb, **kw)
        ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
        g = rng.standard_normal(ty.shape).astype(np.float32)
        y.backward(pydl.tensor(g))
    ty.backward(torch.tensor(g, dtype=torch.float64))
    depth = _depth(xs, ws, kw)
    for what, got, want in [("forward", y, ty), ("grad input", px.grad, tx.grad),
                            ("grad weight", pw.grad, tw.grad), ("grad bias", pb.grad, tb.grad)]:
        w64 = want.detach().numpy()
        err = np.abs(to_numpy(got).astype(np.float64) - w64).max()
        bound = 4 * math.sqrt(depth) * 1.2e-7 * max(1.0, np.abs(w64).max()) * 4
        assert err <= bound, f"{name} {what}: max error {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("variant", CONV_VARIANTS)
def test_conv2d_fd_gradcheck(variant):
    with on_variant("conv2d", variant):
        fd_gradcheck("conv2d_fd", lambda x, w, b: pydl.nn.functional.conv2d(x, w, b, stride=2, padding=1),
                     shapes=[(2, 2, 5, 4), (3, 2, 3, 2), (3,)])
        fd_gradcheck("conv2d_fd_groups",
                     lambda x, w: pydl.nn.functional.conv2d(x, w, groups=2, dilation=(1, 2), padding="same"),
                     shapes=[(1, 4, 4, 5), (2, 2, 2, 3)])
        fd_gradcheck("conv2d_fd_unbatched", lambda x, w: pydl.nn.functional.conv2d(x, w, padding=1),
                     shapes=[(2, 3, 3), (2, 2, 3, 3)])


def test_conv2d_public_names():
    assert pydl.conv2d is pydl.nn.functional.conv2d
    x = pydl.randn(1, 2, 5, 5)
    w = pydl.randn(3, 2, 3, 3)
    assert tuple(pydl.conv2d(x, w).shape) == (1, 3, 3, 3)


def _err(fn_kwargs, x_shape, w_shape, b_shape=None, wdtype=None):
    def make(L, dtype):
        x = L.zeros(*x_shape)
        w = L.zeros(*w_shape, dtype=wdtype(L) if wdtype else None)
        b = L.zeros(*b_shape) if b_shape else None
        return lambda: L.nn.functional.conv2d(x, w, b, **fn_kwargs)
    return make(pydl, None), make(torch, None)


ERRORS = [
    ("rank2", {}, (4, 5), (6, 4, 3, 3), None, None, r"Expected 3D \(unbatched\) or 4D \(batched\) input"),
    ("rank5", {}, (1, 2, 4, 5, 5), (6, 4, 3, 3), None, None, r"but got input of size: \[1, 2, 4, 5, 5\]"),
    ("channels", {}, (2, 4, 5, 5), (6, 3, 3, 3), None, None,
     r"expected input\[2, 4, 5, 5\] to have 3 channels, but got 4 channels instead"),
    ("channels_groups", dict(groups=3), (2, 4, 5, 5), (6, 2, 3, 3), None, None, r"to have 6 channels"),
    ("groups_not_dividing", dict(groups=4), (2, 4, 5, 5), (6, 2, 3, 3), None, None,
     r"expected weight to be divisible by 4 at dimension 0"),
    ("groups_zero", dict(groups=0), (2, 4, 5, 5), (6, 4, 3, 3), None, None, "non-positive groups"),
    ("negative_padding", dict(padding=-1), (2, 4, 5, 5), (6, 4, 3, 3), None, None,
     "negative padding is not supported"),
    ("zero_stride", dict(stride=0), (2, 4, 5, 5), (6, 4, 3, 3), None, None, "non-positive stride"),
    ("negative_stride", dict(stride=(1, -1)), (2, 4, 5, 5), (6, 4, 3, 3), None, None, "non-positive stride"),
    ("zero_dilation", dict(dilation=0), (2, 4, 5, 5), (6, 4, 3, 3), None, None, "non-positive dilation"),
    ("kernel_too_big", {}, (2, 4, 5, 5), (6, 4, 7, 7), None, None,
     r"Calculated padded input size per channel: \(5 x 5\). Kernel size: \(7 x 7\). Kernel size can't"),
    ("dilated_kernel_too_big", dict(dilation=3), (2, 4, 5, 5), (6, 4, 3, 3), None, None,
     r"Kernel size: \(7 x 7\)"),
    ("dtype_mismatch", {}, (2, 4, 5, 5), (6, 4, 3, 3), None, lambda L: L.float64,
     r"Input type \(torch.FloatTensor\) and weight type \(torch.DoubleTensor\) should be the same"),
    ("bias_size", {}, (2, 4, 5, 5), (6, 4, 3, 3), (5,), None, r"expected bias to be 1-dimensional with 6"),
    ("same_strided", dict(padding="same", stride=2), (2, 4, 5, 5), (6, 4, 3, 3), None, None,
     "padding='same' is not supported for strided convolutions"),
    ("bad_padding_string", dict(padding="full"), (2, 4, 5, 5), (6, 4, 3, 3), None, None,
     "Invalid padding string: 'full'"),
    ("stride_len3", dict(stride=(1, 1, 1)), (2, 4, 5, 5), (6, 4, 3, 3), None, None,
     "expected stride to be a single integer value or a list of 2 values"),
]


@pytest.mark.parametrize("row", ERRORS, ids=[r[0] for r in ERRORS])
def test_conv2d_errors(row):
    name, kw, xs, ws, bs, wdt, match = row
    p, t = _err(kw, xs, ws, bs, wdt)
    check_error(p, RuntimeError, match=match, torch_fn=t)


def test_conv2d_errors_non_tensor_and_weight_rank():
    x = pydl.zeros(1, 2, 5, 5)
    check_error(lambda: pydl.nn.functional.conv2d(x, [[1.0]]), TypeError,
                torch_fn=lambda: torch.nn.functional.conv2d(torch.zeros(1, 2, 5, 5), [[1.0]]))
    check_error(lambda: pydl.nn.functional.conv2d(x, pydl.zeros(3, 2, 3)), RuntimeError,
                torch_fn=lambda: torch.nn.functional.conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(3, 2, 3)))
    check_error(lambda: pydl.nn.functional.conv2d(pydl.zeros(1, 2, 5, 5, dtype=pydl.int64),
                                                  pydl.zeros(3, 2, 3, 3, dtype=pydl.int64)),
                RuntimeError, match="not implemented")


@pytest.mark.parametrize("threads", [1, 3])
def test_conv2d_thread_counts(threads):
    # 1 thread: every loop serial. 3 threads: images x groups >= 3 run one per thread (per-thread
    # col buffers and weight-gradient accumulators); fewer items parallelise inside the GEMM.
    prev = pydl.get_num_threads()
    pydl.set_num_threads(threads)
    try:
        for name in ["3x3_pad1", "groups3", "depthwise", "1x1", "unbatched", "3x3_stride2_odd"]:
            _run(BY_ID[name])
    finally:
        pydl.set_num_threads(prev)


# --- winograd F(2x2, 3x3) ---
# Rows that Winograd takes (3x3, stride 1, dilation 1, groups 1): odd OH / OW (a half-empty last
# tile row / column), padding 0, 1, 2 and asymmetric, padding 3 (the input gradient then falls
# back to im2col), tiny planes (1x1 input with padding), many channels (several GEMM blocks), and
# chunked tile rows (wide planes). Forward and all three gradients vs torch, every ISA.
WINOGRAD_ROWS = [
    ("w_pad1_odd", (2, 5, 7, 9), (6, 5, 3, 3), dict(padding=1)),
    ("w_valid", (1, 4, 8, 11), (3, 4, 3, 3), {}),
    ("w_pad2", (2, 3, 5, 6), (4, 3, 3, 3), dict(padding=2)),
    ("w_pad_asym", (1, 3, 9, 8), (2, 3, 3, 3), dict(padding=(1, 0))),
    ("w_same", (2, 2, 6, 7), (3, 2, 3, 3), dict(padding="same")),
    ("w_pad3", (1, 2, 5, 5), (2, 2, 3, 3), dict(padding=3)),
    ("w_tiny", (1, 2, 1, 1), (3, 2, 3, 3), dict(padding=1)),
    ("w_channels", (2, 33, 9, 9), (17, 33, 3, 3), dict(padding=1)),
    ("w_unbatched", (3, 7, 7), (5, 3, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", WINOGRAD_ROWS, ids=[r[0] for r in WINOGRAD_ROWS])
def test_conv2d_winograd(row, isa):
    with on_isa(isa), on_variant("conv2d", "winograd"):
        _run(row)
        _run(row, bias=False, dtype="float64")


def test_conv2d_winograd_chunked_and_threads():
    # 2 x 40 x 64 x 130 -> 65 tiles per row x 80 channels: several chunks of tile rows per image,
    # compared with float64 torch; then 2 threads (items split over threads, per-thread dU).
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 40, 64, 130)).astype(np.float32)
    w = (rng.standard_normal((40, 40, 3, 3)) * 0.1).astype(np.float32)
    g = rng.standard_normal((2, 40, 64, 130)).astype(np.float32)
    tx, tw = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w))
    ty = torch.nn.functional.conv2d(tx, tw, padding=1)
    ty.backward(torch.tensor(g, dtype=torch.float64))
    depth = max(40 * 9, 2 * 64 * 130)
    prev = pydl.get_num_threads()
    try:
        for threads in (1, 2):
            pydl.set_num_threads(threads)
            with on_variant("conv2d", "winograd"):
                px, pw = (pydl.tensor(a, requires_grad=True) for a in (x, w))
                y = pydl.nn.functional.conv2d(px, pw, padding=1)
                y.backward(pydl.tensor(g))
            for what, got, want in [("forward", y, ty), ("grad input", px.grad, tx.grad),
                                    ("grad weight", pw.grad, tw.grad)]:
                w64 = want.detach().numpy()
                err = np.abs(to_numpy(got).astype(np.float64) - w64).max()
                bound = 4 * math.sqrt(depth) * 1.2e-7 * max(1.0, np.abs(w64).max()) * 4
                assert err <= bound, f"threads={threads} {what}: max error {err:.3g} > {bound:.3g}"
    finally:
        pydl.set_num_threads(prev)


def test_conv2d_auto_picks_winograd_only_where_it_applies():
    # auto must agree with the forced variants on a Winograd shape and on shapes it cannot take
    rng = np.random.default_rng(2)
    for xs, ws, kw in [((1, 16, 10, 10), (16, 16, 3, 3), dict(padding=1)),
                       ((1, 16, 10, 10), (16, 16, 3, 3), dict(padding=1, stride=2)),
                       ((1, 16, 10, 10), (16, 8, 3, 3), dict(padding=1, groups=2)),
                       ((1, 16, 10, 10), (16, 16, 3, 3), dict(padding=2, dilation=2))]:
        x = rng.integers(-3, 4, xs).astype(np.float32)
        w = rng.integers(-3, 4, ws).astype(np.float32)
        want = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                          torch.tensor(w, dtype=torch.float64), **kw).numpy()
        got = to_numpy(pydl.nn.functional.conv2d(pydl.tensor(x), pydl.tensor(w), **kw))
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"{xs} {ws} {kw}")
