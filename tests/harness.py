"""One harness that checks pydl against PyTorch (in the spirit of tinygrad's helper_test_op).

Every op test is a row calling one of:

    check_op(name, pydl_fn, torch_fn, shapes=[...] | inputs=[...], ...)
        Builds identical inputs in both libraries (numpy -> pydl.tensor / torch.tensor), runs the
        forward, compares outputs (shape, dtype, values) with torch.testing.assert_close, then runs
        backward with the same random upstream gradient and compares the gradient of every input.
        A failure names the worst element: index, pydl value, torch value.

    check_error(pydl_fn, exc_type, match=regex, torch_fn=None)
        The bad call must raise exc_type (and torch_fn, when given, must raise the same type, which
        keeps the row itself honest).

    fd_gradcheck(name, pydl_fn, shapes=[...])
        float64 central-difference gradient check of pydl's backward, no torch involved.

    assert_close_fp64(name, got, ref64, absref64, depth)
        For long reductions / long dot products: tolerance derived from a float64 reference.

Rows that loosen a tolerance must say why (reason="..."); the harness refuses a looser tolerance
without one.

Most rows are written once for both libraries as `lambda L, x, y: L.add(x, y)`: L is the module
(pydl or torch); `lib_fns(fn)` turns that into the (pydl_fn, torch_fn) pair.
"""
import contextlib
import math
import zlib

import numpy as np
import pytest
import torch

import pydl

# --------------------------------------------------------------------------------------------
# dtypes and tolerances
# --------------------------------------------------------------------------------------------
NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}
FLOAT_DTYPES = ("float32", "float64")

# torch.testing.assert_close's own defaults for float32/float64; exact for int64/bool.
DEFAULT_TOL = {
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "int64": (0.0, 0.0),
    "bool": (0.0, 0.0),
}
EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


def pdtype(name):
    return getattr(pydl, name)


def tdtype(name):
    return getattr(torch, name)


def dtype_name(dt):
    """'float32' for pydl.float32, torch.float32, np.float32 ..."""
    if isinstance(dt, np.dtype) or (isinstance(dt, type) and issubclass(dt, np.generic)):
        n = np.dtype(dt).name
        return "bool" if n == "bool" else n
    return str(dt).split(".")[-1]


# --------------------------------------------------------------------------------------------
# what this build can run: ISAs, matmul variants, devices
# --------------------------------------------------------------------------------------------
def _isas():
    try:
        return list(pydl.kernels.isas())
    except AttributeError:  # test_tensor.py::test_kernels_api reports the missing API
        return [None]


def _variants(family):
    try:
        return list(pydl.kernels.variants(family))
    except AttributeError:
        return [None]


def _devices():
    devs = ["cpu"]
    try:
        if pydl.cuda.is_available():
            devs.append("cuda")
    except AttributeError:
        pass
    return devs


ISAS = _isas()
MATMUL_VARIANTS = _variants("matmul")
DEVICES = _devices()


@contextlib.contextmanager
def on_isa(isa):
    """Force one SIMD ISA for the body (None: leave the default)."""
    if isa is None:
        yield
    else:
        with pydl.kernels.isa(isa):
            current = getattr(pydl.kernels, "current_isa", None)
            assert current is None or current() == isa, f"kernels.isa({isa!r}) did not take effect"
            yield


@contextlib.contextmanager
def on_variant(family, name):
    if name is None:
        yield
    else:
        with pydl.kernels.variant(family, name):
            yield


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def rng_for(*key):
    """A numpy Generator seeded from the row's name and shapes: deterministic, row-specific."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def random_array(rng, shape, dtype="float32", low=-2.0, high=2.0):
    shape = tuple(shape)
    if dtype in FLOAT_DTYPES:
        return rng.uniform(low, high, size=shape).astype(NP_DTYPES[dtype])
    if dtype == "int64":
        return rng.integers(int(math.floor(low)), int(math.ceil(high)) + 1, size=shape).astype(np.int64)
    if dtype == "bool":
        return rng.random(size=shape) < 0.5
    raise ValueError(dtype)


def _base_shape(shape, noncontiguous):
    """Shape of the storage we build a non-contiguous view from (see _as_view)."""
    shape = tuple(shape)
    if not noncontiguous or len(shape) == 0:
        return shape
    if len(shape) == 1:
        return (2 * shape[0],)
    return shape[:-2] + (shape[-1], shape[-2])


def _as_view(lib_tensor, shape, noncontiguous):
    """The same view op in either library: a transpose of the last two dims (ndim >= 2),
    or a step-2 slice (1-D). 0-d stays as is."""
    if not noncontiguous or len(shape) == 0:
        return lib_tensor
    if len(shape) == 1:
        return lib_tensor[::2]
    return lib_tensor.transpose(-1, -2)


def _to_base_array(arr, noncontiguous):
    """numpy storage such that _as_view(storage) == arr."""
    if not noncontiguous or arr.ndim == 0:
        return np.array(arr, order="C", copy=True)   # (np.ascontiguousarray turns 0-d into 1-d)
    if arr.ndim == 1:
        base = np.zeros((2 * arr.shape[0],), dtype=arr.dtype)
        base[::2] = arr
        return base
    return np.ascontiguousarray(np.swapaxes(arr, -1, -2))


def make_pair(arr, requires_grad=False, noncontiguous=False, device="cpu"):
    """(pydl tensor, torch tensor) holding the same values as numpy `arr`.

    With noncontiguous, both are views (transposed / step-sliced) of a bigger storage, made leaves
    with detach() so that their .grad can be compared."""
    base = _to_base_array(arr, noncontiguous)
    p = pydl.tensor(base, device=device) if device != "cpu" else pydl.tensor(base)
    t = torch.tensor(base, device=device)
    p = _as_view(p, arr.shape, noncontiguous)
    t = _as_view(t, arr.shape, noncontiguous)
    assert tuple(t.shape) == arr.shape, (t.shape, arr.shape)
    if noncontiguous:
        p = p.detach()
        t = t.detach()
    if requires_grad:
        p.requires_grad_(True)
        t.requires_grad_(True)
    return p, t


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
def to_numpy(x):
    """A numpy copy of a pydl tensor (any device)."""
    if getattr(x, "requires_grad", False):
        x = x.detach()
    if str(x.device) != "cpu":
        x = x.to("cpu")
    return np.array(x.numpy(), copy=True)


def worst_element(got, want, rtol, atol):
    """One line naming the element that misses the tolerance by the most."""
    g = np.asarray(got)
    w = np.asarray(want)
    if g.shape != w.shape or g.size == 0:
        return ""
    if g.dtype.kind in "iub" and w.dtype.kind in "iub":   # exact compare, no trip through float64
        bad = g.astype(np.int64) != w.astype(np.int64)
        idx = np.unravel_index(int(np.argmax(bad)), g.shape)
        return (f"first mismatch at index {tuple(int(i) for i in idx)}: pydl={g[idx].item()!r} "
                f"torch={w[idx].item()!r}; {int(bad.sum())} of {g.size} elements differ")
    g64 = g.astype(np.float64)
    w64 = w.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(g64 - w64)
        allowed = atol + rtol * np.abs(w64)
        nan_mismatch = np.isnan(g64) != np.isnan(w64)
        inf_mismatch = (np.isinf(g64) | np.isinf(w64)) & ~(g64 == w64) & ~np.isnan(g64) & ~np.isnan(w64)
        excess = np.where(np.isnan(diff), -np.inf, diff - allowed)
        excess = np.where(nan_mismatch | inf_mismatch, np.inf, excess)
        bad = (excess > 0) & ~(np.isnan(g64) & np.isnan(w64))
    idx = np.unravel_index(int(np.argmax(excess)), g.shape)
    return (
        f"worst element at index {tuple(int(i) for i in idx)}: pydl={g[idx].item()!r} torch={w[idx].item()!r} "
        f"|diff|={diff[idx]:.4g} (allowed {allowed[idx]:.4g}); "
        f"{int(bad.sum())} of {g.size} elements outside tolerance"
    )


def compare(what, got, want, rtol, atol):
    """Compare a pydl result (tensor / tuple / python scalar) with torch's."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, pydl.Tensor), f"{what}: expected a pydl.Tensor, got {type(got).__name__}"
        assert tuple(got.shape) == tuple(want.shape), (
            f"{what}: shape {tuple(got.shape)} != torch's {tuple(want.shape)}")
        assert dtype_name(got.dtype) == dtype_name(want.dtype), (
            f"{what}: dtype {got.dtype} != torch's {want.dtype}")
        g = to_numpy(got)
        w = want.detach().cpu()
        if w.dtype in (torch.float32, torch.float64):
            tol = dict(rtol=rtol, atol=atol)
        else:
            tol = dict(rtol=0, atol=0)
        w_np = w.numpy()
        torch.testing.assert_close(
            torch.from_numpy(g), w, equal_nan=True, check_dtype=False, **tol,
            msg=lambda m: f"{what}: {worst_element(g, w_np, tol['rtol'], tol['atol'])}\n{m}")
        return
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"{what}: expected a tuple, got {type(got).__name__}"
        assert len(got) == len(want), f"{what}: {len(got)} results, torch gives {len(want)}"
        for f in getattr(want, "_fields", ()):
            assert hasattr(got, f), f"{what}: result has no field '{f}' (torch's has {want._fields})"
        for i, (g, w) in enumerate(zip(got, want)):
            compare(f"{what}[{i}]", g, w, rtol, atol)
        return
    if isinstance(want, (bool, int, float)):
        assert type(got) is type(want), f"{what}: python {type(got).__name__}, torch gives {type(want).__name__}"
        if isinstance(want, float) and not (math.isnan(want) and math.isnan(got)):
            assert math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or got == want, (
                f"{what}: {got!r} != torch's {want!r}")
        elif not isinstance(want, float):
            assert got == want, f"{what}: {got!r} != torch's {want!r}"
        return
    assert got == want, f"{what}: {got!r} != torch's {want!r}"


def _tolerances(dtype, rtol, atol, reason, kind="forward"):
    d_rtol, d_atol = DEFAULT_TOL[dtype]
    if rtol is None and atol is None:
        return d_rtol, d_atol
    if (rtol is not None and rtol > d_rtol) or (atol is not None and atol > d_atol):
        if not reason:
            raise ValueError(f"a looser {kind} tolerance than the {dtype} default needs reason='...'")
    return (d_rtol if rtol is None else rtol), (d_atol if atol is None else atol)


def _first_float_output(out):
    if isinstance(out, (tuple, list)):
        for o in out:
            r = _first_float_output(o)
            if r is not None:
                return r
        return None
    if isinstance(out, (torch.Tensor, pydl.Tensor)) and dtype_name(out.dtype) in FLOAT_DTYPES:
        return out
    return None


def _is_zero_or_none(t):
    return t is None or not torch.any(t != 0).item()


# --------------------------------------------------------------------------------------------
# the op check
# --------------------------------------------------------------------------------------------
def check_op(name, pydl_fn, torch_fn=None, shapes=None, inputs=None, dtype="float32", grad=True,
             rtol=None, atol=None, grad_rtol=None, grad_atol=None, reason=None, low=-2.0, high=2.0,
             noncontiguous=False, device="cpu"):
    """Compare pydl_fn(*xs) with torch_fn(*xs), forward and backward.

    shapes: list of shapes; each input is uniform in [low, high) with `dtype` (a name, or a list of
        names, one per input).
    inputs: list of numpy arrays used as given (their dtype is kept); other values (python
        scalars) are passed through to both functions unchanged.
    grad: True (every floating tensor input), False, or the list of input positions that need grad.
    rtol/atol, grad_rtol/grad_atol: only looser than the default with reason="why".
    noncontiguous: every input of ndim >= 1 is a transposed (or step-sliced, 1-D) view.
    """
    if torch_fn is None:
        torch_fn = pydl_fn
    if (shapes is None) == (inputs is None):
        raise ValueError("give exactly one of shapes= and inputs=")
    if inputs is None:
        dtypes = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes)
        rng = rng_for(name, tuple(map(tuple, shapes)), tuple(dtypes), low, high)
        inputs = [random_array(rng, s, d, low, high) for s, d in zip(shapes, dtypes)]
    else:
        rng = rng_for(name, "inputs", len(inputs))
    where = f"{name}(shapes={[tuple(np.shape(a)) for a in inputs]}, noncontiguous={noncontiguous}, device={device})"

    xp, xt, grad_positions = [], [], []
    for i, a in enumerate(inputs):
        if isinstance(a, np.ndarray):
            a_dt = dtype_name(a.dtype)
            rg = (grad is True and a_dt in FLOAT_DTYPES) or (isinstance(grad, (list, tuple)) and i in grad)
            p, t = make_pair(a, requires_grad=rg, noncontiguous=noncontiguous, device=device)
            if rg:
                grad_positions.append(i)
            if noncontiguous and a.ndim >= 1 and a.size > 1 and not (a.ndim >= 2 and 1 in a.shape[-2:]):
                assert not p.is_contiguous(), f"{where}: harness expected a non-contiguous pydl input"
            xp.append(p)
            xt.append(t)
        else:
            xp.append(a)
            xt.append(a)

    want = torch_fn(*xt)
    got = pydl_fn(*xp)
    first_t = _first_float_output(want)
    out_dt = dtype_name(first_t.dtype) if first_t is not None else (
        dtype_name(want.dtype) if isinstance(want, torch.Tensor) else "float32")
    f_rtol, f_atol = _tolerances(out_dt if out_dt in DEFAULT_TOL else "float32", rtol, atol, reason)
    compare(f"{where} forward", got, want, f_rtol, f_atol)

    if not grad_positions:
        return
    out_t = _first_float_output(want)
    out_p = _first_float_output(got)
    if out_t is None or not out_t.requires_grad:
        return
    assert out_p is not None and out_p.requires_grad, (
        f"{where}: output does not require grad but torch's does (grad_fn={getattr(out_p, 'grad_fn', None)})")
    g_np = np.asarray(rng.standard_normal(tuple(out_t.shape)), dtype=NP_DTYPES[dtype_name(out_t.dtype)])
    out_t.backward(torch.tensor(g_np, device=device))
    out_p.backward(pydl.tensor(g_np, device=device) if device != "cpu" else pydl.tensor(g_np))
    g_rtol, g_atol = _tolerances(out_dt, grad_rtol if grad_rtol is not None else rtol,
                                 grad_atol if grad_atol is not None else atol, reason, "gradient")
    for i in grad_positions:
        gt, gp = xt[i].grad, xp[i].grad
        if gp is None or gt is None:
            assert _is_zero_or_none(gt), f"{where}: input {i} has no .grad in pydl, torch's is not zero"
            if gp is not None:
                assert not np.any(to_numpy(gp) != 0), f"{where}: input {i} has a non-zero grad, torch's is None"
            continue
        compare(f"{where} grad of input {i}", gp, gt, g_rtol, g_atol)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def check_error(pydl_fn, exc_type, match=None, torch_fn=None):
    """pydl_fn() must raise exc_type with a message matching `match`; torch_fn(), when given, must
    raise the same type (so the row describes torch's behaviour, not a guess)."""
    if torch_fn is not None:
        with pytest.raises(exc_type):
            torch_fn()
    with pytest.raises(exc_type, match=match):
        pydl_fn()


# --------------------------------------------------------------------------------------------
# float64 finite differences (pydl only)
# --------------------------------------------------------------------------------------------
def fd_gradcheck(name, pydl_fn, shapes=None, inputs=None, low=-2.0, high=2.0, eps=1e-6,
                 atol=1e-5, rtol=1e-3):
    """Central differences on float64 pydl tensors against pydl's backward.

    Compares d/dx <f(x), g> for a random g: numerically (f(x+eps e_j) - f(x-eps e_j)) / 2eps,
    analytically via f(x).backward(g)."""
    if inputs is None:
        rng = rng_for("fd", name, tuple(map(tuple, shapes)))
        inputs = [random_array(rng, s, "float64", low, high) for s in shapes]
    else:
        rng = rng_for("fd", name)
        inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    xs = [pydl.tensor(a, requires_grad=True) for a in inputs]
    out = _first_float_output(pydl_fn(*xs))
    assert dtype_name(out.dtype) == "float64", f"{name}: float64 inputs gave {out.dtype}"
    g = np.asarray(rng.standard_normal(tuple(out.shape)), dtype=np.float64)
    out.backward(pydl.tensor(g))

    def f_dot_g(arrays):
        o = _first_float_output(pydl_fn(*[pydl.tensor(a) for a in arrays]))
        return float(np.sum(to_numpy(o) * g))

    for i, a in enumerate(inputs):
        num = np.zeros_like(a)
        for j in range(a.size):
            plus = [b.copy() for b in inputs]
            minus = [b.copy() for b in inputs]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            num.reshape(-1)[j] = (f_dot_g(plus) - f_dot_g(minus)) / (2 * eps)
        ana = xs[i].grad
        ana = np.zeros_like(a) if ana is None else to_numpy(ana)
        if not np.allclose(ana, num, rtol=rtol, atol=atol):
            raise AssertionError(
                f"{name}: finite-difference gradient of input {i} (shape {a.shape}) disagrees: "
                + worst_element(ana, num, rtol, atol).replace("torch=", "numeric="))
    return True


# --------------------------------------------------------------------------------------------
# tolerance derived from a float64 reference
# --------------------------------------------------------------------------------------------
def assert_close_fp64(what, got, ref64, absref64, depth, dtype="float32", c=4.0):
    """|got - ref64| <= c * sqrt(depth) * eps(dtype) * absref64 elementwise.

    ref64 is the exact-ish result computed in float64 from the same (float32) inputs; absref64 is
    the same computation on |inputs| (sum|x| for a sum, (|A| @ |B|) for a matmul), the quantity
    every rounding error of a length-`depth` accumulation is proportional to. The worst case of any
    summation order is depth * eps * absref; rounding errors are independent and unbiased, so the
    accumulated error grows like sqrt(depth) * eps * absref with overwhelming probability (a
    sequential single-accumulator float32 sum of 1e5 U[0,1) values misses by ~0.1 where this bound
    allows ~7). Missing or doubled elements are caught separately by exact integer-valued rows.
    """
    g = to_numpy(got).astype(np.float64) if isinstance(got, pydl.Tensor) else np.asarray(got, np.float64)
    r = ref64.detach().cpu().numpy() if isinstance(ref64, torch.Tensor) else np.asarray(ref64)
    a = absref64.detach().cpu().numpy() if isinstance(absref64, torch.Tensor) else np.asarray(absref64)
    assert g.shape == r.shape, f"{what}: shape {g.shape} != reference {r.shape}"
    bound = c * math.sqrt(max(depth, 1)) * EPS[dtype] * a + 1e-30
    err = np.abs(g - r)
    if not np.all(err <= bound):
        raise AssertionError(f"{what}: error beyond c*sqrt(depth)*eps*|ref| (depth={depth}): "
                             + worst_element(g, r, 0.0, 0.0).split(";")[0]
                             + f"; allowed there {np.ravel(bound)[np.argmax(np.ravel(err - bound))]:.4g}")


# --------------------------------------------------------------------------------------------
# row helpers
# --------------------------------------------------------------------------------------------
def lib_fns(fn):
    """(pydl_fn, torch_fn) from a row written as lambda L, *xs: ... with L the library module."""
    return (lambda *xs: fn(pydl, *xs)), (lambda *xs: fn(torch, *xs))


def row_id(row):
    return row[0]


# Shapes used across files: odd tails (1, 7, 33, 127), size-1 and empty dims, batch > 1.
UNARY_SHAPES = [(), (1,), (7,), (33,), (127,), (0,), (3, 0), (4, 33), (1, 127), (2, 3, 7), (2, 1, 33)]
NONCONTIG_SHAPES = [(7,), (33,), (4, 33), (33, 7), (2, 5, 127)]
BINARY_SHAPES = [
    ((7,), (7,)),
    ((127,), (127,)),
    ((4, 33), (4, 33)),
    ((), ()),
    ((), (3, 4)),
    ((3, 4), ()),
    ((4, 1), (1, 7)),
    ((2, 3, 7), (7,)),
    ((2, 3, 7), (3, 1)),
    ((3, 1, 5), (4, 1)),
    ((1,), (33,)),
    ((0,), (0,)),
    ((0, 3), (1, 3)),
    ((5, 0), (5, 1)),
    ((2, 1, 33), (1, 3, 1)),
]
