"""RNN, LSTM, GRU and their cells (as torch.nn; parameter names, layouts and init as torch).

Sequences run one autograd node per layer and direction (pydl/ops/rnn.py): the
input projection of all time steps is one GEMM, the time loop calls the fused
cell kernels (csrc/cpu/rnn_cell.cpp) with one h @ W_hh^T GEMM per step.
Packed sequences (torch.nn.utils.rnn.PackedSequence) are not supported, nor
LSTM projections (proj_size > 0).
"""
import math
import numbers
import warnings

from ... import _creation as C
from ... import _dtype as D
from ...ops import rnn as R
from ...ops.shape import cat, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _factory(device, dtype):
    C._check_device(device)
    return {"dtype": D.as_dtype(dtype) or D.float32}


def _reject_packed(input, name):  # noqa: A002
    if type(input).__name__ == "PackedSequence" or hasattr(input, "batch_sizes"):
        raise NotImplementedError(f"{name}: packed sequences (PackedSequence) are not supported by pydl; "
                                  "pass a padded [T, B, *] (or batch_first [B, T, *]) tensor instead")


def _check_size_arg(name, v):
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
    if v <= 0:
        raise ValueError(f"{name} must be greater than zero")


class RNNBase(Module):
    """Shared constructor, parameters and argument checks of RNN / LSTM / GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        kw = _factory(device, dtype)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        _check_size_arg("input_size", input_size)
        _check_size_arg("hidden_size", hidden_size)
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size > 0:
            raise NotImplementedError("LSTM with projections (proj_size > 0) is not implemented in pydl")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = proj_size
        gate = _GATES[mode] * hidden_size
        nd = 2 if self.bidirectional else 1
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(nd):
                lin = input_size if layer == 0 else hidden_size * nd
                sfx = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}"]
                params = [Parameter(C.empty((gate, lin), **kw)), Parameter(C.empty((gate, hidden_size), **kw))]
                if bias:
                    names += [f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
                    params += [Parameter(C.empty((gate,), **kw)), Parameter(C.empty((gate,), **kw))]
                for n, p in zip(names, params):
                    setattr(self, n, p)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """No-op, for code written for torch: pydl never packs the weights into one buffer (cuDNN's
        layout); the sequence ops read each parameter where it is."""

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _layer_params(self, layer, direction):
        sfx = "_reverse" if direction == 1 else ""
        w_ih = getattr(self, f"weight_ih_l{layer}{sfx}")
        w_hh = getattr(self, f"weight_hh_l{layer}{sfx}")
        if self.bias:
            return w_ih, w_hh, getattr(self, f"bias_ih_l{layer}{sfx}"), getattr(self, f"bias_hh_l{layer}{sfx}")
        return w_ih, w_hh, None, None

    # -- argument handling shared by the three forwards (torch's checks and messages) --
    def _check_input(self, input):  # noqa: A002
        w = getattr(self, self._flat_weights_names[0])
        if input.dtype != w.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                             f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        if input.dim() != 3:
            raise RuntimeError(f"input must have 3 dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def _expected_hidden(self, input):  # noqa: A002
        nd = 2 if self.bidirectional else 1
        mb = input.size(0) if self.batch_first else input.size(1)
        return (self.num_layers * nd, mb, self.hidden_size)

    @staticmethod
    def _check_hidden(hx, expected, msg="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def _run(self, x, h0, c0):
        """x [T, B, I] time-major; h0 (c0) [L*D, B, H]. Returns out [T, B, D*H], h_n, c_n."""
        if x.size(0) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        nd = 2 if self.bidirectional else 1
        layer_in = x.contiguous()
        hn, cn = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(nd):
                k = layer * nd + d
                w_ih, w_hh, b_ih, b_hh = self._layer_params(layer, d)
                if self.mode == "LSTM":
                    out, h, c = R.lstm_layer(layer_in, h0[k], c0[k], w_ih, w_hh, b_ih, b_hh, d == 1)
                    cn.append(c)
                elif self.mode == "GRU":
                    out, h = R.gru_layer(layer_in, h0[k], w_ih, w_hh, b_ih, b_hh, d == 1)
                else:
                    out, h = R.rnn_layer(layer_in, h0[k], w_ih, w_hh, b_ih, b_hh, d == 1,
                                         "relu" if self.mode == "RNN_RELU" else "tanh")
                outs.append(out)
                hn.append(h)
            layer_out = outs[0] if nd == 1 else cat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, True)
            layer_in = layer_out
        return layer_in, stack(hn, 0), (stack(cn, 0) if cn else None)

    def _prepare(self, input, name):  # noqa: A002
        _reject_packed(input, name)
        if input.dim() not in (2, 3):
            tail = "D tensor instead" if name == "RNN" else "D instead"  # torch's wording differs
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}{tail}")
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        return input, batched, batch_dim

    def _finish(self, out, batched, batch_dim):
        if self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(batch_dim)
        return out

    def _time_major(self, input):  # noqa: A002
        return input.transpose(0, 1) if self.batch_first else input

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input, hx=None):  # noqa: A002
        return _forward_single_state(self, input, hx, "RNN")

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class GRU(RNNBase):
    """GRU with torch's formulation (the reset gate scales h W_hn^T + b_hn)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):  # noqa: A002
        return _forward_single_state(self, input, hx, "GRU")


def _forward_single_state(m, input, hx, name):  # noqa: A002
    input, batched, batch_dim = m._prepare(input, name)
    if hx is not None:
        if not batched and hx.dim() != 2:
            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
        if batched and hx.dim() != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
        if not batched:
            hx = hx.unsqueeze(1)
    m._check_input(input)
    expected = m._expected_hidden(input)
    if hx is None:
        hx = C.zeros(expected, dtype=input.dtype)
    m._check_hidden(hx, expected)
    out, hn, _ = m._run(m._time_major(input), hx, None)
    out = m._finish(out, batched, batch_dim)
    if not batched:
        hn = hn.squeeze(1)
    return out, hn


class LSTM(RNNBase):
    """LSTM: gates [i | f | g | o] = x W_ih^T + b_ih + h W_hh^T + b_hh; c = f c + i g; h = o tanh(c)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):  # noqa: A002
        input, batched, batch_dim = self._prepare(input, "LSTM")
        self._check_input(input)
        expected = self._expected_hidden(input)
        if hx is None:
            h0 = C.zeros(expected, dtype=input.dtype)
            c0 = C.zeros(expected, dtype=input.dtype)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of tensors")
            h0, c0 = hx
            if batched and (h0.dim() != 3 or c0.dim() != 3):
                raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but got "
                                   f"({h0.dim()}-D, {c0.dim()}-D) tensors")
            if not batched:
                if h0.dim() != 2 or c0.dim() != 2:
                    raise RuntimeError("For unbatched 2-D input, hx and cx should also be 2-D but got "
                                       f"({h0.dim()}-D, {c0.dim()}-D) tensors")
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        self._check_hidden(h0, expected, "Expected hidden[0] size {}, got {}")
        self._check_hidden(c0, expected, "Expected hidden[1] size {}, got {}")
        out, hn, cn = self._run(self._time_major(input), h0, c0)
        out = self._finish(out, batched, batch_dim)
        if not batched:
            hn, cn = hn.squeeze(1), cn.squeeze(1)
        return out, (hn, cn)


# ---------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        kw = _factory(device, dtype)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(C.empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(C.empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(C.empty((num_chunks * hidden_size,), **kw))
            self.bias_hh = Parameter(C.empty((num_chunks * hidden_size,), **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    # torch's at::check_rnn_cell_forward_input / _hidden messages
    def _check_input(self, input):  # noqa: A002
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")

    def _check_hidden(self, input, hx, idx):  # noqa: A002
        if input.size(0) != hx.size(0):
            raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{idx} batch size {hx.size(0)}")
        if hx.size(1) != self.hidden_size:
            raise RuntimeError(f"hidden{idx} has inconsistent hidden_size: got {hx.size(1)}, "
                               f"expected {self.hidden_size}")

    def _gates(self, input, hx):  # noqa: A002
        xg = F.linear(input, self.weight_ih, self.bias_ih)
        hg = F.linear(hx, self.weight_hh, self.bias_hh)
        return xg, hg


def _cell_prepare(cell, name, input, hx_list):  # noqa: A002
    _reject_packed(input, name)
    if input.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    for i, h in hx_list:
        if h is not None and h.dim() not in (1, 2):
            what = "hidden" if i is None else f"hx[{i}]"
            raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.dim()}D instead")
    batched = input.dim() == 2
    if not batched:
        input = input.unsqueeze(0)
    cell._check_input(input)
    return input, batched


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        input, batched = _cell_prepare(self, "RNNCell", input, [(None, hx)])
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        if hx is None:
            hx = C.zeros((input.size(0), self.hidden_size), dtype=input.dtype)
        elif not batched:
            hx = hx.unsqueeze(0)
        self._check_hidden(input, hx, 0)
        h = R.rnn_cell_gates(*self._gates(input, hx), self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        pairs = [] if hx is None else list(enumerate(hx))
        input, batched = _cell_prepare(self, "LSTMCell", input, pairs)
        if hx is None:
            z = C.zeros((input.size(0), self.hidden_size), dtype=input.dtype)
            hx = (z, z)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        self._check_hidden(input, hx[0], 0)
        self._check_hidden(input, hx[1], 1)
        h, c = R.lstm_cell_gates(*self._gates(input, hx[0]), hx[1])
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        input, batched = _cell_prepare(self, "GRUCell", input, [(None, hx)])
        if hx is None:
            hx = C.zeros((input.size(0), self.hidden_size), dtype=input.dtype)
        elif not batched:
            hx = hx.unsqueeze(0)
        self._check_hidden(input, hx, 0)
        h = R.gru_cell_gates(*self._gates(input, hx), hx)
        return h if batched else h.squeeze(0)
