"""Property tests: hypothesis draws shapes and broadcastable shape pairs (size-0 and size-1 dims
included), dims and keepdim, contiguous or not, and every case is compared with torch through the
same harness. Deterministic (derandomize=True, no example database) so CI never flakes."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import pydl
from harness import check_op, lib_fns

# torch warns on var/std with <= 0 degrees of freedom (the result is nan, which is compared)
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom")

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

BINARY = {
    "add": (lambda L, a, b: a + b, {}),
    "sub": (lambda L, a, b: L.sub(a, b), {}),
    "mul": (lambda L, a, b: a * b, {}),
    "div": (lambda L, a, b: a / b, dict(low=0.5, high=2.0)),
    "pow": (lambda L, a, b: a ** b, dict(low=0.5, high=2.0)),
    "maximum": (lambda L, a, b: L.maximum(a, b), {}),
    "minimum": (lambda L, a, b: L.minimum(a, b), {}),
    "lt": (lambda L, a, b: a < b, {}),
    "eq": (lambda L, a, b: L.eq(a, b), {}),
    "where": (lambda L, a, b: L.where(a > b, a, b), {}),
}

broadcast_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=6)


@pytest.mark.parametrize("op", sorted(BINARY))
@SETTINGS
@given(shapes=broadcast_pairs, noncontiguous=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_binary_broadcast(op, shapes, noncontiguous, dtype):
    fn, kw = BINARY[op]
    check_op(op, *lib_fns(fn), shapes=list(shapes.input_shapes), dtype=dtype, noncontiguous=noncontiguous, **kw)


@pytest.mark.parametrize("op", ["add", "mul", "lt", "maximum"])
@SETTINGS
@given(shapes=broadcast_pairs)
def test_binary_broadcast_int64(op, shapes):
    fn, _ = BINARY[op]
    check_op(op + "_int", *lib_fns(fn), shapes=list(shapes.input_shapes), dtype="int64", low=-50, high=50)


# reductions: (fn(L, x, dim, keepdim), allows an empty reduced dim, needs >1 element per reduction)
REDUCTIONS = {
    "sum": (lambda L, x, d, k: x.sum(dim=d, keepdim=k), True),
    "mean": (lambda L, x, d, k: x.mean(dim=d, keepdim=k), True),
    "amax": (lambda L, x, d, k: x.amax(dim=d, keepdim=k), False),
    "amin": (lambda L, x, d, k: L.amin(x, dim=d, keepdim=k), False),
    "max": (lambda L, x, d, k: x.max(dim=d, keepdim=k), False),
    "argmin": (lambda L, x, d, k: x.argmin(dim=d, keepdim=k), False),
    "prod": (lambda L, x, d, k: x.prod(dim=d, keepdim=k), True),
    "var": (lambda L, x, d, k: x.var(dim=d, keepdim=k), True),
    "std0": (lambda L, x, d, k: x.std(dim=d, correction=0, keepdim=k), True),
    "logsumexp": (lambda L, x, d, k: x.logsumexp(dim=d, keepdim=k), True),
}
SINGLE_DIM_ONLY = {"max", "argmin", "prod", "logsumexp"}   # torch takes one int dim for these


@st.composite
def shape_and_dims(draw, single):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7))
    nd = len(shape)
    if single:
        d = draw(st.integers(-nd, nd - 1))
    else:
        d = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)))
        d = tuple(x - nd if draw(st.booleans()) else x for x in d)   # some negative
    return shape, d


@pytest.mark.parametrize("op", sorted(REDUCTIONS))
@SETTINGS
@given(data=st.data(), keepdim=st.booleans(), noncontiguous=st.booleans())
def test_reduction(op, data, keepdim, noncontiguous):
    fn, _ = REDUCTIONS[op]
    shape, dim = data.draw(shape_and_dims(op in SINGLE_DIM_ONLY))
    kw = dict(low=0.5, high=1.5) if op == "prod" else {}
    x = np.random.default_rng(abs(hash((shape, dim))) % 2**32).uniform(kw.get("low", -2), kw.get("high", 2), shape)
    x = x.astype(np.float32)
    try:
        fn(torch, torch.from_numpy(x), dim, keepdim)
    except (RuntimeError, IndexError) as e:
        # torch refuses (e.g. amax over an empty dim): pydl must refuse with the same type
        with pytest.raises(type(e)):
            fn(pydl, pydl.tensor(x), dim, keepdim)
        return
    check_op(op, lambda x: fn(pydl, x, dim, keepdim), lambda x: fn(torch, x, dim, keepdim),
             inputs=[x], noncontiguous=noncontiguous)


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7), noncontiguous=st.booleans())
def test_full_reductions(shape, noncontiguous):
    for name, fn in [("sum", lambda L, x: x.sum()), ("mean", lambda L, x: x.mean()),
                     ("norm", lambda L, x: x.norm())]:
        check_op(name, *lib_fns(fn), shapes=[shape], noncontiguous=noncontiguous)
    if np.prod(shape) > 0:
        for name, fn in [("max", lambda L, x: x.max()), ("argmax", lambda L, x: x.argmax())]:
            check_op(name, *lib_fns(fn), shapes=[shape], noncontiguous=noncontiguous)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(signature="(m,k),(k,n)->(m,n)", min_side=0, max_side=9,
                                             max_dims=2))
def test_matmul_shapes(shapes):
    check_op("matmul", *lib_fns(lambda L, a, b: a @ b), shapes=list(shapes.input_shapes))
