"""pydl.cuda_emu: pydl's CUDA kernels run on a CPU emulation of the CUDA execution model.

The kernels in ``csrc/cuda/kernels/*.cu`` are compiled twice: by nvcc into ``pydl._C_cuda`` (real
GPUs) and by the host compiler, against the emulator in ``csrc/cuda/emu/``, into ``pydl._cuemu``,
which needs no GPU and no CUDA toolkit. This module is the Python face of the second: each function
takes host arrays (numpy arrays, pydl Tensors, anything ``numpy.asarray`` accepts), copies them
into emulated device memory (filled with 0xFF bytes, i.e. NaN, so an output element no thread
writes comes back NaN), launches the kernel and returns numpy arrays.

The emulator runs each block's threads as fibers that switch only at ``__syncthreads`` and the warp
collectives, and reports misuse -- a divergent barrier, a warp collective whose mask names an exited
lane, an out-of-bounds write -- as ``RuntimeError`` naming the source line. ``schedule()`` selects
the order blocks run in and the order a block's threads are resumed in (forward, reverse, random):
a missing ``__syncthreads`` gives a wrong result in at least one of forward and reverse thread
order.

>>> import numpy as np, pydl.cuda_emu as emu
>>> with emu.schedule(block_order="reverse", thread_order="random", seed=1):
...     y = emu.softmax(np.ones((2, 3), np.float32))
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = [
    "is_available",
    "schedule",
    "get_schedule",
    "relu",
    "relu_backward",
    "gelu",
    "gelu_backward",
    "add",
    "sum_lastdim",
    "sum_lastdim_backward",
    "matmul",
    "matmul_backward",
    "softmax",
    "softmax_backward",
    "layer_norm",
    "layer_norm_backward",
    "GEMM_VARIANTS",
    "SOFTMAX_VARIANTS",
    "ORDERS",
]

ORDERS = ("forward", "reverse", "random")
GEMM_VARIANTS = {"naive": 0, "tiled": 1, "regblock": 2}
SOFTMAX_VARIANTS = {"warp": 0, "block": 1}

_import_error = None
try:
    from . import _cuemu as _m
except ImportError as exc:  # built with PYDL_CUDA_EMU=OFF
    _m = None
    _import_error = exc


def is_available() -> bool:
    """True when the emulator module ``pydl._cuemu`` was built."""
    return _m is not None


def _mod():
    if _m is None:
        raise RuntimeError(f"pydl was built without the CUDA emulator (PYDL_CUDA_EMU=OFF): {_import_error}")
    return _m


def _f32(x, name: str, min_ndim: int = 0) -> np.ndarray:
    """A C-contiguous float32 copy/view of x; TypeError for other dtypes (no silent casts)."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    a = np.asarray(x)
    if a.dtype != np.float32:
        raise TypeError(f"{name}: expected float32 data, got {a.dtype}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got a {a.ndim}-d array")
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)


def get_schedule() -> dict:
    """The current schedule: block_order, thread_order, seed, num_threads."""
    return dict(_mod().get_schedule())


@contextlib.contextmanager
def schedule(block_order: str = "forward", thread_order: str = "forward", seed: int = 0,
             num_threads: int = 0):
    """Run the launches inside the ``with`` block with this schedule (restored afterwards).

    block_order / thread_order: 'forward', 'reverse' or 'random' (seeded by ``seed``);
    num_threads: OpenMP threads that run blocks (0: OpenMP's default). The defaults also come from
    the environment: PYDL_CUEMU_BLOCK_ORDER, PYDL_CUEMU_THREAD_ORDER, PYDL_CUEMU_SEED.
    """
    m = _mod()
    for name, v in (("block_order", block_order), ("thread_order", thread_order)):
        if v not in ORDERS:
            raise ValueError(f"schedule: {name} must be one of {ORDERS}, got {v!r}")
    old = m.get_schedule()
    m.set_schedule(block_order, thread_order, int(seed), int(num_threads))
    try:
        yield
    finally:
        m.set_schedule(old["block_order"], old["thread_order"], old["seed"], old["num_threads"])


def _elementwise(fn, name, *args):
    arrays = [_f32(a, name) for a in args]
    # The binding sees 0-d arrays as 1-element 1-d ones; give the result the input's shape back.
    return fn(*arrays).reshape(arrays[0].shape)


def relu(x):
    return _elementwise(_mod().relu_forward, "relu", x)


def relu_backward(x, grad):
    return _elementwise(_mod().relu_backward, "relu_backward", x, grad)


def gelu(x):
    """Exact (erf) GELU, torch's approximate='none'."""
    return _elementwise(_mod().gelu_forward, "gelu", x)


def gelu_backward(x, grad):
    return _elementwise(_mod().gelu_backward, "gelu_backward", x, grad)


def add(a, b):
    """a + b for same-shape contiguous float32 arrays (no broadcasting)."""
    return _elementwise(_mod().add_forward, "add", a, b)


def sum_lastdim(x):
    """x.sum(-1)."""
    return _mod().sum_lastdim_forward(_f32(x, "sum_lastdim", 1))


def sum_lastdim_backward(grad, n: int):
    """Gradient of sum over a last dim of size n: grad broadcast to grad.shape + (n,)."""
    return _mod().sum_lastdim_backward(_f32(grad, "sum_lastdim_backward"), int(n))


def _gemm_variant(variant) -> int:
    if variant not in GEMM_VARIANTS:
        raise ValueError(f"matmul: variant must be one of {tuple(GEMM_VARIANTS)}, got {variant!r}")
    return GEMM_VARIANTS[variant]


def matmul(a, b, variant: str = "regblock"):
    """a (M, K) @ b (K, N) with one of the GEMM kernels: 'naive', 'tiled', 'regblock'."""
    return _mod().gemm(_gemm_variant(variant), _f32(a, "matmul"), _f32(b, "matmul"))


def matmul_backward(a, b, grad, variant: str = "regblock"):
    """(grad_a, grad_b) = (grad @ b.T, a.T @ grad), both computed by the chosen GEMM kernel."""
    v = _gemm_variant(variant)
    a, b, g = _f32(a, "matmul_backward"), _f32(b, "matmul_backward"), _f32(grad, "matmul_backward")
    if a.ndim != 2 or b.ndim != 2 or g.shape != (a.shape[0], b.shape[-1]):
        raise ValueError(f"matmul_backward: grad must have shape (M, N) = {(a.shape[0], b.shape[-1])}, "
                         f"got {g.shape}")
    m = _mod()
    return m.gemm(v, g, np.ascontiguousarray(b.T)), m.gemm(v, np.ascontiguousarray(a.T), g)


def _softmax_variant(variant) -> int:
    if variant not in SOFTMAX_VARIANTS:
        raise ValueError(f"softmax: variant must be one of {tuple(SOFTMAX_VARIANTS)}, got {variant!r}")
    return SOFTMAX_VARIANTS[variant]


def softmax(x, variant: str = "warp"):
    """Softmax over the last dim; variant 'warp' (a warp per row) or 'block' (a block per row)."""
    return _mod().softmax_forward(_softmax_variant(variant), _f32(x, "softmax", 1))


def softmax_backward(y, grad, variant: str = "warp"):
    """Gradient of softmax given its output y: y * (grad - sum(grad * y, -1))."""
    return _mod().softmax_backward(_softmax_variant(variant), _f32(y, "softmax_backward", 1),
                                   _f32(grad, "softmax_backward"))


def layer_norm(x, weight, bias, eps: float = 1e-5):
    """Layer norm over the last dim: returns (y, mean, rstd); mean/rstd have x.shape[:-1]."""
    return _mod().layer_norm_forward(_f32(x, "layer_norm", 1), _f32(weight, "layer_norm"),
                                     _f32(bias, "layer_norm"), float(eps))


def layer_norm_backward(x, weight, mean, rstd, grad):
    """(grad_x, grad_weight, grad_bias) from the forward's saved mean and rstd."""
    n = "layer_norm_backward"
    return _mod().layer_norm_backward(_f32(x, n, 1), _f32(weight, n), _f32(mean, n), _f32(rstd, n),
                                      _f32(grad, n))


def _i64(x, name: str) -> np.ndarray:
    """A C-contiguous int64 array; TypeError for non-integer data."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name}: expected integer indices, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def cross_entropy(logits, target, ignore_index: int = -100):
    """Per-row cross entropy of logits (N, C) against int targets (N): returns (loss (N,), lse (N,)).

    torch's reduction='mean' is ``loss.sum() / (target != ignore_index).sum()``.
    """
    return _mod().cross_entropy_forward(_f32(logits, "cross_entropy"), _i64(target, "cross_entropy"),
                                        int(ignore_index))


def cross_entropy_backward(logits, target, lse, grad, ignore_index: int = -100):
    """d loss / d logits given the per-row loss gradient ``grad`` (N,)."""
    n = "cross_entropy_backward"
    return _mod().cross_entropy_backward(_f32(logits, n), _i64(target, n), _f32(lse, n), _f32(grad, n),
                                         int(ignore_index))


def embedding(weight, indices):
    """weight[indices]: weight (V, D), integer indices of any shape -> indices.shape + (D,)."""
    return _mod().embedding_forward(_f32(weight, "embedding"), _i64(indices, "embedding"))


def embedding_backward(grad, indices, num_embeddings: int):
    """d loss / d weight (num_embeddings, D): grad rows scatter-added at their indices (atomics)."""
    return _mod().embedding_backward(_f32(grad, "embedding_backward"), _i64(indices, "embedding_backward"),
                                     int(num_embeddings))


def sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, first_step=True):
    """One fused torch.optim.SGD update: returns (new param, new momentum buffer)."""
    n = "sgd_step"
    return _mod().sgd_step(_f32(param, n), _f32(grad, n), _f32(momentum_buffer, n), float(lr),
                           float(momentum), float(dampening), float(weight_decay), bool(nesterov),
                           bool(first_step))


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, decoupled=False):
    """One fused torch.optim.Adam (decoupled=True: AdamW) update; ``step`` is the 1-based count after
    it. Returns (new param, new exp_avg, new exp_avg_sq)."""
    n = "adam_step"
    return _mod().adam_step(_f32(param, n), _f32(grad, n), _f32(exp_avg, n), _f32(exp_avg_sq, n),
                            float(lr), float(betas[0]), float(betas[1]), float(eps),
                            float(weight_decay), bool(decoupled), int(step))


__all__ += ["cross_entropy", "cross_entropy_backward", "embedding", "embedding_backward", "sgd_step",
            "adam_step"]


def scaled_dot_product_attention(query, key, value, is_causal: bool = False, scale=None):
    """Flash-style attention over (..., T, E) / (..., S, E) float32 arrays, E <= 128.

    Returns (out (..., T, E), lse (..., T)): lse, the logsumexp of each row of scaled scores, is what
    the backward needs. ``is_causal`` masks key s > query t (torch's top-left-aligned mask);
    ``scale`` defaults to 1/sqrt(E).
    """
    n = "scaled_dot_product_attention"
    q, k, v = _f32(query, n, 2), _f32(key, n, 2), _f32(value, n, 2)
    s = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _mod().sdpa_forward(q, k, v, float(s), bool(is_causal))


def scaled_dot_product_attention_backward(query, key, value, out, lse, grad, is_causal: bool = False,
                                          scale=None):
    """(grad_query, grad_key, grad_value) from the forward's out and lse."""
    n = "scaled_dot_product_attention_backward"
    q, k, v = _f32(query, n, 2), _f32(key, n, 2), _f32(value, n, 2)
    s = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _mod().sdpa_backward(q, k, v, _f32(out, n), _f32(grad, n), _f32(lse, n), float(s),
                                bool(is_causal))


__all__ += ["scaled_dot_product_attention", "scaled_dot_product_attention_backward"]


def _pair(v, name):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"conv2d: {name} must be an int or a pair, got {v}")
    return v


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """torch.nn.functional.conv2d (groups=1) by im2col + the register-blocked GEMM kernel."""
    n = "conv2d"
    return _mod().conv2d_forward(_f32(x, n), _f32(weight, n), None if bias is None else _f32(bias, n),
                                 _pair(stride, "stride"), _pair(padding, "padding"),
                                 _pair(dilation, "dilation"))


def conv2d_backward(x, weight, grad, has_bias=True, stride=1, padding=0, dilation=1):
    """(grad_x, grad_weight, grad_bias or None) of conv2d."""
    n = "conv2d_backward"
    return _mod().conv2d_backward(_f32(x, n), _f32(weight, n), _f32(grad, n), bool(has_bias),
                                  _pair(stride, "stride"), _pair(padding, "padding"),
                                  _pair(dilation, "dilation"))


def transpose(a):
    """a.T of a 2-D array through 32x32 shared-memory tiles."""
    return _mod().transpose(_f32(a, "transpose", 2))


__all__ += ["conv2d", "conv2d_backward", "transpose"]


def _pool_args(kernel_size, stride, padding):
    k = _pair(kernel_size, "kernel_size")
    return k, k if stride is None else _pair(stride, "stride"), _pair(padding, "padding")


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """torch.nn.functional.max_pool2d(..., return_indices=True): returns (out, indices)."""
    return _mod().max_pool2d_forward(_f32(x, "max_pool2d"), *_pool_args(kernel_size, stride, padding))


def max_pool2d_backward(x, grad, indices, kernel_size, stride=None, padding=0):
    n = "max_pool2d_backward"
    return _mod().max_pool2d_backward(_f32(x, n), _f32(grad, n), _i64(indices, n),
                                      *_pool_args(kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """torch.nn.functional.avg_pool2d with count_include_pad=True, ceil_mode=False."""
    return _mod().avg_pool2d_forward(_f32(x, "avg_pool2d"), *_pool_args(kernel_size, stride, padding))


def avg_pool2d_backward(x, grad, kernel_size, stride=None, padding=0):
    n = "avg_pool2d_backward"
    return _mod().avg_pool2d_backward(_f32(x, n), _f32(grad, n), *_pool_args(kernel_size, stride, padding))


__all__ += ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]
