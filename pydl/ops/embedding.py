"""embedding: a row gather with its scatter-add gradient (torch.nn.functional.embedding).

Kernels in csrc/cpu/embedding.cpp: the forward copies one weight row per index; the backward
counting-sorts the positions by embedding row and lets each thread own a range of rows (no races,
no atomics, the same summation order as the sequential reference whatever the thread count).
Indices are checked in C++ before any kernel runs (IndexError "index out of range in self").
"""
from .. import _C
from .. import _dtype as _D
from .._tensor import Tensor
from ..autograd import Function


class _Embedding(Function):
    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.indices, ctx.padding_idx = indices, padding_idx
        return Tensor._wrap(_C.embedding(weight._impl, indices._impl))

    @staticmethod
    def backward(ctx, g):
        v = ctx.in_shapes[0][0]
        pad = -1 if ctx.padding_idx is None else ctx.padding_idx
        return Tensor._wrap(_C.embedding_backward(g._impl, ctx.indices._impl, v, pad)), None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """Rows of ``weight`` (num_embeddings x embedding_dim) picked by integer ``input`` of any
    shape; the result has shape input.shape + (embedding_dim,). The row at padding_idx gets no
    gradient."""
    if max_norm is not None:
        raise NotImplementedError("embedding(max_norm=...) is not supported yet")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding(scale_grad_by_freq=True / sparse=True) is not supported")
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"embedding(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if input.dtype is not _D.int64:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)")
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < weight.size(0), "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -weight.size(0), "Padding_idx must be within num_embeddings"
            padding_idx = weight.size(0) + padding_idx
    return _Embedding.apply(weight, input, padding_idx)
