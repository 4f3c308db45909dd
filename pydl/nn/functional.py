"""pydl.nn.functional: PyTorch's functional names and signatures."""
from ..ops.elementwise import (  # noqa: F401
    elu, gelu, leaky_relu, relu, selu, sigmoid, silu, softplus, tanh,
)
from ..ops.linalg import linear  # noqa: F401


def relu6(x):
    from ..ops.elementwise import clamp
    return clamp(x, 0.0, 6.0)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    from ..ops.elementwise import clamp
    return clamp(x, min_val, max_val)
