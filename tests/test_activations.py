"""pydl.nn.functional activations against torch.nn.functional, forward and backward."""
import numpy as np
import pytest

from harness import ISAS, NONCONTIG_SHAPES, UNARY_SHAPES, check_op, fd_gradcheck, lib_fns, on_isa, row_id
import pydl

ACTIVATIONS = [
    ("relu", lambda L, x: L.nn.functional.relu(x)),
    ("leaky_relu", lambda L, x: L.nn.functional.leaky_relu(x)),
    ("leaky_relu_0.2", lambda L, x: L.nn.functional.leaky_relu(x, negative_slope=0.2)),
    ("leaky_relu_pos", lambda L, x: L.nn.functional.leaky_relu(x, 0.1)),
    ("elu", lambda L, x: L.nn.functional.elu(x)),
    ("elu_alpha0.5", lambda L, x: L.nn.functional.elu(x, alpha=0.5)),
    ("selu", lambda L, x: L.nn.functional.selu(x)),
    ("gelu", lambda L, x: L.nn.functional.gelu(x)),
    ("gelu_none", lambda L, x: L.nn.functional.gelu(x, approximate="none")),
    ("gelu_tanh", lambda L, x: L.nn.functional.gelu(x, approximate="tanh")),
    ("sigmoid", lambda L, x: L.nn.functional.sigmoid(x)),
    ("tanh", lambda L, x: L.nn.functional.tanh(x)),
    ("silu", lambda L, x: L.nn.functional.silu(x)),
    ("softplus", lambda L, x: L.nn.functional.softplus(x)),
    ("torch_sigmoid", lambda L, x: L.sigmoid(x)),
    ("method_sigmoid", lambda L, x: x.sigmoid()),
    ("method_tanh", lambda L, x: x.tanh()),
    ("method_relu", lambda L, x: x.relu()),
]
ACT_BY_ID = {r[0]: r for r in ACTIVATIONS}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", ACTIVATIONS, ids=row_id)
def test_activation(row, isa):
    name, fn = row
    with on_isa(isa):
        for shape in UNARY_SHAPES:
            check_op(name, *lib_fns(fn), shapes=[shape], low=-4, high=4)
        # the transcendental range where exp-based formulas differ most
        check_op(name + "_wide", *lib_fns(fn), shapes=[(127,)], low=-30, high=30)


@pytest.mark.parametrize("row", ACTIVATIONS, ids=row_id)
def test_activation_noncontiguous(row):
    name, fn = row
    for shape in NONCONTIG_SHAPES:
        check_op(name, *lib_fns(fn), shapes=[shape], noncontiguous=True, low=-4, high=4)


@pytest.mark.parametrize("row", ACTIVATIONS, ids=row_id)
def test_activation_float64(row):
    name, fn = row
    check_op(name, *lib_fns(fn), shapes=[(4, 33)], dtype="float64", low=-6, high=6)


# Saturation: +-1e4 and the float32 exp overflow boundary (~88.7). Naive formulas give NaN / inf
# here (softplus as log(1 + e^x), tanh as (e^2x - 1)/(e^2x + 1), silu as x / (1 + e^-x)).
BIG = np.array([-1e4, -1e3, -100.0, -88.8, -87.0, -50.0, -20.0, -5.0, 0.0, 5.0, 20.0, 50.0, 87.0, 88.8,
                100.0, 1e3, 1e4], dtype=np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("row", ACTIVATIONS, ids=row_id)
def test_activation_large_magnitude(row, isa):
    name, fn = row
    with on_isa(isa):
        # tiled so that each SIMD lane and the tail see the extremes
        check_op(name + "_large", *lib_fns(fn), inputs=[np.tile(BIG, 8)[:127]])
        check_op(name + "_large64", *lib_fns(fn), inputs=[BIG.astype(np.float64)])


def test_kinks_at_zero():
    # gradient conventions at 0 follow torch: relu'(0)=0, leaky_relu'(0)=slope, elu'(0)=alpha... (as
    # torch's backward formulas give them)
    x = np.array([-1.0, -0.0, 0.0, 1.0], np.float32)
    for name in ("relu", "leaky_relu_0.2", "elu_alpha0.5", "selu", "gelu", "silu", "softplus"):
        check_op(name + "_at0", *lib_fns(ACT_BY_ID[name][1]), inputs=[x])


@pytest.mark.parametrize("name", ["leaky_relu_0.2", "elu", "selu", "gelu", "gelu_tanh", "sigmoid",
                                  "tanh", "silu", "softplus"])
def test_activation_finite_differences(name):
    # points away from the kink at 0, where a central difference is not a derivative
    x = np.array([[-2.5, -1.3, -0.4, 0.3], [0.9, 1.7, 2.2, -3.1]])
    assert fd_gradcheck(name, lambda x: ACT_BY_ID[name][1](pydl, x), inputs=[x])
