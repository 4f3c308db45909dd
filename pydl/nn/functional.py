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


# --- layers: embedding, dropout, losses, more activations (ops/embedding.py, ops/dropout.py,
# ops/losses.py, ops/activations.py; local_response_norm is in ops/normalization.py) ---
from ..ops.embedding import embedding  # noqa: E402,F401
from ..ops.dropout import dropout, dropout1d, dropout2d  # noqa: E402,F401
from ..ops.losses import (  # noqa: E402,F401
    binary_cross_entropy, binary_cross_entropy_with_logits, focal_loss, huber_loss, kl_div, l1_loss, mse_loss,
    sigmoid_focal_loss, smooth_l1_loss,
)
from ..ops.activations import (  # noqa: E402,F401
    celu, glu, hardshrink, hardsigmoid, hardswish, logsigmoid, mish, prelu, softshrink, softsign, tanhshrink,
    threshold,
)
# --- transposed convolution ---
from ..ops.conv_transpose import conv_transpose2d  # noqa: F401,E402
