"""matmul / @ / mm / bmm against torch, under every ISA x every matmul variant. Small shapes use
the default float32 tolerance; K up to 1000 uses a tolerance derived from a float64 reference."""
import numpy as np
import pytest
import torch

import pydl
from harness import (ISAS, MATMUL_VARIANTS, assert_close_fp64, check_op, fd_gradcheck, lib_fns,
                     on_isa, on_variant, to_numpy)

# (a shape, b shape): odd tails around typical tile sizes, size-1 and empty dims, 1-D, batched with
# broadcasting (torch.matmul's rules).
MM_SHAPES = [
    ((3, 4), (4, 5)),
    ((1, 1), (1, 1)),
    ((1, 7), (7, 1)),
    ((7, 1), (1, 7)),
    ((7, 33), (33, 1)),
    ((33, 127), (127, 7)),
    ((1, 127), (127, 33)),
    ((65, 17), (17, 65)),
    ((127, 9), (9, 129)),
    ((0, 3), (3, 4)),
    ((3, 0), (0, 4)),
    ((3, 4), (4, 0)),
]
MATMUL_SHAPES = MM_SHAPES + [
    ((7,), (7,)),
    ((7,), (7, 5)),
    ((5, 7), (7,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
    ((1, 33, 7), (3, 7, 33)),
    ((0, 3, 4), (4, 5)),
]
BMM_SHAPES = [((2, 3, 4), (2, 4, 5)), ((1, 33, 7), (1, 7, 65)), ((5, 1, 127), (5, 127, 1)),
              ((0, 3, 4), (0, 4, 5)), ((3, 0, 4), (3, 4, 2))]


def _id(shapes):
    return "@".join("x".join(map(str, s)) or "scalar" for s in shapes)


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=_id)
def test_matmul(shapes, isa, variant):
    with on_isa(isa), on_variant("matmul", variant):
        check_op("matmul", *lib_fns(lambda L, a, b: L.matmul(a, b)), shapes=list(shapes))
        check_op("matmul_op", *lib_fns(lambda L, a, b: a @ b), shapes=list(shapes))


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_matmul_transposed_operands(isa, variant):
    # transposed / sliced operands (the kernels take strided A and B without copying)
    with on_isa(isa), on_variant("matmul", variant):
        for sa, sb in [((7, 33), (33, 5)), ((33, 127), (127, 7)), ((2, 17, 9), (2, 9, 65)), ((1, 1), (1, 7))]:
            check_op("matmul_noncontig", *lib_fns(lambda L, a, b: a @ b), shapes=[sa, sb], noncontiguous=True)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((33, 7)).astype(np.float32)
        b = rng.standard_normal((5, 33)).astype(np.float32)
        check_op("at_b", *lib_fns(lambda L, a, b: a.t() @ b.T.contiguous()), inputs=[a, b])
        check_op("a_bt", *lib_fns(lambda L, a, b: a.t().contiguous() @ b.t()), inputs=[a, b])
        check_op("at_bt", *lib_fns(lambda L, a, b: a.T @ b.mT), inputs=[a, b])
        check_op("bmm_mT", *lib_fns(lambda L, a, b: L.matmul(a.mT, b.mT)),
                 inputs=[a.reshape(3, 11, 7).copy(), b.reshape(5, 3, 11).transpose(1, 0, 2).copy()])
        c = rng.standard_normal((12, 20)).astype(np.float32)
        check_op("sliced_step", *lib_fns(lambda L, c: c[::2, 1:8] @ c[1::2, 3::2][:, :7].t()), inputs=[c])
        check_op("expanded_batch", *lib_fns(lambda L, c: c[:4, :5].expand(3, 4, 5) @ c[:5, :6]), inputs=[c])


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_mm_bmm(isa, variant):
    with on_isa(isa), on_variant("matmul", variant):
        for sa, sb in MM_SHAPES:
            check_op("mm", *lib_fns(lambda L, a, b: L.mm(a, b)), shapes=[sa, sb])
            check_op("mm_method", *lib_fns(lambda L, a, b: a.mm(b)), shapes=[sa, sb])
        for sa, sb in BMM_SHAPES:
            check_op("bmm", *lib_fns(lambda L, a, b: L.bmm(a, b)), shapes=[sa, sb])
            check_op("bmm_method", *lib_fns(lambda L, a, b: a.bmm(b)), shapes=[sa, sb])


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_matmul_float64(isa, variant):
    with on_isa(isa), on_variant("matmul", variant):
        for sa, sb in [((3, 4), (4, 5)), ((33, 127), (127, 7)), ((2, 3, 4), (4,)), ((7,), (7,)), ((0, 3), (3, 2))]:
            check_op("matmul64", *lib_fns(lambda L, a, b: a @ b), shapes=[sa, sb], dtype="float64")


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_matmul_integer_valued_exact(isa, variant):
    # small integers: every product and partial sum is exact in float32, so any order of
    # accumulation must give exactly numpy's answer; a missed or doubled tail element shows up.
    rng = np.random.default_rng(11)
    with on_isa(isa), on_variant("matmul", variant):
        for m, k, n in [(1, 1, 1), (5, 7, 3), (17, 33, 9), (31, 64, 47), (64, 129, 65), (100, 257, 13)]:
            a = rng.integers(-4, 5, (m, k)).astype(np.float32)
            b = rng.integers(-4, 5, (k, n)).astype(np.float32)
            got = to_numpy(pydl.tensor(a) @ pydl.tensor(b))
            np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64),
                                          err_msg=f"{m}x{k} @ {k}x{n} (isa={isa}, variant={variant})")
            got_t = to_numpy(pydl.tensor(a.T.copy()).t() @ pydl.tensor(b.T.copy()).t())
            np.testing.assert_array_equal(got_t, a.astype(np.int64) @ b.astype(np.int64),
                                          err_msg=f"transposed {m}x{k} @ {k}x{n}")


# K up to 1000: |C - C64| <= c sqrt(K) eps32 (|A| @ |B|), see harness.assert_close_fp64. The same
# bound holds for the gradients: dA = G @ B^T accumulates over N, dB = A^T @ G over M.
LARGE = [(17, 1000, 33), (64, 1000, 65), (1, 999, 127), (130, 513, 3), (257, 300, 259), (1, 1000, 1),
         (1000, 1, 999)]


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("mkn", LARGE, ids=lambda s: "x".join(map(str, s)))
def test_matmul_large_k_fp64_bound(mkn, isa, variant):
    m, k, n = mkn
    rng = np.random.default_rng(m * k * n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    g = rng.standard_normal((m, n)).astype(np.float32)
    a64, b64, g64 = (torch.from_numpy(v).double() for v in (a, b, g))
    with on_isa(isa), on_variant("matmul", variant):
        ap = pydl.tensor(a, requires_grad=True)
        bp = pydl.tensor(b, requires_grad=True)
        c = ap @ bp
        assert_close_fp64(f"matmul {mkn}", c, a64 @ b64, a64.abs() @ b64.abs(), k)
        c.backward(pydl.tensor(g))
        assert_close_fp64(f"dA {mkn}", ap.grad, g64 @ b64.T, g64.abs() @ b64.abs().T, n)
        assert_close_fp64(f"dB {mkn}", bp.grad, a64.T @ g64, a64.abs().T @ g64.abs(), m)
        # batched + transposed, same bound
        c2 = pydl.tensor(np.stack([a, a[::-1].copy()])) @ pydl.tensor(b.T.copy()).t()
        ref = torch.stack([a64, a64.flip(0)]) @ b64
        absref = torch.stack([a64, a64.flip(0)]).abs() @ b64.abs()
        assert_close_fp64(f"batched transposed matmul {mkn}", c2, ref, absref, k)


def test_matmul_grad_finite_differences():
    for sa, sb in [((3, 4), (4, 2)), ((4,), (4, 3)), ((2, 3, 4), (4,)), ((2, 1, 2, 3), (3, 3, 2))]:
        assert fd_gradcheck(f"matmul {sa}@{sb}", lambda a, b: a @ b, shapes=[sa, sb])


def test_kernel_variant_api():
    names = list(pydl.kernels.variants("matmul"))
    assert "reference" in names and "blocked" in names, names
    rng = np.random.default_rng(0)
    a = pydl.tensor(rng.standard_normal((33, 65)).astype(np.float32))
    b = pydl.tensor(rng.standard_normal((65, 17)).astype(np.float32))
    results = {}
    for v in names:
        with pydl.kernels.variant("matmul", v):
            results[v] = to_numpy(a @ b)
    for v, r in results.items():
        np.testing.assert_allclose(r, results["reference"], rtol=1e-5, atol=1e-5, err_msg=v)
    with pytest.raises((ValueError, KeyError, RuntimeError)):
        with pydl.kernels.variant("matmul", "no-such-variant"):
            pass


@pytest.mark.parametrize("threads", [1, 2])
def test_matmul_thread_counts(threads):
    prev = pydl.get_num_threads()
    pydl.set_num_threads(threads)
    try:
        rng = np.random.default_rng(threads)
        for (m, k, n) in [(300, 257, 301), (7, 1000, 513), (129, 3, 65)]:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            a64, b64 = torch.from_numpy(a).double(), torch.from_numpy(b).double()
            assert_close_fp64(f"matmul threads={threads} {(m, k, n)}", pydl.tensor(a) @ pydl.tensor(b),
                              a64 @ b64, a64.abs() @ b64.abs(), k)
        check_op("bmm_threads", *lib_fns(lambda L, a, b: a @ b), shapes=[(16, 33, 65), (16, 65, 17)])
    finally:
        pydl.set_num_threads(prev)
