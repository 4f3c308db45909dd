"""conv_transpose2d with gradients (torch.nn.functional.conv_transpose2d semantics).

A transposed convolution is the gradient of a convolution with respect to its input, so it
needs no kernel of its own: its forward is conv2d's input-gradient kernel, its input gradient is
a plain conv2d and its weight gradient is conv2d's weight-gradient kernel with the roles of
"input" and "output" swapped. All three run the variants of cpu/conv2d.cpp.

Shapes (groups g): input (N, C_in, H, W), weight (C_in, C_out/g, KH, KW), output (N, C_out, OH, OW)
with OH = (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1.
"""
from .. import _C
from ..autograd import Function
from .._tensor import Tensor
from .conv import _pair


class ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, x, w, params):
        stride, padding, dilation, groups, out_shape = params
        ctx.params = params
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        pad4 = [padding[0], padding[0], padding[1], padding[1]]
        return Tensor._wrap(_C.conv2d_backward_input(x._impl, w._impl, out_shape, stride, pad4, dilation,
                                                     groups))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups, _ = ctx.params
        pad4 = [padding[0], padding[0], padding[1], padding[1]]
        gx = gw = None
        gi = g.contiguous()._impl
        if ctx.needs_input_grad[0]:
            gx = Tensor._wrap(_C.conv2d(gi, w._impl, None, stride, pad4, dilation, groups))
        if ctx.needs_input_grad[1]:
            gw = Tensor._wrap(_C.conv2d_backward_weight(x.contiguous()._impl, gi, list(ctx.in_shapes[1]),
                                                        stride, pad4, dilation, groups))
        return gx, gw, None


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """torch.nn.functional.conv_transpose2d: input (N, C_in, H, W) or (C_in, H, W),
    weight (C_in, C_out/groups, KH, KW)."""
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"conv_transpose2d(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"conv_transpose2d(): argument 'bias' must be Tensor, not {type(bias).__name__}")
    if isinstance(padding, str):
        raise TypeError("conv_transpose2d(): argument 'padding' must be tuple of ints, not str")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"conv_transpose2d(): argument 'groups' must be int, not {type(groups).__name__}")
    for name, v in (("stride", stride), ("padding", padding), ("output_padding", output_padding),
                    ("dilation", dilation)):
        if len(v) != 2:
            raise RuntimeError(f"conv_transpose2d: expected {name} to have 2 values, got {v}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(f"non-positive stride is not supported, got {stride}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, got {dilation}")
    if any(p < 0 for p in padding):
        raise RuntimeError(f"negative padding is not supported, got {padding}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(op < 0 or (op >= s and op >= d) for op, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, got "
                           f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    if weight.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: weight should be 4-D (C_in, C_out/groups, kH, kW), got "
                           f"{weight.ndim}-D weight of size {list(weight.shape)}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input "
                           f"of size: {list(input.shape)}")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError(f"conv_transpose2d: input, weight and bias must share a dtype, got {input.dtype}, "
                           f"{weight.dtype}" + ("" if bias is None else f", {bias.dtype}"))
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    n, c_in, h, w_ = x.shape
    if weight.shape[0] != c_in:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {weight.shape[0]} channels, but got {c_in} channels "
                           f"instead")
    if c_in % groups:
        raise RuntimeError(f"conv_transpose2d: in_channels ({c_in}) must be divisible by groups ({groups})")
    c_out = weight.shape[1] * groups
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (weight.shape[2] - 1) + output_padding[0] + 1
    ow = (w_ - 1) * stride[1] - 2 * padding[1] + dilation[1] * (weight.shape[3] - 1) + output_padding[1] + 1
    if oh <= 0 or ow <= 0:
        raise RuntimeError(f"conv_transpose2d: output size is too small ({oh}x{ow}) for input "
                           f"{list(input.shape)} and weight {list(weight.shape)}")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != c_out):
        raise RuntimeError(f"conv_transpose2d: bias should have shape [{c_out}], got {list(bias.shape)}")
    y = ConvTranspose2d.apply(x.contiguous(), weight.contiguous(),
                              (stride, padding, dilation, groups, [n, c_out, oh, ow]))
    if bias is not None:
        y = y + bias.reshape(1, c_out, 1, 1)
    return y.squeeze(0) if unbatched else y
