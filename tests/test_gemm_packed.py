"""The GEMM ladder (reference, blocked, packed) under every ISA, on shapes aimed at the packed
kernel's blocking: M, N around its register tiles (AVX-512 14 x 32, AVX2 6 x 16, scalar 4 x 8)
and cache blocks (KC 256 / 128 for f32 / f64, MC 378 / 384, NC 4096), every combination of
transposed operands (the strides linear's backward passes), bmm, float64, 1 and 2 threads.

Tolerance: each float32 element is a K-long dot product; the bound comes from a float64
reference, c * sqrt(K) * eps * (|A| @ |B|) (harness.assert_close_fp64). Exactness of the edges
(no missed or doubled row/column/k) is checked separately with small integers, where any
summation order must give the exact answer.
"""
import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, MATMUL_VARIANTS, assert_close_fp64, check_op, lib_fns, on_isa, on_variant, to_numpy

# (M, K, N): odd sizes (1, 7, 33, 65, 127, 257, ~1000), K = 1, K across KC, M across MC, empty dims
SHAPES = [(1, 1, 1), (7, 1, 33), (33, 7, 65), (65, 127, 7), (127, 33, 257), (257, 65, 127),
          (15, 257, 31), (29, 513, 47), (1, 1000, 1), (400, 300, 33), (0, 5, 7), (5, 0, 7), (5, 7, 0)]
# the reference triple loop is slow: only the small ones for it
REF_MAX = 2e6


def _pydl_mm(a, b, ta, tb):
    A = pydl.tensor(np.ascontiguousarray(a.T) if ta else a)
    B = pydl.tensor(np.ascontiguousarray(b.T) if tb else b)
    return (A.t() if ta else A) @ (B.t() if tb else B)


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_shapes_transposes(dtype, isa, variant):
    rng = np.random.default_rng(7)
    with on_isa(isa), on_variant("matmul", variant):
        for m, k, n in SHAPES:
            if variant == "reference" and m * k * n > REF_MAX:
                continue
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            a64, b64 = torch.from_numpy(a).double(), torch.from_numpy(b).double()
            ref, absref = a64 @ b64, a64.abs() @ b64.abs()
            for ta in (False, True):
                for tb in (False, True):
                    got = _pydl_mm(a, b, ta, tb)
                    assert_close_fp64(f"{m}x{k}x{n} ta={ta} tb={tb} {dtype} {isa} {variant}", got, ref,
                                      absref, k, dtype=dtype)


@pytest.mark.parametrize("variant", MATMUL_VARIANTS)
@pytest.mark.parametrize("isa", ISAS)
def test_gemm_edges_exact(isa, variant):
    # Integer-valued entries: every product and partial sum is exact in float32, so the result
    # must equal the integer product exactly, whatever the blocking.
    rng = np.random.default_rng(3)
    with on_isa(isa), on_variant("matmul", variant):
        for m, k, n in [(13, 9, 31), (14, 17, 32), (15, 257, 33), (6, 3, 16), (7, 129, 17), (29, 260, 65)]:
            a = rng.integers(-3, 4, (m, k)).astype(np.float32)
            b = rng.integers(-3, 4, (k, n)).astype(np.float32)
            want = a.astype(np.int64) @ b.astype(np.int64)
            for ta in (False, True):
                for tb in (False, True):
                    np.testing.assert_array_equal(to_numpy(_pydl_mm(a, b, ta, tb)), want,
                                                  err_msg=f"{m}x{k}x{n} ta={ta} tb={tb} {isa} {variant}")


@pytest.mark.parametrize("isa", ISAS)
def test_gemm_packed_panels(isa):
    # N beyond one NC = 4096 panel (small M, K so the reference would be quick), K across
    # several KC slices, M across several MC blocks, and the bmm / broadcast batch path.
    rng = np.random.default_rng(5)
    with on_isa(isa), on_variant("matmul", "packed"):
        for m, k, n in [(3, 5, 4100), (2, 700, 4097), (800, 20, 9)]:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            a64, b64 = torch.from_numpy(a).double(), torch.from_numpy(b).double()
            assert_close_fp64(f"{m}x{k}x{n}", pydl.tensor(a) @ pydl.tensor(b), a64 @ b64,
                              a64.abs() @ b64.abs(), k)
        check_op("bmm_packed", *lib_fns(lambda L, a, b: L.bmm(a, b)), shapes=[(3, 33, 65), (3, 65, 17)])
        check_op("bmm_packed_mT", *lib_fns(lambda L, a, b: a.mT @ b.mT), shapes=[(4, 65, 7), (4, 29, 65)])
        check_op("broadcast_packed", *lib_fns(lambda L, a, b: a @ b), shapes=[(2, 3, 15, 9), (9, 31)])
        check_op("bmm_packed64", *lib_fns(lambda L, a, b: L.bmm(a, b)), shapes=[(2, 15, 9), (2, 9, 17)],
                 dtype="float64")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_gemm_packed_thread_splits(threads):
    # With threads the packed GEMM splits M blocks (tall A), or NR strips of N (short, wide A),
    # or both; every split must give the same bound.
    prev = pydl.get_num_threads()
    pydl.set_num_threads(threads)
    rng = np.random.default_rng(threads)
    try:
        with on_variant("matmul", "packed"):
            for m, k, n in [(20, 100, 2000), (1000, 100, 40), (401, 300, 259), (14, 64, 33)]:
                a = rng.standard_normal((m, k)).astype(np.float32)
                b = rng.standard_normal((k, n)).astype(np.float32)
                a64, b64 = torch.from_numpy(a).double(), torch.from_numpy(b).double()
                for ta, tb in [(False, False), (True, True)]:
                    assert_close_fp64(f"threads={threads} {m}x{k}x{n} ta={ta} tb={tb}", _pydl_mm(a, b, ta, tb),
                                      a64 @ b64, a64.abs() @ b64.abs(), k)
    finally:
        pydl.set_num_threads(prev)


def test_gemm_packed_is_default():
    names = pydl.kernels.variants("matmul")
    assert names[-1] == "packed" and names[0] == "reference", names
    assert pydl.kernels.current("matmul") == "packed"


def test_gemm_packed_nonfinite():
    # inf / nan propagate as in torch (no zero-padding lane leaks into a real element)
    a = np.array([[np.inf, 1.0], [2.0, np.nan], [1.0, 2.0]], np.float32)
    b = np.array([[1.0, 0.5, 2.0], [3.0, 1.0, 0.0]], np.float32)
    with on_variant("matmul", "packed"):
        got = to_numpy(pydl.tensor(a) @ pydl.tensor(b))
    np.testing.assert_array_equal(got, (torch.from_numpy(a) @ torch.from_numpy(b)).numpy())
