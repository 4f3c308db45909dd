"""pydl: a deep-learning library whose every kernel is hand-written, measured
and checked against PyTorch.

The public surface mirrors PyTorch: ``pydl.tensor``, ``pydl.zeros``, tensor
methods with autograd, ``pydl.nn.functional``, ``pydl.no_grad``. See
``pydl.kernels`` for the kernel variants and instruction sets in use.
"""
import pkgutil as _pkgutil

# Run from a source checkout (e.g. `python -m pydl.demo` in the repository
# root after `pip install .`), this directory has no compiled modules: let
# the package also look in the installed copy for them.
__path__ = _pkgutil.extend_path(__path__, __name__)

from . import _C  # noqa: E402
from ._dtype import (  # noqa: F401
    bool_ as bool, device, double, dtype, float, float32, float64, int64, long,
)
from ._tensor import Size, Tensor  # noqa: F401
from . import _methods  # noqa: F401  (binds the Tensor methods)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from . import autograd  # noqa: F401
from ._creation import (  # noqa: F401
    arange, as_tensor, bernoulli, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like,
    get_rng_state, initial_seed, linspace, manual_seed, ones, ones_like, rand, rand_like, randint,
    randint_like, randn, randn_like, randperm, seed, set_rng_state, tensor, zeros, zeros_like,
)
from .ops.elementwise import (  # noqa: F401
    abs, absolute, add, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip, cos, div,
    divide, eq, exp, exp2, expm1, floor, floor_divide, fmod, ge, greater, greater_equal, gt, le, less,
    less_equal, log, log10, log1p, log2, logical_and, logical_not, logical_or, logical_xor, lt, maximum,
    minimum, mul, ne, neg, negative, not_equal, pow, reciprocal, relu, remainder, round, rsqrt, sigmoid,
    sign, sin, sqrt, square, sub, tanh, true_divide, trunc, where,
)
from .ops.elementwise import mul as multiply, sub as subtract  # noqa: F401
from .ops.linalg import bmm, dot, matmul, mm, mv  # noqa: F401
from .ops.conv import conv2d  # noqa: F401
from .ops.pooling import avg_pool1d, max_pool1d, max_pool2d  # noqa: F401
from .ops.reduction import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, count_nonzero, logsumexp, max, mean, min, norm, prod, std,
    std_mean, sum, var, var_mean,
)
from .ops.softmax import log_softmax, softmax  # noqa: F401
from .ops.normalization import batch_norm, layer_norm  # noqa: F401
from .ops.shape import (  # noqa: F401
    broadcast_to, cat, chunk, clone, concat, concatenate, flatten, flip, gather, index_select,
    masked_fill, narrow, nonzero, permute, repeat, reshape, select, split, squeeze, stack, swapaxes,
    t, transpose, tril, triu, unbind, unflatten, unsqueeze,
)
from . import cuda, kernels, nn  # noqa: F401
from . import optim  # noqa: F401
# --- layers: model summary ---
from .nn.summary import summary  # noqa: F401,E402
# --- checkpoints (serialization) and data ---
from .serialization import load, save  # noqa: F401,E402
from . import data  # noqa: F401,E402

__version__ = "0.1.0"


def set_num_threads(n):
    """Number of OpenMP threads pydl's kernels use."""
    _C.set_num_threads(int(n))


def get_num_threads():
    return _C.get_num_threads()


def is_tensor(x):
    return isinstance(x, Tensor)


def numel(x):
    return x.numel()


def broadcast_shapes(*shapes):
    import builtins
    out = []
    for s in shapes:
        s = list(s)
        n = builtins.max(len(out), len(s))
        a = [1] * (n - len(out)) + out
        b = [1] * (n - len(s)) + s
        res = []
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y and x != 1 and y != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape.  Mismatch "
                                   f"is at dim {i}, and sizes are {x} and {y}")
            res.append(y if x == 1 else x)
        out = res
    return Size(out)
