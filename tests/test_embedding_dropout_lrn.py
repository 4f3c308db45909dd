"""Kernel families embedding, dropout and local_response_norm (csrc/cpu/embedding.cpp, dropout.cpp,
lrn.cpp) against torch: forward and backward on odd shapes, repeated indices, padding_idx,
non-contiguous inputs, every ISA, reference vs fast variants, thread-count independence, float64
finite differences, and the bad calls (which must raise torch's exception types)."""
import math
import warnings

import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, check_error, check_op, fd_gradcheck, lib_fns, make_pair, on_isa, on_variant, to_numpy

F = pydl.nn.functional
TF = torch.nn.functional


@pytest.fixture
def threads():
    """Restores pydl's thread count after a test that changes it."""
    prev = pydl.get_num_threads()
    yield
    pydl.set_num_threads(prev)


# ------------------------------------------------------------------------------------------
# embedding
# ------------------------------------------------------------------------------------------
EMB_CASES = [  # (V, D, index shape)
    (1, 1, (5,)), (7, 7, ()), (7, 33, (3, 4)), (33, 1, (65,)), (5, 127, (2, 3, 7)), (65, 65, (1,)),
    (4, 9, (0,)), (6, 3, (2, 0)), (3, 5, (40,)),   # (3, 5, (40,)): every row repeated many times
]


def _emb_inputs(V, D, ishape, dtype, seed=0):
    rng = np.random.default_rng(seed + V * 1000 + D)
    w = rng.uniform(-2, 2, (V, D)).astype(dtype)
    idx = rng.integers(0, V, size=ishape).astype(np.int64)
    return w, idx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding_idx", [None, 0, 2, -1])
def test_embedding_vs_torch(dtype, padding_idx):
    for V, D, ishape in EMB_CASES:
        if padding_idx is not None and not (-V <= padding_idx < V):
            continue
        w, idx = _emb_inputs(V, D, ishape, dtype)
        check_op(f"embedding_p{padding_idx}",
                 *lib_fns(lambda L, w, i: L.nn.functional.embedding(i, w, padding_idx=padding_idx)),
                 inputs=[w, idx])


def test_kernel_ladders():
    for fam in ("embedding", "dropout", "lrn"):
        assert pydl.kernels.variants(fam) == ["reference", "fast"]
        assert pydl.kernels.current(fam) == "fast"
        with pydl.kernels.variant(fam, "reference"):
            assert pydl.kernels.current(fam) == "reference"
        assert pydl.kernels.current(fam) == "fast"
        with pytest.raises(ValueError, match="variant"):
            pydl.kernels.set_variant(fam, "blocked")


@pytest.mark.parametrize("variant", ["reference", "fast"])
@pytest.mark.parametrize("isa", ISAS)
def test_embedding_isa_noncontiguous_large(isa, variant):
    with on_isa(isa), on_variant("embedding", variant):
        # large enough for the parallel paths (M * D >= 32768), many repeats per row
        w, idx = _emb_inputs(100, 64, (64, 50), np.float32)
        check_op("embedding_large", *lib_fns(lambda L, w, i: L.nn.functional.embedding(i, w, padding_idx=3)),
                 inputs=[w, idx])
        w, idx = _emb_inputs(33, 7, (5, 9), np.float32)
        check_op("embedding_nc", *lib_fns(lambda L, w, i: L.nn.functional.embedding(i, w)), inputs=[w, idx],
                 noncontiguous=True)


def test_embedding_reference_matches_fast_bitwise(threads):
    """The fast backward sums each row in the reference's order: identical bits, for any thread count."""
    rng = np.random.default_rng(5)
    for V, D, M in [(7, 33, 200), (1000, 17, 5000), (3, 129, 4000), (50, 1, 1)]:
        g = pydl.tensor(rng.standard_normal((M, D)).astype(np.float32))
        idx = pydl.tensor(rng.integers(0, V, M).astype(np.int64))
        w = pydl.tensor(rng.standard_normal((V, D)).astype(np.float32))
        ref = to_numpy(pydl.Tensor._wrap(pydl._C.embedding_backward(g._impl, idx._impl, V, 1, True)))
        fwd_ref = to_numpy(pydl.Tensor._wrap(pydl._C.embedding(w._impl, idx._impl, True)))
        for n in (1, 2, 3):
            pydl.set_num_threads(n)
            fast = to_numpy(pydl.Tensor._wrap(pydl._C.embedding_backward(g._impl, idx._impl, V, 1)))
            assert np.array_equal(fast, ref), (V, D, M, n)
            assert not np.any(fast[1])  # padding row
            fwd = to_numpy(pydl.Tensor._wrap(pydl._C.embedding(w._impl, idx._impl)))
            assert np.array_equal(fwd, fwd_ref)


def test_embedding_fd_and_module():
    idx = pydl.tensor([[0, 2, 2], [1, 0, 3]])
    fd_gradcheck("embedding_fd", lambda w: F.embedding(idx, w), shapes=[(4, 3)])  # (padding_idx: by design no grad)
    torch.manual_seed(0)
    te = torch.nn.Embedding(10, 6, padding_idx=4)
    pe = pydl.nn.Embedding(10, 6, padding_idx=4)
    pe.load_state_dict({k: v.detach().numpy() for k, v in te.state_dict().items()})
    i = np.array([[4, 1, 9], [1, 1, 0]], dtype=np.int64)
    yt, yp = te(torch.tensor(i)), pe(pydl.tensor(i))
    np.testing.assert_array_equal(to_numpy(yp), yt.detach().numpy())
    g = np.random.default_rng(0).standard_normal(yt.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    yp.backward(pydl.tensor(g))
    np.testing.assert_allclose(to_numpy(pe.weight.grad), te.weight.grad.numpy(), rtol=1.3e-6, atol=1e-5)


def test_embedding_errors():
    w, tw = pydl.ones(5, 3), torch.ones(5, 3)
    check_error(lambda: F.embedding(pydl.tensor([0, 5]), w), IndexError, match="index out of range",
                torch_fn=lambda: TF.embedding(torch.tensor([0, 5]), tw))
    check_error(lambda: F.embedding(pydl.tensor([[1], [-1]]), w), IndexError, match="index out of range",
                torch_fn=lambda: TF.embedding(torch.tensor([[1], [-1]]), tw))
    check_error(lambda: F.embedding(pydl.tensor([0.0, 1.0]), w), RuntimeError, match="indices",
                torch_fn=lambda: TF.embedding(torch.tensor([0.0, 1.0]), tw))
    check_error(lambda: F.embedding(pydl.tensor([0, 1]), pydl.ones(5)), RuntimeError, match="2-D",
                torch_fn=lambda: TF.embedding(torch.tensor([0, 1]), torch.ones(5)))
    check_error(lambda: F.embedding(pydl.tensor([0]), w, padding_idx=5), AssertionError,
                torch_fn=lambda: TF.embedding(torch.tensor([0]), tw, padding_idx=5))
    # the C++ entry points check too (no kernel ever sees a bad index)
    check_error(lambda: pydl._C.embedding_backward(pydl.ones(2, 3)._impl, pydl.tensor([0, 9])._impl, 5, -1),
                IndexError)
    check_error(lambda: pydl._C.embedding_backward(pydl.ones(3, 3)._impl, pydl.tensor([0, 1])._impl, 5, -1),
                RuntimeError, match="does not match")


# ------------------------------------------------------------------------------------------
# dropout
# ------------------------------------------------------------------------------------------
def _drop(x, p, seed, reference=False):
    return pydl.Tensor._wrap(pydl._C.dropout(x._impl, p, seed, reference))


def test_dropout_philox_known_answer():
    """Philox4x32-10 of counter 0, key 0 is (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8) (the
    Random123 known-answer vector); elements 0, 16, 32, 48 (word j of counter 0 is element 16 j)
    are kept iff word < (1 - p) * 2^32."""
    words = np.array([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8], dtype=np.float64) / 2.0 ** 32
    for p in (0.1, 0.2, 0.3, 0.5, 0.62, 0.95):
        for reference in (False, True):
            y = to_numpy(_drop(pydl.ones(64, dtype=pydl.float64), p, 0, reference))
            np.testing.assert_array_equal(y[[0, 16, 32, 48]] != 0, words < 1 - p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_values_and_scale(dtype):
    """Kept elements are exactly torch's x * (1 / (1 - p)) (the mask value computed in x's dtype),
    dropped ones x * 0; the gradient uses the same mask."""
    rng = np.random.default_rng(1)
    for shape in [(1,), (7,), (33, 5), (2, 3, 127), (1000,)]:
        for p in (0.1, 0.5, 0.9):
            x = rng.uniform(0.5, 2.0, shape).astype(dtype)  # no zeros: y == 0 identifies dropped
            px, tx = make_pair(x, requires_grad=True)
            pydl.manual_seed(3)
            y = F.dropout(px, p)
            keep = to_numpy(y) != 0
            want = tx * (torch.tensor(keep, dtype=tx.dtype).div_(1 - p))   # torch's _dropout_impl formula
            np.testing.assert_array_equal(to_numpy(y), want.detach().numpy())
            g = rng.standard_normal(shape).astype(dtype)
            y.backward(pydl.tensor(g))
            want.backward(torch.tensor(g))
            np.testing.assert_array_equal(to_numpy(px.grad), tx.grad.numpy())


def test_dropout_p0_p1_eval_and_nan():
    for p, fill in ((0.0, None), (1.0, 0.0)):
        check_op(f"dropout_p{p}", *lib_fns(lambda L, x: L.nn.functional.dropout(x, p)), shapes=[(4, 33)])
    check_op("dropout_eval", *lib_fns(lambda L, x: L.nn.functional.dropout(x, 0.5, training=False)),
             shapes=[(3, 7)])
    check_op("dropout_empty", *lib_fns(lambda L, x: L.nn.functional.dropout(x, 0.5)), shapes=[(0, 3)])
    # NaN stays NaN when dropped (x * 0), as torch
    y = to_numpy(F.dropout(pydl.full((64,), float("nan")), 0.5))
    assert np.isnan(y).all()
    assert np.isnan(to_numpy(F.dropout(pydl.full((8,), float("nan")), 1.0))).all()


def test_dropout_kept_fraction():
    n = 1_000_003
    for p in (0.05, 0.3, 0.5, 0.9):
        y = to_numpy(F.dropout(pydl.ones(n), p))
        frac = float((y != 0).mean())
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(frac - (1 - p)) < 6 * sigma, (p, frac)
        # neighbouring elements are independent: the pair (kept, kept) has probability (1-p)^2
        k = y != 0
        both = float((k[:-1] & k[1:]).mean())
        assert abs(both - (1 - p) ** 2) < 6 * math.sqrt((1 - p) ** 2 / n), (p, both)


def test_dropout_determinism_and_threads(threads):
    x = pydl.randn(70001)
    outs = []
    for n in (1, 2, 3):
        pydl.set_num_threads(n)
        pydl.manual_seed(1234)
        a = to_numpy(F.dropout(x, 0.4))
        b = to_numpy(F.dropout(x, 0.4))
        outs.append((a, b))
        assert not np.array_equal(a != 0, b != 0)  # successive calls draw new seeds
    for a, b in outs[1:]:
        np.testing.assert_array_equal(a, outs[0][0])
        np.testing.assert_array_equal(b, outs[0][1])


@pytest.mark.parametrize("isa", ISAS)
def test_dropout_reference_matches_fast(isa):
    """Bitwise equal for every length around the 64-element block (head / full blocks / tail)."""
    rng = np.random.default_rng(2)
    with on_isa(isa):
        for n in (1, 3, 63, 64, 65, 127, 129, 1000, 100003):
            for dt in (np.float32, np.float64):
                x = pydl.tensor(rng.standard_normal(n).astype(dt))
                seed = int(rng.integers(0, 2 ** 63))
                np.testing.assert_array_equal(to_numpy(_drop(x, 0.3, seed)), to_numpy(_drop(x, 0.3, seed, True)))
        # the forced ladder rung gives the same bits through the public function
        x = pydl.randn(1000)
        pydl.manual_seed(9)
        a = to_numpy(F.dropout(x, 0.3))
        with on_variant("dropout", "reference"):
            pydl.manual_seed(9)
            b = to_numpy(F.dropout(x, 0.3))
        np.testing.assert_array_equal(a, b)
        # a non-contiguous input is taken in its logical (row-major) order
        xt = pydl.tensor(rng.standard_normal((33, 7)).astype(np.float32)).T
        np.testing.assert_array_equal(to_numpy(_drop(xt, 0.5, 7)), to_numpy(_drop(xt.contiguous(), 0.5, 7)))


def test_dropout_fd_and_inplace_and_module():
    def f(x):
        pydl.manual_seed(11)
        return F.dropout(x, 0.3)
    fd_gradcheck("dropout_fd", f, shapes=[(5, 7)])
    # inplace: same values as out of place with the same seed, written into x
    x = pydl.randn(40)
    pydl.manual_seed(5)
    want = to_numpy(F.dropout(x, 0.5))
    pydl.manual_seed(5)
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x
    np.testing.assert_array_equal(to_numpy(x), want)
    m = pydl.nn.Dropout(0.5)
    z = pydl.randn(100)
    assert not np.array_equal(to_numpy(m(z)), to_numpy(z))
    m.eval()
    np.testing.assert_array_equal(to_numpy(m(z)), to_numpy(z))


def test_dropout2d_channels():
    x = pydl.ones(8, 16, 5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for 4-D input
        y = to_numpy(pydl.nn.Dropout2d(0.5)(x))
    per_channel = y.reshape(8, 16, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels kept or dropped
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y != 0).mean() < 1
    with pytest.warns(UserWarning, match="dropout1d"):
        y3 = to_numpy(F.dropout2d(pydl.ones(4, 6, 9), 0.5))
    assert np.all(y3.min(-1) == y3.max(-1))
    y1 = to_numpy(pydl.nn.Dropout1d(0.5)(pydl.ones(6, 9)))  # unbatched (C, L)
    assert np.all(y1.min(-1) == y1.max(-1))
    # gradient: the same per-channel mask
    xg = pydl.randn(2, 3, 4, 4, requires_grad=True)
    yg = F.dropout2d(xg, 0.5)
    yg.sum().backward()
    np.testing.assert_array_equal(to_numpy(xg.grad) != 0, to_numpy(yg) != 0)


def test_dropout_errors():
    check_error(lambda: F.dropout(pydl.ones(3), -0.1), ValueError, match="between 0 and 1",
                torch_fn=lambda: TF.dropout(torch.ones(3), -0.1))
    check_error(lambda: F.dropout(pydl.ones(3), 1.5), ValueError, match="between 0 and 1",
                torch_fn=lambda: TF.dropout(torch.ones(3), 1.5))
    check_error(lambda: pydl.nn.Dropout(2.0), ValueError, torch_fn=lambda: torch.nn.Dropout(2.0))
    check_error(lambda: F.dropout(pydl.tensor([1, 2]), 0.5), RuntimeError)
    check_error(lambda: pydl._C.dropout(pydl.ones(3)._impl, 1.5, 0), ValueError)


# ------------------------------------------------------------------------------------------
# local response norm
# ------------------------------------------------------------------------------------------
LRN_SHAPES = [(2, 7, 3, 4), (1, 1, 5, 5), (3, 5, 6), (2, 33, 1, 1), (1, 3, 2, 2, 2), (2, 16, 7, 9), (0, 3, 4)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 9])
def test_lrn_vs_torch(size, dtype):
    for shape in LRN_SHAPES:
        check_op(f"lrn_s{size}", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, size)),
                 shapes=[shape], dtype=dtype)
    check_op("lrn_params", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, size, 1e-2, 0.5, 2.0)),
             shapes=[(2, 6, 5)], dtype=dtype)
    # every power path of the kernel: sqrt forms (0.5, 0.75), none (1), exp/log (others)
    for beta in (0.6, 1.0, 1.3, 0.25):
        check_op(f"lrn_beta{beta}",
                 *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, size, 0.05, beta, 1.0)),
                 shapes=[(2, 7, 3, 5)], dtype=dtype, low=-4, high=4)


@pytest.mark.parametrize("variant", ["reference", "fast"])
@pytest.mark.parametrize("isa", ISAS)
def test_lrn_isa_large_noncontiguous(isa, variant):
    with on_isa(isa), on_variant("lrn", variant):
        # AlexNet's layer: size 5, 96 channels of 27 x 27 (parallel path, inner not a chunk multiple)
        check_op("lrn_alexnet", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0)),
                 shapes=[(2, 96, 27, 27)])
        check_op("lrn_nc", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, 3)),
                 shapes=[(2, 5, 7, 33)], noncontiguous=True)
        # large magnitudes with a strong alpha: the power term dominates
        check_op("lrn_big", *lib_fns(lambda L, x: L.nn.functional.local_response_norm(x, 4, 1.0, 0.75, 1.0)),
                 shapes=[(2, 9, 11)], low=-100, high=100)


def test_lrn_reference_matches_fast_and_fd():
    rng = np.random.default_rng(3)
    for shape, size, beta in [((2, 7, 33), 3, 0.75), ((1, 12, 5, 5), 5, 0.6), ((3, 4, 1, 1), 2, 1.0)]:
        x = pydl.tensor(rng.standard_normal(shape))
        g = pydl.tensor(rng.standard_normal(shape))
        y, d = pydl._C.local_response_norm(x._impl, size, 1e-2, beta, 1.0)
        yr, dr = pydl._C.local_response_norm(x._impl, size, 1e-2, beta, 1.0, True)
        W = pydl.Tensor._wrap
        np.testing.assert_allclose(to_numpy(W(y)), to_numpy(W(yr)), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(to_numpy(W(d)), to_numpy(W(dr)), rtol=1e-13, atol=1e-15)
        gx = pydl._C.local_response_norm_backward(g._impl, x._impl, y, d, size, 1e-2, beta, 1.0)
        gxr = pydl._C.local_response_norm_backward(g._impl, x._impl, y, d, size, 1e-2, beta, 1.0, True)
        np.testing.assert_allclose(to_numpy(W(gx)), to_numpy(W(gxr)), rtol=1e-12, atol=1e-14)
    for size in (1, 2, 3):
        fd_gradcheck(f"lrn_fd{size}", lambda x: F.local_response_norm(x, size, 0.5, 0.75, 1.0), shapes=[(2, 4, 3)])
    fd_gradcheck("lrn_fd4d", lambda x: F.local_response_norm(x, 3, 0.3, 0.6, 0.5), shapes=[(1, 5, 2, 2)])


def test_lrn_module_and_errors():
    check_op("lrn_module", lambda x: pydl.nn.LocalResponseNorm(3, 1e-3, 0.7, 1.5)(x),
             lambda x: torch.nn.LocalResponseNorm(3, 1e-3, 0.7, 1.5)(x), shapes=[(2, 6, 4, 4)])
    check_error(lambda: F.local_response_norm(pydl.ones(3, 4), 2), ValueError, match="3D or higher",
                torch_fn=lambda: TF.local_response_norm(torch.ones(3, 4), 2))
    check_error(lambda: F.local_response_norm(pydl.ones(2, 3, 4, dtype=pydl.int64), 2), RuntimeError)
    check_error(lambda: pydl._C.local_response_norm(pydl.ones(2, 3, 4)._impl, 0, 1e-4, 0.75, 1.0), RuntimeError,
                match="size")
