"""scaled_dot_product_attention against torch: both variants (reference, flash), float32 and float64,
odd shapes (L, S, E, Ev in 1, 7, 33, 65, 127; E != Ev), batch dims with broadcasting, causal with
L != S, bool / float masks broadcast from (L, S), fully masked rows (0, as torch), ±1e4 logits,
non-contiguous (B, L, H, E) -> (B, H, L, E) views, every ISA, float64 finite differences, dropout
(statistics, determinism, backward consistency), O(L*E) memory at L = 8192, and the error rows."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, check_error, check_op, fd_gradcheck, on_isa, on_variant, rng_for, to_numpy

VARIANTS = ["reference", "flash"]


def sdpa_fns(**kw):
    """(pydl_fn, torch_fn) of q, k, v[, mask] with keyword arguments kw."""
    def p(q, k, v, m=None):
        return pydl.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    def t(q, k, v, m=None):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)
    return p, t


def qkv_shapes(batch, L, S, E, Ev):
    return [batch + (L, E), batch + (S, E), batch + (S, Ev)]


# (batch, L, S, E, Ev): odd sizes around the 64-wide tiles, E != Ev, L != S.
SHAPES = [
    ((), 1, 1, 1, 1),
    ((), 7, 7, 7, 7),
    ((2,), 33, 65, 7, 33),
    ((2, 3), 7, 33, 65, 1),
    ((1,), 127, 65, 33, 7),
    ((3,), 65, 127, 1, 65),
    ((2,), 129, 7, 16, 16),
    ((), 1, 127, 64, 64),
    ((2, 1), 127, 1, 65, 7),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_shapes(variant, dtype, causal):
    with on_variant("attention", variant):
        for batch, L, S, E, Ev in SHAPES:
            check_op(f"sdpa_{variant}_{causal}", *sdpa_fns(is_causal=causal), shapes=qkv_shapes(batch, L, S, E, Ev),
                     dtype=dtype)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_scale_and_empty(variant):
    with on_variant("attention", variant):
        for scale in (0.37, 2.0, 0.0):
            check_op("sdpa_scale", *sdpa_fns(scale=scale), shapes=qkv_shapes((2,), 33, 7, 7, 5))
        check_op("sdpa_scale_causal", *sdpa_fns(scale=0.5, is_causal=True), shapes=qkv_shapes((), 7, 33, 9, 3))
        check_op("sdpa_E0", *sdpa_fns(), shapes=qkv_shapes((2,), 3, 5, 0, 4))
        check_op("sdpa_L0", *sdpa_fns(), shapes=qkv_shapes((2,), 0, 5, 3, 4))
        check_op("sdpa_S0", *sdpa_fns(), shapes=qkv_shapes((2,), 3, 0, 3, 4))
        check_op("sdpa_B0", *sdpa_fns(), shapes=qkv_shapes((0, 2), 3, 5, 3, 4))
        check_op("sdpa_rank2", *sdpa_fns(), shapes=qkv_shapes((), 9, 13, 5, 3))
        check_op("sdpa_Ev0", *sdpa_fns(), shapes=qkv_shapes((2,), 3, 5, 4, 0))


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_strided_mask(variant):
    """A mask that is itself a transposed view (strided rows and columns) is read in place."""
    rng = rng_for("strided_mask")
    q, k, v = (rng.uniform(-1, 1, s).astype(np.float32) for s in qkv_shapes((2,), 6, 70, 4, 3))
    m = rng.uniform(-1, 1, (70, 6)).astype(np.float32)
    keep = rng.random((70, 6)) < 0.6

    def fn(L, q, k, v, m):
        return L.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m.transpose(0, 1))
    with on_variant("attention", variant):
        for mask in (m, keep):
            check_op("sdpa_mask_T", lambda *x: fn(pydl, *x), lambda *x: fn(torch, *x), inputs=[q, k, v, mask],
                     grad=[0, 1, 2])


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_broadcast_batch(variant):
    # leading dims broadcast between q, k and v (as torch's math path); gradients sum back
    with on_variant("attention", variant):
        for shapes in ([(2, 3, 7, 5), (3, 9, 5), (1, 3, 9, 4)],
                       [(3, 7, 5), (9, 5), (9, 6)],
                       [(2, 1, 7, 5), (1, 4, 9, 5), (2, 4, 9, 3)],
                       [(1, 65, 33), (2, 70, 33), (2, 70, 7)]):
            check_op("sdpa_bcast", *sdpa_fns(), shapes=shapes)
            check_op("sdpa_bcast_causal", *sdpa_fns(is_causal=True), shapes=shapes)


MASK_CASES = [  # (batch, L, S, mask shape)
    ((2, 3), 7, 33, (7, 33)),
    ((2, 3), 33, 7, (1, 7)),
    ((2, 3), 33, 70, (33, 1)),
    ((2, 3), 7, 9, (2, 1, 7, 9)),
    ((2, 3), 7, 9, (3, 1, 9)),
    ((2,), 65, 129, (2, 65, 129)),
    ((), 5, 6, (5, 6)),
    ((), 5, 6, ()),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sdpa_masks(variant, dtype):
    with on_variant("attention", variant):
        for batch, L, S, mshape in MASK_CASES:
            rng = rng_for("mask", batch, L, S, mshape, dtype)
            shapes = qkv_shapes(batch, L, S, 17, 6)
            q, k, v = (rng.uniform(-2, 2, s).astype(dtype) for s in shapes)
            keep = np.asarray(rng.random(mshape) < 0.7)
            if keep.ndim:
                keep.reshape(-1)[0] = True
            check_op("sdpa_bool_mask", *sdpa_fns(), inputs=[q, k, v, keep], grad=[0, 1, 2])
            add = np.asarray(rng.uniform(-3, 3, mshape)).astype(dtype)
            add[~keep] = -np.inf
            check_op("sdpa_float_mask", *sdpa_fns(), inputs=[q, k, v, add], grad=[0, 1, 2])
            check_op("sdpa_float_mask_scaled", *sdpa_fns(scale=0.2), inputs=[q, k, v, add], grad=[0, 1, 2])


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_fully_masked_rows(variant):
    """Rows with every key masked: 0 output and 0 gradient, no NaN. torch 2.13's math path gives 0 too
    (older torch gave NaN for bool masks; we keep 0 there, see pydl/ops/attention.py)."""
    rng = rng_for("fully_masked")
    L, S = 70, 67
    q, k, v = (rng.uniform(-2, 2, s).astype(np.float32) for s in qkv_shapes((2,), L, S, 9, 5))
    keep = rng.random((L, S)) < 0.5
    keep[[0, 3, 64, 69]] = False          # whole rows masked, in both query blocks
    add = np.where(keep, 0.0, -np.inf).astype(np.float32)
    with on_variant("attention", variant):
        check_op("sdpa_dead_rows_bool", *sdpa_fns(), inputs=[q, k, v, keep], grad=[0, 1, 2])
        check_op("sdpa_dead_rows_float", *sdpa_fns(), inputs=[q, k, v, add], grad=[0, 1, 2])
        qp, kp, vp = (pydl.tensor(a, requires_grad=True) for a in (q, k, v))
        out = pydl.nn.functional.scaled_dot_product_attention(qp, kp, vp, attn_mask=pydl.tensor(keep))
        out.sum().backward()
        o = to_numpy(out)
        assert np.all(np.isfinite(o)) and np.all(o[:, [0, 3, 64, 69]] == 0)
        assert np.all(to_numpy(qp.grad)[:, [0, 3, 64, 69]] == 0)
        assert np.all(np.isfinite(to_numpy(kp.grad))) and np.all(np.isfinite(to_numpy(vp.grad)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_large_logits(variant):
    """Logits of magnitude ~1e4 stay finite and exact: integer q, k with scale=1 make every score an exact
    float32 integer, so only the softmax's own stability is tested (no rounding of the dot products)."""
    rng = rng_for("large")
    # dq = sum_j dS_ij k_j and dk = sum_i dS_ij q_i carry |q|, |k| <= 50 (25x the default inputs'
    # range): the float32 rounding of dP - D (~eps |dO| |v| per weight) is scaled by that.
    tol = dict(grad_atol=25e-5, reason="gradients scale with |q|, |k| <= 50")
    for L, S, E in ((33, 70, 16), (7, 129, 9)):
        q = rng.integers(-50, 51, (2, L, E)).astype(np.float32)
        k = rng.integers(-50, 51, (2, S, E)).astype(np.float32)
        v = rng.uniform(-2, 2, (2, S, 7)).astype(np.float32)
        with on_variant("attention", variant):
            check_op("sdpa_big", *sdpa_fns(scale=1.0), inputs=[q, k, v], **tol)
            check_op("sdpa_big_causal", *sdpa_fns(scale=1.0, is_causal=True), inputs=[q, k, v], **tol)
            out = pydl.nn.functional.scaled_dot_product_attention(*(pydl.tensor(a) for a in (q, k, v)), scale=1.0)
            assert np.all(np.isfinite(to_numpy(out)))
            assert np.abs(np.einsum("ble,bse->bls", q, k)).max() > 8e3


@pytest.mark.parametrize("isa", ISAS)
def test_sdpa_isa(isa):
    with on_isa(isa):
        for dtype in ("float32", "float64"):
            for batch, L, S, E, Ev in [((2,), 70, 67, 33, 17), ((), 7, 129, 8, 65)]:
                for causal in (False, True):
                    check_op("sdpa_isa", *sdpa_fns(is_causal=causal), shapes=qkv_shapes(batch, L, S, E, Ev),
                             dtype=dtype)


@pytest.mark.parametrize("threads", [1, 3])
def test_sdpa_thread_splits(threads):
    """Fewer slices than threads: the backward splits each slice's keys into chunks with their own dq
    partials (summed afterwards); one thread runs everything in one piece. Same results either way."""
    prev = pydl.get_num_threads()
    pydl.set_num_threads(threads)
    try:
        for batch, L, S in (((), 130, 200), ((2,), 65, 129)):
            for causal in (False, True):
                check_op("sdpa_threads", *sdpa_fns(is_causal=causal), shapes=qkv_shapes(batch, L, S, 24, 9))
    finally:
        pydl.set_num_threads(prev)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_noncontiguous(variant):
    """Heads split from (B, L, H, E) and transposed to (B, H, L, E): strided rows, used in place; and
    the harness's transposed last dims (a unit-stride copy)."""
    def fn(L, q, k, v, causal):
        f = L.nn.functional.scaled_dot_product_attention
        return f(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)

    rng = rng_for("bhle")
    with on_variant("attention", variant):
        for B, Lq, S, H, E, Ev in ((2, 33, 65, 3, 16, 8), (1, 7, 5, 4, 7, 9)):
            q = rng.uniform(-2, 2, (B, Lq, H, E)).astype(np.float32)
            k = rng.uniform(-2, 2, (B, S, H, E)).astype(np.float32)
            v = rng.uniform(-2, 2, (B, S, H, Ev)).astype(np.float32)
            for causal in (False, True):
                check_op("sdpa_bhle", lambda *x: fn(pydl, *x, causal), lambda *x: fn(torch, *x, causal),
                         inputs=[q, k, v])
        check_op("sdpa_nc", *sdpa_fns(), shapes=qkv_shapes((2,), 33, 70, 7, 5), noncontiguous=True)
        check_op("sdpa_nc_causal", *sdpa_fns(is_causal=True), shapes=qkv_shapes((3,), 9, 5, 4, 4),
                 noncontiguous=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_fd_gradcheck(variant):
    f = pydl.nn.functional.scaled_dot_product_attention
    rng = rng_for("fd_mask")
    keep = pydl.tensor(rng.random((5, 6)) < 0.6)
    add = pydl.tensor(rng.uniform(-1, 1, (5, 6)))
    with on_variant("attention", variant):
        fd_gradcheck("sdpa_fd", lambda q, k, v: f(q, k, v), shapes=qkv_shapes((2,), 5, 6, 3, 4))
        fd_gradcheck("sdpa_fd_causal", lambda q, k, v: f(q, k, v, is_causal=True), shapes=qkv_shapes((2,), 5, 3, 3, 2))
        fd_gradcheck("sdpa_fd_bool", lambda q, k, v: f(q, k, v, attn_mask=keep), shapes=qkv_shapes((), 5, 6, 4, 3))
        fd_gradcheck("sdpa_fd_add", lambda q, k, v: f(q, k, v, attn_mask=add, scale=0.7),
                     shapes=qkv_shapes((2,), 5, 6, 2, 3))
        fd_gradcheck("sdpa_fd_bcast", lambda q, k, v: f(q, k, v), shapes=[(2, 4, 3), (5, 3), (1, 5, 2)])


# ------------------------------------------------------------------------------------------------
# dropout: pydl's own seeded mask (torch's RNG stream cannot be matched)
# ------------------------------------------------------------------------------------------------
def _dropout_keep(batch, L, S, p, seed):
    """The keep mask dropout_p=p draws after pydl.manual_seed(seed), read back through the op: q = k = 0
    gives uniform weights 1/S and v = I (S x S) puts weight (i, j) * keep / (1-p) in out[..., i, j]."""
    pydl.manual_seed(seed)
    z = pydl.zeros(*batch, L, 3)
    out = pydl.nn.functional.scaled_dot_product_attention(z, pydl.zeros(*batch, S, 3), pydl.eye(S).expand(*batch, S, S),
                                                          dropout_p=p)
    o = to_numpy(out) * S * (1 - p)
    assert np.allclose(o[o > 0.5], 1, atol=1e-5) and np.all(np.abs(o[o <= 0.5]) < 1e-6)
    return o > 0.5


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_dropout_statistics(variant):
    with on_variant("attention", variant):
        for p in (0.1, 0.5, 0.9):
            keep = _dropout_keep((2, 3), 40, 50, p, seed=1234)
            n = keep.size
            frac = 1 - keep.mean()
            assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n), (p, frac)   # binomial, 5 sigma
            # neighbours independent: P(both kept) ~ (1-p)^2
            both = (keep[..., 1:] & keep[..., :-1]).mean()
            assert abs(both - (1 - p) ** 2) < 5 * np.sqrt((1 - p) ** 2 / keep[..., 1:].size) + 0.01
        a = _dropout_keep((2,), 30, 70, 0.3, seed=7)
        b = _dropout_keep((2,), 30, 70, 0.3, seed=7)
        c = _dropout_keep((2,), 30, 70, 0.3, seed=8)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        # the slices of a batch differ
        assert not np.array_equal(a[0], a[1])


def test_sdpa_dropout_same_mask_in_both_variants():
    for shape in (((2,), 70, 67), ((), 7, 129)):
        with on_variant("attention", "reference"):
            a = _dropout_keep(*shape, 0.4, seed=99)
        with on_variant("attention", "flash"):
            b = _dropout_keep(*shape, 0.4, seed=99)
        assert np.array_equal(a, b)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_dropout_backward_consistency(variant, causal):
    """Forward and backward use the same dropout mask: with the mask read back (it depends on the seed
    and positions only), torch computes softmax(scores) * keep / (1 - p) @ v in float64 with autograd;
    pydl's output and all three gradients must match it."""
    p, seed = 0.3, 2024
    batch, L, S, E, Ev = (2, 2), 70, 67, 9, 5
    with on_variant("attention", variant):
        keep = _dropout_keep(batch, L, S, p, seed)
        rng = rng_for("dropout_bwd", causal)
        q, k, v = (rng.uniform(-2, 2, s).astype(np.float64) for s in qkv_shapes(batch, L, S, E, Ev))
        g = rng.standard_normal(batch + (L, Ev))
        pydl.manual_seed(seed)
        xs = [pydl.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = pydl.nn.functional.scaled_dot_product_attention(*xs, dropout_p=p, is_causal=causal)
        out.backward(pydl.tensor(g))
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    s = ts[0] @ ts[1].transpose(-1, -2) / np.sqrt(E)
    if causal:
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    w = torch.softmax(s, -1) * torch.tensor(keep) / (1 - p)
    ref = w @ ts[2]
    ref.backward(torch.tensor(g))
    torch.testing.assert_close(torch.from_numpy(to_numpy(out)), ref.detach())
    for a, b in zip(xs, ts):
        torch.testing.assert_close(torch.from_numpy(to_numpy(a.grad)), b.grad)


def test_sdpa_dropout_edges():
    rng = rng_for("dropout_edges")
    q, k, v = (pydl.tensor(rng.uniform(-1, 1, s).astype(np.float32), requires_grad=True)
               for s in qkv_shapes((2,), 7, 9, 4, 3))
    out = pydl.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=1.0)   # torch: all dropped
    out.sum().backward()
    assert np.all(to_numpy(out) == 0) and np.all(to_numpy(v.grad) == 0) and np.all(to_numpy(q.grad) == 0)
    want = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(to_numpy(t)) for t in (q, k, v)),
                                                           dropout_p=1.0)
    assert torch.all(want == 0)
    # dropout draws from pydl's generator: the next random numbers move on
    pydl.manual_seed(5)
    a = to_numpy(pydl.rand(3))
    pydl.manual_seed(5)
    pydl.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.array_equal(a, to_numpy(pydl.rand(3)))


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
def _err_rows():
    Pf, Tf = pydl.nn.functional.scaled_dot_product_attention, torch.nn.functional.scaled_dot_product_attention

    def both(shapes, dtypes=("float32",) * 3, **kw):
        mk = kw.pop("mask", None)
        arrs = [np.zeros(s, dtype=d) for s, d in zip(shapes, dtypes)]
        pm = tm = None
        if mk is not None:
            pm, tm = pydl.tensor(mk), torch.tensor(mk)
        return (lambda: Pf(*(pydl.tensor(a) for a in arrs), attn_mask=pm, **kw),
                lambda: Tf(*(torch.tensor(a) for a in arrs), attn_mask=tm, **kw))

    s3 = qkv_shapes((2,), 4, 6, 5, 3)
    return [
        ("rank1", both([(5,), (5,), (5,)]), RuntimeError, "at least 2 dimensional"),
        ("rank1_q", both([(5,), (6, 5), (6, 3)]), RuntimeError, "at least 2 dimensional"),
        ("E_mismatch", both([(2, 4, 5), (2, 6, 4), (2, 6, 3)]), RuntimeError, "key's last dim"),
        ("S_mismatch", both([(2, 4, 5), (2, 6, 5), (2, 7, 3)]), RuntimeError, "value's sequence length"),
        ("batch_mismatch", both([(2, 4, 5), (3, 6, 5), (3, 6, 3)]), RuntimeError, "must match"),
        ("dtype_mismatch", both(s3, ("float32", "float64", "float32")), RuntimeError, "same dtype"),
        ("int_inputs", both(s3, ("int64",) * 3), RuntimeError, "floating"),
        ("mask_shape", both(s3, mask=np.ones((4, 5), bool)), RuntimeError, "cannot be broadcast"),
        ("mask_rank", both(s3, mask=np.ones((3, 2, 4, 6), bool)), RuntimeError, "cannot be broadcast"),
        ("mask_int", both(s3, mask=np.ones((4, 6), np.int64)), RuntimeError, "attn_mask dtype"),
        ("mask_f64", both(s3, mask=np.ones((4, 6), np.float64)), RuntimeError, "attn_mask dtype"),
        ("causal_and_mask", both(s3, mask=np.ones((4, 6), bool), is_causal=True), RuntimeError,
         "should not be set when is_causal"),
        ("dropout_gt1", both(s3, dropout_p=1.5), RuntimeError, "between 0 and 1"),
    ]


@pytest.mark.parametrize("row", _err_rows(), ids=lambda r: r[0])
def test_sdpa_errors(row):
    _, (pf, tf), exc, match = row
    check_error(pf, exc, match=match, torch_fn=tf)


def test_sdpa_errors_pydl_only():
    q = pydl.zeros(2, 4, 5)
    f = pydl.nn.functional.scaled_dot_product_attention
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        f(q, q, q, dropout_p=-0.1)   # torch silently accepts a negative p
    with pytest.raises(TypeError, match="must be Tensor"):
        f(q, np.zeros((2, 4, 5), np.float32), q)
    with pytest.raises(TypeError, match="attn_mask"):
        f(q, q, q, attn_mask=[[True]])
    with pytest.raises(ValueError, match="unknown attention variant"):
        pydl.kernels.set_variant("attention", "nope")
    assert pydl.kernels.variants("attention") == ["reference", "flash"]


# ------------------------------------------------------------------------------------------------
# O(L * E) memory: L = 8192, E = 64, one head, forward + backward in a fresh process
# ------------------------------------------------------------------------------------------------
def test_sdpa_memory_is_linear_in_L():
    """Peak RSS growth of a float32 forward + backward at L = S = 8192, E = 64 stays far below the
    L x L score matrix (256 MiB in float32): the flash kernels keep only tiles, lse and the
    gradients (a few MiB)."""
    code = textwrap.dedent("""
        import resource, numpy as np, pydl
        L, E = 8192, 64
        rng = np.random.default_rng(0)
        q, k, v = (pydl.tensor(rng.standard_normal((1, L, E)).astype(np.float32), requires_grad=True)
                   for _ in range(3))
        g = pydl.tensor(rng.standard_normal((1, L, E)).astype(np.float32))
        warm = pydl.nn.functional.scaled_dot_product_attention(q[:, :128], k[:, :128], v[:, :128], is_causal=True)
        warm.sum().backward()
        for t in (q, k, v):
            t.grad = None
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = pydl.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert np.all(np.isfinite(q.grad.numpy())) and np.all(np.isfinite(k.grad.numpy()))
        print((after - before) * 1024)
    """)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    grew = int(r.stdout.strip().splitlines()[-1])
    LxL = 8192 * 8192 * 4
    assert grew < LxL / 8, f"peak RSS grew by {grew / 2**20:.1f} MiB; the L x L matrix is {LxL / 2**20:.0f} MiB"
