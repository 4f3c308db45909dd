"""ConvTranspose2d (as torch.nn.ConvTranspose2d, with torch's parameter names and default init)."""
import math

from ... import _creation as C
from ... import _dtype as D
from ...ops.conv_transpose import conv_transpose2d
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["ConvTranspose2d"]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution: weight (in_channels, out_channels/groups, kH, kW).

    Initialised as torch: weight ~ kaiming_uniform_(a=sqrt(5)) with fan_in taken from
    weight dim 1 (out_channels/groups·kH·kW), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        C._check_device(device)
        if padding_mode != "zeros":
            raise ValueError('Only "zeros" padding mode is supported for ConvTranspose2d')
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation, self.groups = _pair(output_padding), _pair(dilation), groups
        self.padding_mode = padding_mode
        dt = D.as_dtype(dtype) or D.float32
        self.weight = Parameter(C.empty((in_channels, out_channels // groups) + self.kernel_size, dtype=dt))
        if bias:
            self.bias = Parameter(C.empty((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input, output_size=None):  # noqa: A002
        if output_size is not None:
            raise NotImplementedError("ConvTranspose2d(output_size=...) is not supported; use output_padding")
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
