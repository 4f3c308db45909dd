"""More activations, as compositions of pydl's differentiable elementwise kernels (torch names
and formulas): softsign, mish, hardsigmoid, hardswish, logsigmoid, celu, tanhshrink, softshrink,
hardshrink, threshold, glu, prelu.

Where torch selects between two branches, both branches here are finite everywhere (e.g. celu
takes expm1 of min(x, 0)), so the gradient that where() masks out is 0, never 0 * inf = NaN.
"""
from .._tensor import Tensor
from . import elementwise as E


def softsign(input):  # noqa: A002
    """x / (1 + |x|)."""
    return input / (E.abs(input) + 1.0)


def mish(input, inplace=False):  # noqa: A002
    """x * tanh(softplus(x)) (Misra 2019)."""
    return input * E.tanh(E.softplus(input))


def hardsigmoid(input, inplace=False):  # noqa: A002
    """min(max(x + 3, 0), 6) / 6."""
    return E.clamp(input + 3.0, 0.0, 6.0) / 6.0


def hardswish(input, inplace=False):  # noqa: A002
    """x * min(max(x + 3, 0), 6) / 6."""
    return input * E.clamp(input + 3.0, 0.0, 6.0) / 6.0


def logsigmoid(input):  # noqa: A002
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any magnitude."""
    return E.clamp(input, max=0.0) - E.log1p(E.exp(-E.abs(input)))


def celu(input, alpha=1.0, inplace=False):  # noqa: A002
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return E.relu(input) + alpha * E.expm1(E.clamp(input, max=0.0) / alpha)


def tanhshrink(input):  # noqa: A002
    return input - E.tanh(input)


def softshrink(input, lambd=0.5):  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return input - E.clamp(input, -lambd, lambd)


def hardshrink(input, lambd=0.5):  # noqa: A002
    """x where |x| > lambd, else 0."""
    return E.where(E.abs(input) > lambd, input, 0.0)


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    """x where x > threshold, else value."""
    return E.where(input > threshold, input, float(value))


def glu(input, dim=-1):  # noqa: A002
    """a * sigmoid(b) with a, b the two halves of input along dim."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} is size {n}")
    a, b = input.split(n // 2, dim)
    return a * E.sigmoid(b)


def prelu(input, weight):  # noqa: A002
    """max(0, x) + weight * min(0, x); weight has 1 element or one per channel (dim 1)."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    nw = weight.numel()
    if nw != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if nw != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{nw} and channel size = {channels}.")
        weight = weight.reshape(-1, *([1] * (input.ndim - 2)))
    elif weight.ndim == 1 and input.ndim == 0:
        weight = weight.reshape(())
    return E.relu(input) + weight * E.clamp(input, max=0.0)
