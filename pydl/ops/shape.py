"""Views, copies and indexing, with their gradients.

Views (reshape, permute, expand, basic indexing) share storage with their
input in C++; their gradients are the adjoint data movements: reshape back,
inverse permutation, sum over broadcast dims, scatter into zeros.
"""
import numbers

import numpy as np

from .. import _C
from .. import _dtype as D
from ..autograd import Function
from .._tensor import Tensor, _as_shape, _wrap_dim

_INT64_MAX = 2 ** 63 - 1


def _zeros_impl(shape, dtype):
    return _C.full(list(shape), 0.0, dtype._c)


class ToDtype(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x.dtype
        return Tensor._wrap(_C.to_dtype(x._impl, dtype._c))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.to_dtype(g._impl, ctx.src._c)) if ctx.src.is_floating_point else None


def to_dtype(x, dtype):
    return ToDtype.apply(x, dtype)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape, view_only):
        impl = _C.view(x._impl, shape) if view_only else _C.reshape(x._impl, shape)
        shares = impl.storage_ptr() == x._impl.storage_ptr()
        return Tensor._wrap(impl, base=x if shares else None)

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.reshape(g._impl, list(ctx.in_shapes[0])))


def reshape(x, *shape):
    return Reshape.apply(x, _as_shape(shape, "shape"), False)


def view(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        raise NotImplementedError("view(dtype) reinterpretation is not supported")
    return Reshape.apply(x, _as_shape(shape, "shape"), True)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _wrap_dim(start_dim, x.ndim), _wrap_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = list(x.shape)
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(x, shape[:s] + [n] + shape[e + 1:])


def unflatten(x, dim, sizes):
    d = _wrap_dim(dim, x.ndim)
    shape = list(x.shape)
    return reshape(x, shape[:d] + list(sizes) + shape[d + 1:])


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return Tensor._wrap(_C.permute(x._impl, dims), base=x)

    @staticmethod
    def backward(ctx, g):
        n = len(ctx.dims)
        inv = [0] * n
        for i, d in enumerate(ctx.dims):
            inv[d % n if n else 0] = i
        return Tensor._wrap(_C.permute(g._impl, inv))


def permute(x, *dims):
    return Permute.apply(x, _as_shape(dims, "dims"))


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, d0, d1):
        ctx.d = (d0, d1)
        return Tensor._wrap(_C.transpose(x._impl, d0, d1), base=x)

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.transpose(g._impl, *ctx.d))


def transpose(x, dim0, dim1):
    return Transpose.apply(x, dim0, dim1)


swapaxes = swapdims = transpose


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def mT(x):
    if x.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."
                           if x.ndim == 1 else "tensor.mT is only supported on matrices or batches of matrices.")
    return transpose(x, -2, -1)


def T(x):
    return x if x.ndim < 2 else permute(x, list(range(x.ndim - 1, -1, -1)))


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return Tensor._wrap(_C.expand(x._impl, shape), base=x)

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.sum_to_shape(g._impl, list(ctx.in_shapes[0])))


def expand(x, *shape):
    return Expand.apply(x, _as_shape(shape))


def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_to(x, shape):
    return expand(x, shape)


def squeeze(x, dim=None):
    if dim is None:
        dims = []
    elif isinstance(dim, (tuple, list)):
        dims = list(dim)
        if not dims:
            return x
    else:
        dims = [dim]
    impl = _C.squeeze(x._impl, dims)
    return reshape(x, list(impl.shape)) if impl.shape != x._impl.shape else Reshape.apply(x, list(impl.shape), True)


def unsqueeze(x, dim):
    impl = _C.unsqueeze(x._impl, dim)
    return Reshape.apply(x, list(impl.shape), True)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return Tensor._wrap(_C.clone(x._impl))

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x, memory_format=None):
    return Clone.apply(x)


def contiguous(x, memory_format=None):
    return x if x.is_contiguous() else Clone.apply(x)


# ---------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------
def _is_advanced(item):
    return isinstance(item, (Tensor, np.ndarray, list)) and not isinstance(item, bool)


def _basic_view(impl, items):
    """Applies a normalised key of None / int / slice / Ellipsis to impl."""
    n_consume = sum(1 for it in items if it is not None and it is not Ellipsis)
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_consume > impl.ndim:
        raise IndexError(f"too many indices for tensor of dimension {impl.ndim}")
    dim = 0
    for it in items:
        if it is None:
            impl = _C.unsqueeze(impl, dim)
            dim += 1
        elif it is Ellipsis:
            dim += impl.ndim - dim - (n_consume - _consumed_before(items, it))
        elif isinstance(it, slice):
            start = 0 if it.start is None else _int_index(it.start)
            stop = _INT64_MAX if it.stop is None else _int_index(it.stop)
            step = 1 if it.step is None else _int_index(it.step)
            if step == 0:
                raise ValueError("slice step cannot be zero")
            impl = _C.slice(impl, dim, start, stop, step)
            dim += 1
        else:
            impl = _C.select(impl, dim, _int_index(it))
    return impl


def _consumed_before(items, marker):
    n = 0
    for it in items:
        if it is marker:
            return n
        if it is not None:
            n += 1
    return n


def _int_index(v):
    if isinstance(v, Tensor):
        if v.numel() != 1 or v.dtype.is_floating_point or v.dtype is D.bool_:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(v.item())
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"indices must be integers, slices, None, Ellipsis or tensors, not {type(v).__name__}")
    return int(v)


def _normalise_key(key):
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if isinstance(k, Tensor) and k.ndim == 0 and k.dtype is D.int64:
            items.append(int(k.item()))
        elif isinstance(k, (np.integer,)):
            items.append(int(k))
        else:
            items.append(k)
    return items


class BasicIndex(Function):
    """x[key] for a key of ints, slices, None and Ellipsis: a view."""

    @staticmethod
    def forward(ctx, x, items):
        ctx.items = items
        return Tensor._wrap(_basic_view(x._impl, items), base=x)

    @staticmethod
    def backward(ctx, g):
        gx = _zeros_impl(ctx.in_shapes[0], g.dtype)
        _C.copy_(_basic_view(gx, ctx.items), g._impl)
        return Tensor._wrap(gx)


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.index = dim, index
        return Tensor._wrap(_C.index_select(x._impl, dim, index._impl))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.index_add(list(ctx.in_shapes[0]), ctx.dim, ctx.index._impl, g._impl))


def index_select(x, dim, index):
    if not isinstance(index, Tensor):
        raise TypeError("index_select(): argument 'index' must be Tensor")
    return IndexSelect.apply(x, _wrap_dim(dim, x.ndim), index)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.index = dim, index
        return Tensor._wrap(_C.gather(x._impl, dim, index._impl))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.scatter_add(list(ctx.in_shapes[0]), ctx.dim, ctx.index._impl, g._impl))


def gather(x, dim, index):
    return Gather.apply(x, dim, index)


def _index_tensor(item):
    from .._creation import tensor
    if isinstance(item, Tensor):
        return item
    arr = np.asarray(item)
    if arr.dtype == object:
        raise IndexError("index lists must hold integers or booleans")
    if arr.dtype.kind == "f":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return tensor(arr)


def getitem(x, key):
    items = _normalise_key(key)
    adv = [i for i, it in enumerate(items) if _is_advanced(it)]
    if not adv:
        return BasicIndex.apply(x, items)
    if len(adv) > 1:
        raise NotImplementedError("indexing with more than one index tensor is not supported yet; "
                                  "index one dimension at a time")
    p = adv[0]
    idx = _index_tensor(items[p])
    if idx.dtype.is_floating_point:
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    placeholder = [slice(None)] * (idx.ndim if idx.dtype is D.bool_ else 1)
    full = items[:p] + placeholder + items[p + 1:]
    # The output dim the advanced index lands on: walk the key as _basic_view does.
    n_consume = sum(1 for it in full if it is not None and it is not Ellipsis)
    dim_pos = 0
    for it in items[:p]:
        if it is None or isinstance(it, slice):
            dim_pos += 1
        elif it is Ellipsis:
            dim_pos += x.ndim - n_consume
    v = BasicIndex.apply(x, full)
    if idx.dtype is D.bool_:
        k = idx.ndim
        if tuple(v.shape[dim_pos:dim_pos + k]) != tuple(idx.shape):
            raise IndexError(f"The shape of the mask {list(idx.shape)} at index 0 does not match the shape of "
                             f"the indexed tensor {list(v.shape[dim_pos:dim_pos + k])} at index {dim_pos}")
        shape = list(v.shape)
        v = reshape(v, shape[:dim_pos] + [idx.numel()] + shape[dim_pos + k:])
        from .._creation import tensor
        flat = tensor(np.flatnonzero(idx.numpy()).astype(np.int64))
        return IndexSelect.apply(v, dim_pos, flat)
    out = IndexSelect.apply(v, dim_pos, reshape(idx, -1))
    shape = list(out.shape)
    return reshape(out, shape[:dim_pos] + list(idx.shape) + shape[dim_pos + 1:])


class IndexPut(Function):
    """Out-of-place x[key] = value for basic keys (setitem under autograd)."""

    @staticmethod
    def forward(ctx, x, items, value):
        ctx.items = items
        out = _C.clone(x._impl)
        _C.copy_(_basic_view(out, items), value._impl)
        return Tensor._wrap(out)

    @staticmethod
    def backward(ctx, g):
        gx = _C.clone(g._impl)
        region = _basic_view(gx, ctx.items)
        gv = None
        if ctx.needs_input_grad[2]:
            gv = Tensor._wrap(_C.sum_to_shape(_C.clone(_basic_view(g._impl, ctx.items)), list(ctx.in_shapes[2])))
        _C.copy_(region, _C.full([], 0.0, g.dtype._c))
        return Tensor._wrap(gx), None, gv


def setitem(x, key, value):
    from .elementwise import as_tensor
    from ..autograd import is_grad_enabled
    value = as_tensor(value, x) if not isinstance(value, Tensor) else value
    items = _normalise_key(key)
    grad = is_grad_enabled() and (x.requires_grad or value.requires_grad)
    if any(_is_advanced(it) for it in items):
        if grad:
            raise NotImplementedError("assignment through index tensors does not record gradients yet; use "
                                      "pydl.where or masked_fill")
        x._check_inplace()
        arr = _C.to_numpy(x._impl)
        np_items = tuple(it.numpy() if isinstance(it, Tensor) else it for it in items)
        arr[np_items] = value.detach().numpy()
        x._bump_version()
        return
    if grad:
        x._inplace_result(IndexPut.apply(x, items, value.to(x.dtype)))
        return
    x._check_inplace()
    _C.copy_(_basic_view(x._impl, items), value._impl)
    x._bump_version()


def narrow(x, dim, start, length):
    d = _wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return BasicIndex.apply(x, [slice(None)] * d + [slice(start, start + length)])


def select(x, dim, index):
    d = _wrap_dim(dim, x.ndim)
    return BasicIndex.apply(x, [slice(None)] * d + [index])


def unbind(x, dim=0):
    d = _wrap_dim(dim, x.ndim)
    return tuple(select(x, d, i) for i in range(x.shape[d]))


def split(x, split_size_or_sections, dim=0):
    d = _wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        s = int(split_size_or_sections)
        if s <= 0 and n > 0:
            raise RuntimeError(f"split_size must be positive, got {s}")
        sizes = [min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out, pos = [], 0
    for s in sizes:
        out.append(narrow(x, d, pos, s))
        pos += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    d = _wrap_dim(dim, x.ndim)
    n = x.shape[d]
    size = -(-n // chunks) if n else 1
    return split(x, max(size, 1), d)


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        return Tensor._wrap(_C.cat([x._impl for x in xs], dim))

    @staticmethod
    def backward(ctx, g):
        grads, pos = [None], 0
        for shape in ctx.in_shapes[1:]:
            if len(shape) == 1 and shape[0] == 0 and g.ndim != 1:
                grads.append(None)
                continue
            n = shape[ctx.dim]
            grads.append(Tensor._wrap(_C.slice(g._impl, ctx.dim, pos, pos + n, 1)))
            pos += n
        return tuple(grads)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("cat(): expected a sequence of Tensors")
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    dtype = tensors[0].dtype
    for t_ in tensors[1:]:
        dtype = _promote(dtype, t_.dtype)
    tensors = [t_ if t_.dtype is dtype else to_dtype(t_, dtype) for t_ in tensors]
    ref = next((t_ for t_ in tensors if not (t_.ndim == 1 and t_.shape[0] == 0)), tensors[0])
    d = _wrap_dim(dim, ref.ndim) if ref.ndim else dim
    return Cat.apply(d, *tensors)


concat = concatenate = cat


def _promote(a, b):
    order = [D.bool_, D.int64, D.float32, D.float64]
    return order[max(order.index(a), order.index(b))]


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0].shape
    for i, t_ in enumerate(tensors):
        if t_.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(t_.shape)} at entry {i}")
    d = _wrap_dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t_, d) for t_ in tensors], d)


def repeat(x, *sizes):
    sizes = _as_shape(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    x = reshape(x, [1] * (len(sizes) - x.ndim) + list(x.shape))
    # [a, b] repeated [r, s]: view as [1, a, 1, b], expand to [r, a, s, b], merge pairs.
    inter, exp_shape, final = [], [], []
    for r, s in zip(sizes, x.shape):
        inter += [1, s]
        exp_shape += [r, s]
        final.append(r * s)
    return reshape(expand(reshape(x, inter), exp_shape), final)


def flip(x, dims):
    from .._creation import arange
    if isinstance(dims, numbers.Integral):
        dims = [dims]
    out = x
    for d in dims:
        d = _wrap_dim(d, x.ndim)
        n = x.shape[d]
        out = index_select(out, d, arange(n - 1, -1, -1) if n else arange(0))
    return out


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        from .._creation import full_impl
        ctx.mask = mask
        if mask.dtype is not D.bool_:
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype.name}")
        if tuple(_C_broadcast(x.shape, mask.shape)) != tuple(x.shape):
            raise RuntimeError(f"The size of the mask {list(mask.shape)} must be broadcastable to the tensor "
                               f"{list(x.shape)}")
        return Tensor._wrap(_C.where(mask._impl, full_impl([], value, x.dtype), x._impl))

    @staticmethod
    def backward(ctx, g):
        return Tensor._wrap(_C.masked_fill(g._impl, ctx.mask._impl, 0.0)), None, None


def masked_fill(x, mask, value):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item()
    return MaskedFill.apply(x, mask, value)


def _C_broadcast(a, b):
    from .. import broadcast_shapes
    return broadcast_shapes(a, b)


def nonzero(x, as_tuple=False):
    from .._creation import tensor
    idx = np.nonzero(x.detach().numpy())
    if as_tuple:
        return tuple(tensor(i.astype(np.int64)) for i in idx)
    return tensor(np.stack(idx, axis=1).astype(np.int64) if idx else np.zeros((0, 0), np.int64))


def tril(x, diagonal=0):
    n, m = x.shape[-2], x.shape[-1]
    keep = np.tril(np.ones((n, m), dtype=bool), diagonal)
    from .._creation import tensor
    return masked_fill(x, tensor(~keep), 0.0)


def triu(x, diagonal=0):
    n, m = x.shape[-2], x.shape[-1]
    keep = np.triu(np.ones((n, m), dtype=bool), diagonal)
    from .._creation import tensor
    return masked_fill(x, tensor(~keep), 0.0)
