"""conv2d with gradients (torch.nn.functional.conv2d semantics).

Python only normalises the arguments (int or tuple, padding='valid'/'same') and holds the
autograd; _C.conv2d checks everything else and runs a kernel variant from cpu/conv2d.cpp
(``pydl.kernels.variants("conv2d")``). Padding goes to C++ as [top, bottom, left, right], so
padding='same' with an even dilated kernel (torch puts the extra row/column at the bottom/right)
needs no copy of the input.
"""
from .. import _C
from ..autograd import Function
from .._tensor import Tensor


def _pair(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, tuple, list)):
        if hasattr(v, "__index__") and not isinstance(v, bool):
            v = int(v)
        else:
            raise TypeError(f"conv2d(): argument '{name}' must be tuple of ints, not {type(v).__name__}")
    if isinstance(v, int):
        return [v, v]
    v = [int(i) for i in v]
    return v * 2 if len(v) == 1 else v


def _padding(padding, stride, dilation, weight):
    if isinstance(padding, str):
        if padding == "valid":
            return [0, 0, 0, 0]
        if padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            if weight.ndim != 4:
                return [0, 0, 0, 0]  # C++ reports the bad weight
            out = []
            for d, k in zip(dilation, weight.shape[2:]):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return out
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    p = _pair(padding, "padding")
    if len(p) != 2:
        raise RuntimeError("expected padding to be a single integer value or a list of 2 values to match "
                           f"the convolution dimensions, but got padding={p}")
    return [p[0], p[0], p[1], p[1]]


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, params):
        stride, padding, dilation, groups = params
        ctx.params = params
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        return Tensor._wrap(_C.conv2d(x._impl, w._impl, None if b is None else b._impl,
                                      stride, padding, dilation, groups))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.params
        x_shape, w_shape = ctx.in_shapes[0], ctx.in_shapes[1]
        gi = g._impl
        unbatched = len(x_shape) == 3
        if unbatched:
            gi = _C.unsqueeze(gi, 0)
        in4 = [1] + list(x_shape) if unbatched else list(x_shape)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            dx = _C.conv2d_backward_input(gi, w._impl, in4, stride, padding, dilation, groups)
            gx = Tensor._wrap(_C.squeeze(dx, [0]) if unbatched else dx)
        if ctx.needs_input_grad[1]:
            xi = _C.unsqueeze(x._impl, 0) if unbatched else x._impl
            gw = Tensor._wrap(_C.conv2d_backward_weight(gi, xi, list(w_shape), stride, padding, dilation,
                                                        groups))
        if ctx.needs_input_grad[2]:
            gb = Tensor._wrap(_C.reduce(_C.ReduceOp.sum, gi, [0, 2, 3], False, False)[0])
        return gx, gw, gb, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """torch.nn.functional.conv2d: input (N, C, H, W) or (C, H, W), weight (OC, C/groups, KH, KW)."""
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"conv2d(): argument '{name}' (position {1 if name == 'input' else 2}) must be "
                            f"Tensor, not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"conv2d(): argument 'bias' must be Tensor, not {type(bias).__name__}")
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"conv2d(): argument 'groups' must be int, not {type(groups).__name__}")
    pad = _padding(padding, stride, dilation, weight)
    return Conv2d.apply(input, weight, bias, (stride, pad, dilation, groups))
