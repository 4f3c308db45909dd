"""pydl.nn.functional: PyTorch's functional names and signatures."""
from ..ops.elementwise import (  # noqa: F401
    elu, gelu, leaky_relu, relu, selu, sigmoid, silu, softplus, tanh,
)
from ..ops.linalg import linear  # noqa: F401
from ..ops.loss import cross_entropy, nll_loss  # noqa: F401
from ..ops.normalization import batch_norm, layer_norm, local_response_norm  # noqa: F401
from ..ops.softmax import log_softmax, softmax, softmin  # noqa: F401
from ..ops.conv import conv2d  # noqa: F401
from ..ops.pooling import (  # noqa: F401
    adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d,
)
# --- attention (sdpa) ---
from ..ops.attention import scaled_dot_product_attention  # noqa: F401
# --- end attention (sdpa) ---
from .. import _C
from .. import _dtype as _D
from .._tensor import Tensor
from ..autograd import Function


def relu6(x):
    from ..ops.elementwise import clamp
    return clamp(x, 0.0, 6.0)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    from ..ops.elementwise import clamp
    return clamp(x, min_val, max_val)


# ---------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zeroes each element with probability p and scales the rest by 1/(1-p)
    while training; the identity in eval mode or for p=0, zeros for p=1. The
    mask comes from pydl's seeded generator (``pydl.manual_seed``)."""
    from .._creation import rand, zeros
    _check_p(p)
    if not training or p == 0.0:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"dropout expects a floating point input, got {input.dtype}")
    if p == 1.0:
        mask = zeros(input.shape, dtype=input.dtype)
    else:
        # P(u >= p) = 1 - p for u ~ U[0, 1); torch: bernoulli_(1 - p).div_(1 - p)
        mask = (rand(input.shape, dtype=input.dtype) >= p).to(input.dtype) / (1.0 - p)
    return input.mul_(mask) if inplace else input * mask


# ---------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------
class _Embedding(Function):
    """out[..., :] = weight[indices[...], :]; the gradient sums rows back with
    index_add, skipping positions whose index is padding_idx."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        flat = _C.reshape(indices._impl, [-1])
        ctx.flat, ctx.padding_idx = flat, padding_idx
        rows = _C.index_select(weight._impl, 0, flat)
        return Tensor._wrap(_C.reshape(rows, list(indices.shape) + [weight.shape[1]]))

    @staticmethod
    def backward(ctx, g):
        v, d = ctx.in_shapes[0]
        g2 = _C.reshape(g._impl, [-1, d])
        if ctx.padding_idx is not None:
            pad = _C.compare(_C.CompareOp.eq, ctx.flat, _C.full([], float(ctx.padding_idx), ctx.flat.dtype))
            g2 = _C.masked_fill(g2, _C.unsqueeze(pad, 1), 0.0)
        return Tensor._wrap(_C.index_add([v, d], 0, ctx.flat, g2)), None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """Rows of ``weight`` (num_embeddings x embedding_dim) picked by integer
    ``input`` of any shape; the result has shape input.shape + (embedding_dim,)."""
    if max_norm is not None:
        raise NotImplementedError("embedding(max_norm=...) is not supported yet")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding(scale_grad_by_freq=True / sparse=True) is not supported")
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dtype is not _D.int64:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)")
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < weight.size(0), "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -weight.size(0), "Padding_idx must be within num_embeddings"
            padding_idx = weight.size(0) + padding_idx
    if input.numel():
        lo, hi = int(input.amin().item()), int(input.amax().item())
        if lo < 0 or hi >= weight.size(0):
            raise IndexError("index out of range in self")
    return _Embedding.apply(weight, input, padding_idx)


# ---------------------------------------------------------------------------
# Bilinear
# ---------------------------------------------------------------------------
def bilinear(input1, input2, weight, bias=None):
    """y[..., k] = input1 @ weight[k] @ input2 + bias[k]; weight is (out, in1, in2)."""
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} do not match "
                           f"weight {tuple(weight.shape)}")
    lead = tuple(input1.shape[:-1])
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # (N, in1) @ (in1, out*in2) -> (N, out, in2), then contract in2 with x2.
    t = (x1 @ weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, out_f)
