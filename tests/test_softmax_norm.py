"""softmax / log_softmax on every dim, layer_norm, batch_norm (train with running stats, eval),
local_response_norm against torch: forward and backward, odd shapes, non-contiguous inputs, large
magnitudes, -inf rows, every ISA for key rows, float64 finite differences, errors."""
import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, check_error, check_op, fd_gradcheck, lib_fns, make_pair, on_isa, row_id, to_numpy

SM_SHAPES = [(1,), (7,), (33,), (127,), (4, 33), (33, 4), (1, 1), (2, 3, 7), (2, 1, 33), (3, 127, 5),
             (2, 3, 4, 5)]


def _all_dims(shapes):
    return [(s, d) for s in shapes for d in range(-len(s), len(s))]


SOFTMAX_ROWS = [
    ("softmax", lambda L, x, d: L.softmax(x, d)),
    ("log_softmax_F", lambda L, x, d: L.nn.functional.log_softmax(x, dim=d)),
    ("softmax_F", lambda L, x, d: L.nn.functional.softmax(x, dim=d)),
    ("softmax_method", lambda L, x, d: x.softmax(d)),
    ("log_softmax_method", lambda L, x, d: x.log_softmax(dim=d)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", SOFTMAX_ROWS, ids=row_id)
def test_softmax_every_dim(row, dtype):
    name, fn = row
    for shape, d in _all_dims(SM_SHAPES):
        check_op(f"{name}_d{d}", *lib_fns(lambda L, x: fn(L, x, d)), shapes=[shape], dtype=dtype)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_isa(isa, log):
    fn = (lambda L, x, d: L.log_softmax(x, d)) if log else (lambda L, x, d: L.softmax(x, d))
    with on_isa(isa):
        for shape, d in [((5, 1), -1), ((3, 7), -1), ((4, 33), 1), ((2, 127), -1), ((65, 3), 0),
                         ((2, 33, 17), 1), ((3, 1000), -1), ((3, 600, 2), 2), ((2, 7, 700), 1)]:
            for dtype in ("float32", "float64"):
                check_op(f"softmax_isa_{log}", *lib_fns(lambda L, x: fn(L, x, d)), shapes=[shape], dtype=dtype)


@pytest.mark.parametrize("d", [0, 1, -1])
def test_softmax_noncontiguous(d):
    for shape in [(4, 33), (33, 7), (2, 5, 127)]:
        check_op("softmax_nc", *lib_fns(lambda L, x: L.softmax(x, d)), shapes=[shape], noncontiguous=True)
        check_op("log_softmax_nc", *lib_fns(lambda L, x: L.log_softmax(x, d)), shapes=[shape],
                 noncontiguous=True)


@pytest.mark.parametrize("isa", ISAS)
def test_softmax_large_and_inf(isa):
    with on_isa(isa):
        for d in (0, -1):
            check_op("softmax_big", *lib_fns(lambda L, x: L.softmax(x, d)), shapes=[(6, 37)], low=-1e4,
                     high=1e4)
            check_op("log_softmax_big", *lib_fns(lambda L, x: L.log_softmax(x, d)), shapes=[(6, 37)],
                     low=-1e4, high=1e4)
        x = np.random.default_rng(0).uniform(-3, 3, (4, 19)).astype(np.float32)
        x[0, 3] = x[0, 11] = -np.inf     # some -inf: exp = 0
        x[1, :] = -np.inf                # fully -inf row: NaN, as torch
        x[2, :18] = -np.inf              # one finite entry: exactly 1
        for d in (0, 1):
            check_op("softmax_inf", *lib_fns(lambda L, x: L.softmax(x, d)), inputs=[x])
            check_op("log_softmax_inf", *lib_fns(lambda L, x: L.log_softmax(x, d)), inputs=[x])


def test_softmax_misc():
    check_op("softmax_0d", *lib_fns(lambda L, x: L.softmax(x, 0)), shapes=[()])
    check_op("log_softmax_0d", *lib_fns(lambda L, x: L.log_softmax(x, -1)), shapes=[()])
    check_op("softmax_empty", *lib_fns(lambda L, x: L.softmax(x, 1)), shapes=[(0, 5)])
    check_op("softmax_dtype", *lib_fns(lambda L, x: L.softmax(x, 1, dtype=L.float64)), shapes=[(3, 5)])
    check_op("softmin", *lib_fns(lambda L, x: L.nn.functional.softmin(x, 1)), shapes=[(3, 5)])
    with pytest.warns(UserWarning):
        p = pydl.nn.functional.softmax(pydl.ones(2, 3))
    assert to_numpy(p).shape == (2, 3)
    # long row: float32 sum accuracy
    check_op("softmax_long", *lib_fns(lambda L, x: L.softmax(x, -1)), shapes=[(2, 100003)])


def test_softmax_reference_kernel():
    rng = np.random.default_rng(1)
    for shape, d in [((4, 33), 1), ((3, 7, 5), 1), ((127,), 0)]:
        x = rng.standard_normal(shape).astype(np.float32)
        for log in (False, True):
            ref = pydl.Tensor._wrap(pydl._C.softmax_reference(pydl.tensor(x)._impl, d, log))
            fast = pydl.Tensor._wrap(pydl._C.softmax(pydl.tensor(x)._impl, d, log))
            np.testing.assert_allclose(to_numpy(fast), to_numpy(ref), rtol=2e-6, atol=2e-7)


def test_softmax_fd():
    for d in (0, 1, 2):
        fd_gradcheck(f"softmax_fd{d}", lambda x: pydl.softmax(x, d), shapes=[(2, 3, 4)])
        fd_gradcheck(f"log_softmax_fd{d}", lambda x: pydl.log_softmax(x, d), shapes=[(2, 3, 4)])


def test_softmax_errors():
    check_error(lambda: pydl.softmax(pydl.ones(3, 4), 2), IndexError,
                torch_fn=lambda: torch.softmax(torch.ones(3, 4), 2))
    check_error(lambda: pydl.softmax(pydl.tensor([1, 2]), 0), NotImplementedError,
                torch_fn=lambda: torch.softmax(torch.tensor([1, 2]), 0))
    check_error(lambda: pydl.log_softmax(pydl.ones(3), -2), IndexError,
                torch_fn=lambda: torch.log_softmax(torch.ones(3), -2))


# ------------------------------------------------------------------------------------------
# layer_norm
# ------------------------------------------------------------------------------------------
LN_CASES = [((4, 33), (33,)), ((2, 3, 7), (3, 7)), ((1, 127), (127,)), ((5, 1), (1,)), ((7,), (7,)),
            ((3, 5, 64), (64,)), ((2, 2, 3, 5), (5,)), ((0, 4), (4,))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_layer_norm(affine, dtype):
    F = lambda L: L.nn.functional  # noqa: E731
    for shape, ns in LN_CASES:
        # normalized size 1: xhat is exactly 0, so dL/dw is 0; torch's is rounding noise (~1e-5)
        gw = [0, 2] if ns == (1,) else True
        if affine == "none":
            check_op("layer_norm", *lib_fns(lambda L, x: F(L).layer_norm(x, ns)), shapes=[shape], dtype=dtype)
        elif affine == "weight":
            check_op("layer_norm_w", *lib_fns(lambda L, x, w: F(L).layer_norm(x, ns, w, eps=1e-3)),
                     shapes=[shape, ns], dtype=dtype, grad=[0] if gw is not True else True)
        else:
            check_op("layer_norm_wb", *lib_fns(lambda L, x, w, b: F(L).layer_norm(x, ns, w, b)),
                     shapes=[shape, ns, ns], dtype=dtype, grad=gw)


@pytest.mark.parametrize("isa", ISAS)
def test_layer_norm_isa(isa):
    F = lambda L: L.nn.functional  # noqa: E731
    with on_isa(isa):
        for shape, ns in [((6, 7), (7,)), ((4, 33), (33,)), ((3, 127), (127,)),
                          ((2, 1000), (1000,)), ((3, 4, 65), (4, 65))]:
            check_op("layer_norm_isa", *lib_fns(lambda L, x, w, b: F(L).layer_norm(x, ns, w, b)),
                     shapes=[shape, ns, ns])
        # large offset: two-pass variance stays accurate (float64 so torch's reference is exact too)
        check_op("layer_norm_offset", *lib_fns(lambda L, x: F(L).layer_norm(x, (33,))), shapes=[(4, 33)],
                 dtype="float64", low=1e4, high=1e4 + 1)


def test_layer_norm_noncontiguous_and_int_shape():
    F = lambda L: L.nn.functional  # noqa: E731
    check_op("layer_norm_nc", *lib_fns(lambda L, x, w, b: F(L).layer_norm(x, (5,), w, b)),
             shapes=[(33, 5), (5,), (5,)], noncontiguous=True)
    check_error(lambda: pydl.nn.functional.layer_norm(pydl.ones(3, 7), 7), TypeError,
                torch_fn=lambda: torch.nn.functional.layer_norm(torch.ones(3, 7), 7))
    check_op("layer_norm_wonly_grad", *lib_fns(lambda L, x, w, b: F(L).layer_norm(x, (7,), w, b)),
             shapes=[(3, 7), (7,), (7,)], grad=[1, 2])


def test_layer_norm_reference_kernel():
    x = np.random.default_rng(2).standard_normal((5, 129)).astype(np.float32)
    w = np.random.default_rng(3).standard_normal(129).astype(np.float32)
    ref = pydl._C.layer_norm(pydl.tensor(x)._impl, [129], pydl.tensor(w)._impl, None, 1e-5, True)
    fast = pydl._C.layer_norm(pydl.tensor(x)._impl, [129], pydl.tensor(w)._impl, None, 1e-5, False)
    for a, b in zip(ref, fast):
        np.testing.assert_allclose(to_numpy(pydl.Tensor._wrap(b)), to_numpy(pydl.Tensor._wrap(a)),
                                   rtol=1e-5, atol=1e-6)


def test_layer_norm_fd():
    fd_gradcheck("layer_norm_fd", lambda x, w, b: pydl.nn.functional.layer_norm(x, (2, 3), w, b),
                 shapes=[(3, 2, 3), (2, 3), (2, 3)])


def test_layer_norm_errors():
    F = pydl.nn.functional
    TF = torch.nn.functional
    check_error(lambda: F.layer_norm(pydl.ones(3, 4), (5,)), RuntimeError, match="normalized_shape",
                torch_fn=lambda: TF.layer_norm(torch.ones(3, 4), (5,)))
    check_error(lambda: F.layer_norm(pydl.ones(3, 4), (4,), pydl.ones(3)), RuntimeError, match="weight",
                torch_fn=lambda: TF.layer_norm(torch.ones(3, 4), (4,), torch.ones(3)))
    check_error(lambda: F.layer_norm(pydl.ones(3, 4), (4,), None, pydl.ones(5)), RuntimeError, match="bias",
                torch_fn=lambda: TF.layer_norm(torch.ones(3, 4), (4,), None, torch.ones(5)))


# ------------------------------------------------------------------------------------------
# batch_norm
# ------------------------------------------------------------------------------------------
BN_SHAPES = [(4, 3), (7, 5), (2, 3, 7), (3, 2, 33), (2, 3, 4, 5), (1, 4, 3, 3), (5, 1, 2, 1)]


def _bn_pair(rng, c, dtype):
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return rm, rv


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(training, dtype):
    npd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(4)
    for shape in BN_SHAPES:
        c = shape[1]
        x = rng.uniform(-2, 2, shape).astype(npd)
        w = rng.uniform(0.5, 1.5, c).astype(npd)
        b = rng.uniform(-1, 1, c).astype(npd)
        rm, rv = _bn_pair(rng, c, npd)
        prm, trm = make_pair(rm)
        prv, trv = make_pair(rv)
        check_op("batch_norm", lambda x, w, b: pydl.nn.functional.batch_norm(x, prm, prv, w, b, training, 0.2),
                 lambda x, w, b: torch.nn.functional.batch_norm(x, trm, trv, w, b, training, 0.2),
                 inputs=[x, w, b])
        # running stats were updated in place (momentum, unbiased var) exactly as torch's
        np.testing.assert_allclose(to_numpy(prm), trm.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_numpy(prv), trv.numpy(), rtol=1e-5, atol=1e-6)
        # no running stats, no affine
        if training:
            check_op("batch_norm_plain", *lib_fns(lambda L, x: L.nn.functional.batch_norm(x, None, None,
                                                                                          training=True)),
                     inputs=[x])


@pytest.mark.parametrize("isa", ISAS)
def test_batch_norm_isa_noncontiguous(isa):
    with on_isa(isa):
        for shape in [(3, 5, 33), (2, 4, 7, 9), (65, 3)]:
            check_op("batch_norm_nc", *lib_fns(lambda L, x, w, b: L.nn.functional.batch_norm(
                x, None, None, w, b, True)), shapes=[shape, (shape[1],), (shape[1],)], noncontiguous=True)


def test_batch_norm_fd():
    rm = pydl.zeros(3, dtype=pydl.float64)
    rv = pydl.ones(3, dtype=pydl.float64)
    fd_gradcheck("batch_norm_train_fd", lambda x, w, b: pydl.nn.functional.batch_norm(x, None, None, w, b, True),
                 shapes=[(4, 3, 2), (3,), (3,)])
    fd_gradcheck("batch_norm_eval_fd", lambda x, w, b: pydl.nn.functional.batch_norm(x, rm, rv, w, b, False),
                 shapes=[(4, 3, 2), (3,), (3,)])


def test_batch_norm_errors():
    F = pydl.nn.functional
    TF = torch.nn.functional
    check_error(lambda: F.batch_norm(pydl.ones(1, 3), pydl.zeros(3), pydl.ones(3), training=True), ValueError,
                match="more than 1 value",
                torch_fn=lambda: TF.batch_norm(torch.ones(1, 3), torch.zeros(3), torch.ones(3), training=True))
    check_error(lambda: F.batch_norm(pydl.ones(2, 3), pydl.zeros(4), pydl.ones(3), training=True), RuntimeError,
                match="running_mean",
                torch_fn=lambda: TF.batch_norm(torch.ones(2, 3), torch.zeros(4), torch.ones(3), training=True))
    check_error(lambda: F.batch_norm(pydl.ones(2, 3), pydl.zeros(3), pydl.ones(3), pydl.ones(2)), RuntimeError,
                match="weight",
                torch_fn=lambda: TF.batch_norm(torch.ones(2, 3), torch.zeros(3), torch.ones(3), torch.ones(2)))


def test_local_response_norm():
    for size in (1, 2, 3, 5):
        check_op("lrn", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, size)),
                 shapes=[(2, 7, 3, 4)])
    check_op("lrn3d", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, 3, 1e-2, 0.5, 2.0)),
             shapes=[(2, 5, 6)])


@pytest.mark.parametrize("isa", ISAS)
def test_large_outputs_streaming_stores(isa):
    """Outputs >= 8 MiB are written with non-temporal stores (aligned and unaligned row starts,
    rows longer than the stack stage)."""
    F = lambda L: L.nn.functional  # noqa: E731
    with on_isa(isa):
        for shape in [(2048, 1024), (2100, 1023), (256, 8200)]:
            check_op("softmax_stream", *lib_fns(lambda L, x: L.softmax(x, -1)), shapes=[shape], grad=False)
            check_op("log_softmax_stream", *lib_fns(lambda L, x: L.log_softmax(x, -1)), shapes=[shape],
                     grad=False)
        check_op("softmax_stream_f64", *lib_fns(lambda L, x: L.softmax(x, -1)), shapes=[(1100, 1001)],
                 dtype="float64", grad=False)
        check_op("layer_norm_stream", *lib_fns(lambda L, x, w, b: F(L).layer_norm(x, (1023,), w, b)),
                 shapes=[(2100, 1023), (1023,), (1023,)], grad=False)
