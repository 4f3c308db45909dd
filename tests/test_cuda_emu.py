"""The CUDA kernels (csrc/cuda/kernels/*.cu) run on the CPU emulator (pydl._cuemu), checked against
torch on odd shapes under every block / thread order, and the emulator itself checked on kernels with
planted bugs (csrc/cuda/emu/tests/planted_bugs.cu): each kind of bug must be reported.

Tolerances: elementwise ops use torch.testing's float32 defaults. Ops that sum n float32 terms
(GEMM over K, sum / softmax / layer-norm over C, layer-norm's dgamma over R) are compared with a
float64 reference under the standard bound for recursive/tree summation,
|err| <= n * eps32 * sum|terms| (+ 1e-6 absolute slack), with sum|terms| also computed in float64.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import pydl.cuda_emu as emu

pytestmark = pytest.mark.skipif(not emu.is_available(), reason="built with PYDL_CUDA_EMU=OFF")

ORDERS = ["forward", "reverse", "random"]
EPS32 = 2.0**-24
SIZES = [1, 7, 33, 65, 127, 257]
ROWS_COLS = [(1, 1), (7, 33), (3, 65), (5, 127), (2, 257), (33, 7), (4, 1000), (0, 5), (3, 0)]
PLANTED = Path(__file__).resolve().parent.parent / "csrc/cuda/emu/tests/planted_bugs.cu"


def rng(seed):
    return np.random.default_rng(seed)


def randn(*shape, seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def close(out, ref):
    torch.testing.assert_close(torch.from_numpy(np.asarray(out)), ref.float(), equal_nan=True)


def close_sum(out, ref64, abs64, n):
    """|out - ref| <= n * eps32 * sum|terms| + 1e-6, everything on the right in float64."""
    out = torch.from_numpy(np.asarray(out)).double()
    assert out.shape == ref64.shape, (out.shape, ref64.shape)
    bound = max(n, 1) * EPS32 * abs64 + 1e-6
    err = (out - ref64).abs()
    assert torch.all(err <= bound), f"max err {err.max().item():.3g}, bound there {bound.flatten()[err.argmax()].item():.3g}"


@pytest.fixture(params=ORDERS)
def order(request):
    # Block order and thread order both set. Forward and reverse block order are strict only with
    # one OpenMP thread; 'random' runs blocks on two threads at once (and a fixed seed, so a failure
    # reproduces).
    threads = 2 if request.param == "random" else 1
    with emu.schedule(request.param, request.param, seed=7, num_threads=threads):
        yield request.param


# -- elementwise ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES + [0, 4099])
def test_relu_gelu_add(order, n):
    x = randn(n, seed=n, scale=3.0)
    x[::5] = 0.0  # relu's gradient at exactly 0
    g = randn(n, seed=n + 1)
    b = randn(n, seed=n + 2)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.relu(tx)
    ty.backward(torch.from_numpy(g))
    close(emu.relu(x), ty.detach())
    close(emu.relu_backward(x, g), tx.grad)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.gelu(tx)
    ty.backward(torch.from_numpy(g))
    close(emu.gelu(x), ty.detach())
    close(emu.gelu_backward(x, g), tx.grad)
    close(emu.add(x, b), torch.from_numpy(x) + torch.from_numpy(b))


def test_elementwise_large_magnitudes_and_shape():
    x = np.array([[1e30, -1e30, np.inf, -np.inf, np.nan, 80.0, -80.0]], np.float32)
    with np.errstate(invalid="ignore"):
        close(emu.relu(x), torch.relu(torch.from_numpy(x)))
        # Not at +-inf: torch's vectorised gelu(inf) is NaN, the exact value (and ours) is inf.
        fin = x[:, [0, 1, 4, 5, 6]]
        close(emu.gelu(fin), torch.nn.functional.gelu(torch.from_numpy(fin)))
    assert emu.relu(x).shape == x.shape
    assert emu.relu(np.float32(-2.0)).shape == ()


def test_accepts_pydl_tensor_and_non_contiguous():
    import pydl

    x = randn(8, 6, seed=3)
    close(emu.relu(pydl.tensor(x)), torch.relu(torch.from_numpy(x)))
    xt = x.T  # non-contiguous view: copied to contiguous on the way in
    close(emu.softmax(xt), torch.softmax(torch.from_numpy(np.ascontiguousarray(xt)), -1))


# -- sum over the last dim -------------------------------------------------------------------------

@pytest.mark.parametrize("R,C", ROWS_COLS)
def test_sum_lastdim(order, R, C):
    x = randn(R, C, seed=R * 1000 + C, scale=10.0)
    x64 = torch.from_numpy(x).double()
    close_sum(emu.sum_lastdim(x), x64.sum(-1), x64.abs().sum(-1), C)
    g = randn(R, seed=5)
    tx = torch.from_numpy(x).requires_grad_()
    tx.sum(-1).backward(torch.from_numpy(g))
    close(emu.sum_lastdim_backward(g, C), tx.grad)


def test_sum_lastdim_batched_shape():
    x = randn(2, 3, 65, seed=1)
    x64 = torch.from_numpy(x).double()
    close_sum(emu.sum_lastdim(x), x64.sum(-1), x64.abs().sum(-1), 65)


# -- GEMM ladder -----------------------------------------------------------------------------------

GEMM_SHAPES = [(1, 1, 1), (7, 33, 65), (65, 127, 33), (33, 7, 257), (127, 65, 1), (64, 64, 64),
               (3, 5, 0), (0, 4, 3), (16, 128, 12)]


@pytest.mark.parametrize("variant", list(emu.GEMM_VARIANTS))
@pytest.mark.parametrize("M,N,K", GEMM_SHAPES)
def test_matmul(order, variant, M, N, K):
    a = randn(M, K, seed=M + 7 * N + 13 * K)
    b = randn(K, N, seed=M + 7 * N + 13 * K + 1)
    g = randn(M, N, seed=3)
    A, B, G = (torch.from_numpy(v).double() for v in (a, b, g))
    close_sum(emu.matmul(a, b, variant), A @ B, A.abs() @ B.abs(), K)
    ga, gb = emu.matmul_backward(a, b, g, variant)
    close_sum(ga, G @ B.T, G.abs() @ B.abs().T, N)
    close_sum(gb, A.T @ G, A.abs().T @ G.abs(), M)


def test_matmul_variants_bitwise_stable_across_orders():
    # No atomics, fixed reduction order per output: the result must not depend on the schedule.
    a, b = randn(65, 33, seed=1), randn(33, 127, seed=2)
    for variant in emu.GEMM_VARIANTS:
        outs = []
        for o in ORDERS:
            with emu.schedule(o, o, seed=3):
                outs.append(emu.matmul(a, b, variant))
        assert all(np.array_equal(outs[0], x) for x in outs[1:]), variant


# -- softmax ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list(emu.SOFTMAX_VARIANTS))
@pytest.mark.parametrize("R,C", ROWS_COLS)
def test_softmax(order, variant, R, C):
    x = randn(R, C, seed=R * 31 + C, scale=4.0)
    x[:, :1] += 50.0  # large magnitudes: the max subtraction must keep exp finite
    g = randn(R, C, seed=R + C)
    tx = torch.from_numpy(x).double().requires_grad_()
    ty = torch.softmax(tx, -1)
    ty.backward(torch.from_numpy(g).double())
    y = emu.softmax(x, variant)
    # y = exp(x - m) / s: relative error of s grows with C (a sum of C positive terms).
    torch.testing.assert_close(torch.from_numpy(y).double(), ty.detach(),
                               rtol=1.3e-6 + C * EPS32, atol=1e-5)
    dx = emu.softmax_backward(y, g, variant)
    # dx = y * (g - sum(g * y)): the dot product's bound, scaled by y.
    dot_abs = (ty.detach().abs() * torch.from_numpy(g).double().abs()).sum(-1, keepdim=True)
    close_sum(dx, tx.grad, ty.detach().abs() * (torch.from_numpy(g).double().abs() + dot_abs) * 4, C)


# -- layer norm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("R,C", [(1, 1), (7, 33), (3, 65), (5, 127), (2, 257), (33, 7), (4, 1000), (0, 5)])
def test_layer_norm(order, R, C):
    x = randn(R, C, seed=R * 17 + C, scale=3.0) + 5.0  # an offset: a naive E[x^2]-E[x]^2 would lose bits
    w = randn(C, seed=1) if C else np.zeros(0, np.float32)
    b = randn(C, seed=2) if C else np.zeros(0, np.float32)
    g = randn(R, C, seed=3)
    tx, tw, tb = (torch.from_numpy(v).double().requires_grad_() for v in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (C,), tw, tb, 1e-5)
    ty.backward(torch.from_numpy(g).double())
    y, mean, rstd = emu.layer_norm(x, w, b, 1e-5)
    x64 = torch.from_numpy(x).double()
    close_sum(mean, x64.mean(-1), x64.abs().mean(-1), C)
    var = ((x64 - x64.mean(-1, keepdim=True)) ** 2).mean(-1)  # (var() warns on 0 rows)
    torch.testing.assert_close(torch.from_numpy(rstd).double(), 1 / torch.sqrt(var + 1e-5),
                               rtol=1.3e-6 + C * EPS32, atol=1e-5)
    # y = xhat * w + b: xhat carries the mean/rstd errors (relative ~C*eps), scaled by |w|.
    scale = (tx.detach() - x64.mean(-1, keepdim=True)).abs() * 4 + 1
    close_sum(y, ty.detach(), scale * (tw.detach().abs() + 1) + tb.detach().abs(), C)
    dx, dw, db = emu.layer_norm_backward(x, w, mean, rstd, g)
    gabs = torch.from_numpy(g).double().abs()
    r = 1 / torch.sqrt(var[:, None] + 1e-5)
    close_sum(dx, tx.grad, r * (gabs * tw.detach().abs() * 8 + (gabs * tw.detach().abs()).mean(-1, keepdim=True) * 8), C)
    xhat_abs = ((x64 - x64.mean(-1, keepdim=True)) * r).abs()
    close_sum(dw, tw.grad, (gabs * (xhat_abs + 1)).sum(0) * 4, max(R, C))
    close_sum(db, tb.grad, gabs.sum(0), R)


# -- bad input -------------------------------------------------------------------------------------

def test_errors():
    a = randn(3, 4)
    with pytest.raises(ValueError, match="cannot be multiplied"):
        emu.matmul(a, randn(5, 2))
    with pytest.raises(ValueError, match="2-D"):
        emu.matmul(randn(3), randn(3, 2))
    with pytest.raises(ValueError, match="variant"):
        emu.matmul(a, randn(4, 2), "fast")
    with pytest.raises(ValueError, match="variant"):
        emu.softmax(a, "grid")
    with pytest.raises(TypeError, match="float32"):
        emu.relu(a.astype(np.float64))
    with pytest.raises(ValueError, match="same shape"):
        emu.add(a, randn(4, 3))
    with pytest.raises(ValueError, match="weight must have shape"):
        emu.layer_norm(a, randn(3), randn(4))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        emu.softmax(np.float32(1.0))
    with pytest.raises(ValueError, match="block_order"):
        with emu.schedule(block_order="sideways"):
            pass
    with pytest.raises(ValueError, match="grad must have shape"):
        emu.matmul_backward(a, randn(4, 2), randn(2, 2))


def test_schedule_restored():
    before = emu.get_schedule()
    with emu.schedule("reverse", "random", seed=5, num_threads=1):
        s = emu.get_schedule()
        assert (s["block_order"], s["thread_order"], s["seed"], s["num_threads"]) == ("reverse", "random", 5, 1)
    assert emu.get_schedule() == before


# -- planted bugs: the emulator must catch each ----------------------------------------------------

def mark_line(tag):
    for i, line in enumerate(PLANTED.read_text().splitlines(), 1):
        if f"MARK:{tag}" in line:
            return f"csrc/cuda/emu/tests/planted_bugs.cu:{i}"
    raise AssertionError(f"marker {tag} not found")


planted = emu._mod().planted


def test_missing_syncthreads_static_shared():
    x = randn(8, 256, seed=11)
    ref = x.astype(np.float64).sum(1)
    for o in ORDERS:  # the correct kernel is right in every order
        with emu.schedule(o, o, seed=1):
            np.testing.assert_allclose(planted.tree_sum(0, x), ref, rtol=1e-5, atol=1e-4)
    # Forward thread order runs thread t < 128 to the read of s[t + 128] before thread t + 128 has
    # stored it: that slot still holds the previous block's data, so the rows come out wrong.
    with emu.schedule("forward", "forward", num_threads=1):
        bad = planted.tree_sum(1, x)
    assert not np.allclose(bad, ref, rtol=1e-3, atol=1e-2)
    # Reverse order happens to hide this bug (producers run first): why both orders are tested.
    with emu.schedule("reverse", "reverse", num_threads=1):
        np.testing.assert_allclose(planted.tree_sum(1, x), ref, rtol=1e-5, atol=1e-4)


def test_missing_syncthreads_dynamic_shared_reads_nan():
    x = randn(3, 256, seed=12)
    with emu.schedule("forward", "forward"):
        bad = planted.tree_sum(2, x)
    assert np.isnan(bad).all()  # dynamic shared memory starts as 0xFF bytes: unwritten reads are NaN
    with emu.schedule("random", "random", seed=2):
        assert not np.allclose(planted.tree_sum(2, x), x.sum(1), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("o", ORDERS)
def test_early_return_before_barrier(o):
    x = randn(64, seed=13)
    with emu.schedule(o, o, seed=3):
        np.testing.assert_array_equal(planted.early_return_barrier(x, 64), x[::-1])  # no early exit: fine
        with pytest.raises(RuntimeError, match=re.escape(f"divergent __syncthreads at {mark_line('early_return_barrier')}") + ".*exited"):
            planted.early_return_barrier(x, 40)


def test_threads_at_different_barriers():
    with pytest.raises(RuntimeError, match="divergent __syncthreads") as e:
        planted.split_barrier()
    assert mark_line("split_a") in str(e.value) and mark_line("split_b") in str(e.value)


@pytest.mark.parametrize("o", ORDERS)
def test_shuffle_mask_names_exited_lane(o):
    with emu.schedule(o, o, seed=4):
        with pytest.raises(RuntimeError, match=re.escape(f"__shfl_down_sync at {mark_line('shfl_exited')}") + ".*exited"):
            planted.shfl_exited_lane(randn(32))


def test_shuffle_mask_without_calling_lane():
    with pytest.raises(RuntimeError, match=re.escape(f"__shfl_sync at {mark_line('shfl_self')}") + ".*not in the mask"):
        planted.shfl_mask_without_self(randn(32))


@pytest.mark.parametrize("o", ORDERS)
def test_shuffle_while_other_lanes_wait_at_barrier(o):
    with emu.schedule(o, o, seed=5):
        with pytest.raises(RuntimeError, match=re.escape(f"__shfl_xor_sync at {mark_line('shfl_vs_barrier')}") + ".*waits at __syncthreads"):
            planted.shfl_vs_barrier(randn(32))


@pytest.mark.parametrize("o", ORDERS)
def test_mismatched_warp_collectives(o):
    with emu.schedule(o, o, seed=6):
        with pytest.raises(RuntimeError, match="mismatched warp collectives.*__shfl_down_sync.*__ballot_sync|mismatched warp collectives.*__ballot_sync.*__shfl_down_sync"):
            planted.mismatched_collectives(randn(32))


def test_out_of_bounds_read_gives_nan():
    x = randn(65, seed=14)
    y = planted.oob_read(x)
    np.testing.assert_allclose(y[:-1], x[:-1] + x[1:], rtol=1.3e-6, atol=1e-5)
    assert np.isnan(y[-1])  # x[65] is in the allocation's NaN-patterned padding


def test_out_of_bounds_write_reported():
    with pytest.raises(RuntimeError, match=r"out-of-bounds write 0 bytes past the end of a 260-byte device allocation.*oob_write_kernel"):
        planted.oob_write(randn(65))


def test_dynamic_shared_overflow_reported():
    with pytest.raises(RuntimeError, match="past the end of the 128-byte dynamic shared memory.*smem_overflow_kernel"):
        planted.smem_overflow()


def test_no_leaks_and_still_usable_after_faults():
    for f in (planted.split_barrier, planted.smem_overflow):
        with pytest.raises(RuntimeError):
            f()
    assert emu._mod().live_allocations() == 0
    x = randn(5, 33, seed=15)
    close(emu.softmax(x, "block"), torch.softmax(torch.from_numpy(x), -1))


# -- cross entropy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("N,C", [(1, 1), (7, 33), (5, 127), (3, 257), (33, 7), (0, 4)])
def test_cross_entropy(order, N, C):
    x = randn(N, C, seed=N * 3 + C, scale=5.0)
    t = rng(N + C).integers(0, C, size=N)
    if N > 2:
        t[1] = -100  # ignored row
    g = randn(N, seed=9)
    tx = torch.from_numpy(x).double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(tx, torch.from_numpy(t), reduction="none", ignore_index=-100)
    loss.backward(torch.from_numpy(g).double())
    out, lse = emu.cross_entropy(x, t)
    x64 = torch.from_numpy(x).double()
    close_sum(out, loss.detach(), x64.abs().max(-1).values * 2 + C * 2, C)  # lse's error ~ C*eps*(|x|+1)
    dx = emu.cross_entropy_backward(x, t, lse, g)
    close_sum(dx, tx.grad, torch.from_numpy(g).double().abs()[:, None] * 4 * (x64.abs().amax(-1, keepdim=True) + 1), C)


def test_cross_entropy_bad_target():
    with pytest.raises(IndexError, match="target 5 is out of bounds"):
        emu.cross_entropy(randn(2, 5), np.array([0, 5]))
    with pytest.raises(TypeError, match="integer"):
        emu.cross_entropy(randn(2, 5), np.array([0.0, 1.0]))


# -- embedding ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("V,D,shape", [(1, 1, (1,)), (7, 33, (5, 3)), (65, 7, (127,)), (3, 257, (2, 9))])
def test_embedding(order, V, D, shape):
    w = randn(V, D, seed=V + D)
    idx = rng(V * D).integers(0, V, size=shape)  # repeats: the backward's atomics must add them all
    g = randn(*shape, D, seed=4)
    tw = torch.from_numpy(w).requires_grad_()
    out = torch.nn.functional.embedding(torch.from_numpy(idx), tw)
    out.backward(torch.from_numpy(g))
    close(emu.embedding(w, idx), out.detach())
    count = np.bincount(idx.ravel(), minlength=V).max()  # terms summed per weight row (any order)
    dw = emu.embedding_backward(g, idx, V)
    g64 = torch.from_numpy(g).double().reshape(-1, D)
    ref = torch.zeros(V, D, dtype=torch.float64).index_add_(0, torch.from_numpy(idx.ravel()), g64)
    absref = torch.zeros(V, D, dtype=torch.float64).index_add_(0, torch.from_numpy(idx.ravel()), g64.abs())
    close_sum(dw, ref, absref, count)


def test_embedding_bad_index():
    with pytest.raises(IndexError, match="index -1 is out of bounds for size 4"):
        emu.embedding(randn(4, 3), np.array([0, -1]))
    with pytest.raises(IndexError, match="index 4 is out of bounds"):
        emu.embedding_backward(randn(2, 3), np.array([0, 4]), 4)


# -- fused optimizer steps ---------------------------------------------------------------------------

@pytest.mark.parametrize("momentum,dampening,wd,nesterov", [(0.0, 0.0, 0.0, False), (0.9, 0.0, 1e-2, False),
                                                           (0.9, 0.1, 0.0, False), (0.8, 0.0, 1e-3, True)])
def test_sgd_matches_torch(order, momentum, dampening, wd, nesterov):
    p0 = randn(257, seed=1)
    tp = torch.from_numpy(p0.copy()).requires_grad_()
    opt = torch.optim.SGD([tp], lr=0.1, momentum=momentum, dampening=dampening, weight_decay=wd,
                          nesterov=nesterov)
    p, buf = p0.copy(), np.zeros_like(p0)
    for step in range(3):
        g = randn(257, seed=10 + step)
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        p, buf = emu.sgd_step(p, g, buf, 0.1, momentum, dampening, wd, nesterov, first_step=step == 0)
        close(p, tp.detach())


@pytest.mark.parametrize("wd,decoupled", [(0.0, False), (1e-2, False), (1e-2, True)])
def test_adam_matches_torch(order, wd, decoupled):
    p0 = randn(65, 3, seed=2)
    tp = torch.from_numpy(p0.copy()).requires_grad_()
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([tp], lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for step in range(1, 4):
        g = randn(65, 3, seed=20 + step)
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        p, m, v = emu.adam_step(p, g, m, v, step, lr=1e-2, betas=(0.9, 0.99), eps=1e-8,
                                weight_decay=wd, decoupled=decoupled)
        close(p, tp.detach())
        close(m, opt.state[tp]["exp_avg"])
        close(v, opt.state[tp]["exp_avg_sq"])


# -- scaled dot-product attention (flash) ------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("B,H,T,S,E", [(1, 1, 1, 1, 1), (2, 3, 7, 33, 16), (1, 2, 65, 65, 64),
                                       (1, 1, 33, 7, 128), (2, 1, 5, 37, 33)])
def test_sdpa(order, causal, B, H, T, S, E):
    q = randn(B, H, T, E, seed=1)
    k = randn(B, H, S, E, seed=2)
    v = randn(B, H, S, E, seed=3)
    g = randn(B, H, T, E, seed=4)
    tq, tk, tv = (torch.from_numpy(a).double().requires_grad_() for a in (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    ref.backward(torch.from_numpy(g).double())
    out, lse = emu.scaled_dot_product_attention(q, k, v, is_causal=causal)
    # Every output is a convex combination of up to S values of v, built by an S-step recurrence.
    vmax = torch.from_numpy(v).double().abs().amax(-2, keepdim=True)
    close_sum(out, ref.detach(), vmax * (E + 4), S)
    gq, gk, gv = emu.scaled_dot_product_attention_backward(q, k, v, out, lse, g, is_causal=causal)
    # Magnitude bounds (p <= 1, sum_s p = 1, |dO.v - delta| <= 2 |dO_t|_1 max|v|) times the
    # length of the sums each gradient is built from.
    G = torch.from_numpy(g).double()
    gnorm = G.abs().sum(-1, keepdim=True)  # (..., T, 1)
    amax = lambda a: torch.from_numpy(a).double().abs().amax((-2, -1), keepdim=True)  # noqa: E731
    sc = 1 / np.sqrt(E)
    close_sum(gv, tv.grad, (G.abs().sum(-2, keepdim=True)).expand_as(tv.grad), T)
    close_sum(gq, tq.grad, (sc * 2 * gnorm * amax(v) * amax(k) * 2).expand_as(tq.grad), S + E)
    close_sum(gk, tk.grad, (sc * 2 * gnorm.sum(-2, keepdim=True) * amax(v) * amax(q) * 2).expand_as(tk.grad), T + E)


def test_sdpa_errors():
    with pytest.raises(ValueError, match="leading dims"):
        emu.scaled_dot_product_attention(randn(2, 3, 4), randn(3, 3, 4), randn(3, 3, 4))
    with pytest.raises(ValueError, match="128"):
        emu.scaled_dot_product_attention(randn(1, 2, 129), randn(1, 2, 129), randn(1, 2, 129))


# -- conv2d (im2col + GEMM) and the tiled transpose --------------------------------------------------

@pytest.mark.parametrize("R,C", [(1, 1), (7, 33), (65, 31), (33, 127), (0, 3)])
def test_transpose(order, R, C):
    a = randn(R, C, seed=R + C)
    np.testing.assert_array_equal(emu.transpose(a), a.T)


@pytest.mark.parametrize("N,Cin,H,W,Cout,k,stride,pad,dil,bias", [
    (1, 1, 1, 1, 1, 1, 1, 0, 1, True),
    (2, 3, 7, 9, 5, 3, 1, 1, 1, True),
    (1, 4, 9, 8, 7, 3, 2, 0, 1, False),
    (2, 2, 11, 6, 3, (3, 2), (2, 1), (1, 2), (2, 1), True),
    (1, 33, 5, 5, 2, 1, 1, 0, 1, True),
])
def test_conv2d(order, N, Cin, H, W, Cout, k, stride, pad, dil, bias):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = randn(N, Cin, H, W, seed=1)
    w = randn(Cout, Cin, kh, kw, seed=2)
    b = randn(Cout, seed=3) if bias else None
    tx, tw = (torch.from_numpy(a).double().requires_grad_() for a in (x, w))
    tb = torch.from_numpy(b).double().requires_grad_() if bias else None
    ref = torch.nn.functional.conv2d(tx, tw, tb, stride, pad, dil)
    g = randn(*ref.shape, seed=4)
    ref.backward(torch.from_numpy(g).double())
    y = emu.conv2d(x, w, b, stride, pad, dil)
    X, Wt, G = (torch.from_numpy(a).double() for a in (x, w, g))
    CK = Cin * kh * kw
    absy = torch.nn.functional.conv2d(X.abs(), Wt.abs(), None if b is None else torch.from_numpy(b).double().abs(),
                                      stride, pad, dil)
    close_sum(y, ref.detach(), absy, CK + 1)
    gx, gw, gb = emu.conv2d_backward(x, w, g, bias, stride, pad, dil)
    P = ref.shape[0] * ref.shape[2] * ref.shape[3]
    absgx = torch.nn.grad.conv2d_input(X.shape, Wt.abs(), G.abs(), stride, pad, dil)
    absgw = torch.nn.grad.conv2d_weight(X.abs(), Wt.shape, G.abs(), stride, pad, dil)
    close_sum(gx, tx.grad, absgx, Cout * kh * kw)
    close_sum(gw, tw.grad, absgw, P)
    if bias:
        close_sum(gb, tb.grad, G.abs().sum((0, 2, 3)), P)
    else:
        assert gb is None


def test_conv2d_errors():
    with pytest.raises(ValueError, match="input channels"):
        emu.conv2d(randn(1, 3, 5, 5), randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="greater than the padded input"):
        emu.conv2d(randn(1, 1, 2, 2), randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="stride"):
        emu.conv2d(randn(1, 1, 5, 5), randn(1, 1, 3, 3), stride=0)


# -- the same kernels on a real GPU (pydl._C_cuda), when there is one ----------------------------------

def _gpu_module():
    import pydl.cuda

    return pydl.cuda._load() if pydl.cuda.is_available() else None


@pytest.mark.skipif(_gpu_module() is None, reason="no usable CUDA GPU here (pydl.cuda.status() says why)")
def test_real_gpu_matches_emulator():
    # The real module exposes the same functions; results agree to float32 rounding (the GPU's
    # expf/erff and FMA contraction differ in the last bits, hence the loosened tolerance).
    gpu, cpu = _gpu_module(), emu._mod()
    x, a, b = randn(7, 65, seed=1), randn(65, 33, seed=2), randn(33, 127, seed=3)
    g, w = randn(7, 65, seed=4), randn(65, seed=5)
    q, kk, v = randn(2, 9, 33, seed=6), randn(2, 37, 33, seed=7), randn(2, 37, 33, seed=8)
    cases = [("relu_forward", (x,)), ("gelu_backward", (x, g)), ("sum_lastdim_forward", (x,)),
             ("softmax_forward", (0, x)), ("softmax_forward", (1, x)),
             ("layer_norm_forward", (x, w, w, 1e-5)), ("sdpa_forward", (q, kk, v, 0.17, True))]
    cases += [("gemm", (variant, a, b)) for variant in range(3)]
    for name, args in cases:
        want, got = getattr(cpu, name)(*args), getattr(gpu, name)(*args)
        for wv, gv in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
            np.testing.assert_allclose(gv, wv, rtol=2e-5, atol=2e-5, err_msg=name)


def test_real_module_without_gpu_raises_cleanly():
    import pydl.cuda

    m = pydl.cuda._load()
    if m is None or pydl.cuda.is_available():
        pytest.skip("needs pydl._C_cuda built (nvcc at build time) on a machine without a usable GPU")
    for call in (lambda: m.relu_forward(randn(4)), lambda: m.gemm(2, randn(3, 4), randn(4, 5))):
        with pytest.raises(RuntimeError, match="CUDA error"):
            call()


# -- pooling -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("N,C,H,W,k,stride,pad", [
    (1, 1, 1, 1, 1, None, 0), (2, 3, 7, 9, 2, None, 0), (1, 2, 9, 8, 3, 2, 1),
    (2, 1, 11, 6, (3, 2), (2, 1), (1, 1)), (1, 3, 33, 7, 3, 1, 1),
])
def test_pooling(order, N, C, H, W, k, stride, pad):
    x = randn(N, C, H, W, seed=H * W)
    x.reshape(-1)[::7] = x.reshape(-1)[-1]  # ties: the first index must win, as in torch
    tx = torch.from_numpy(x).requires_grad_()
    ref, ridx = torch.nn.functional.max_pool2d(tx, k, stride, pad, return_indices=True)
    g = randn(*ref.shape, seed=5)
    ref.backward(torch.from_numpy(g))
    y, idx = emu.max_pool2d(x, k, stride, pad)
    close(y, ref.detach())
    np.testing.assert_array_equal(idx, ridx.numpy())
    close(emu.max_pool2d_backward(x, g, idx, k, stride, pad), tx.grad)
    tx = torch.from_numpy(x).double().requires_grad_()
    ref = torch.nn.functional.avg_pool2d(tx, k, stride, pad)
    ref.backward(torch.from_numpy(g).double())
    kk = (k, k) if isinstance(k, int) else k
    absx = torch.nn.functional.avg_pool2d(tx.detach().abs(), k, stride, pad)
    close_sum(emu.avg_pool2d(x, k, stride, pad), ref.detach(), absx, kk[0] * kk[1])
    # dx = sum over <= kh*kw windows of dy / (kh*kw): at most max|dy| in magnitude.
    close_sum(emu.avg_pool2d_backward(x, g, k, stride, pad), tx.grad,
              torch.full_like(tx.grad, float(np.abs(g).max())), kk[0] * kk[1])


def test_pooling_errors():
    with pytest.raises(ValueError, match="at most half"):
        emu.max_pool2d(randn(1, 1, 5, 5), 2, 1, 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        emu.avg_pool2d(randn(5, 5), 2)
