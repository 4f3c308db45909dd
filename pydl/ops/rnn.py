"""Recurrent layers' differentiable ops: single cells and whole-sequence layers.

Kernels in csrc/cpu/rnn_cell.cpp do the pointwise part of a step (gate
activations, state update) forward and backward in one pass each; every GEMM
runs through the matmul op.

Cells (``lstm_cell_gates``, ``gru_cell_gates``, ``rnn_cell_gates``) take the two
gate projections xg = x @ W_ih^T + b_ih and hg = h @ W_hh^T + b_hh as tensors
with their own autograd (computed with ``linear``), so they compose with
anything.

Sequence layers (``lstm_layer``, ``gru_layer``, ``rnn_layer``) are one autograd
node per layer and direction, for speed: the time loop calls the C++ entry
points on raw tensors, with no graph recorded per step. What that buys:
  - the input projection of all T steps is one GEMM [T*B, I] x [I, G*H]
    before the loop (only h @ W_hh^T stays in the loop);
  - W_hh^T is copied to row-major once per call, not read transposed T times;
  - per step, forward is 2 C++ calls (GEMM, cell) and backward 2-3 (cell
    backward, GEMM, GRU: an add): no Python autograd bookkeeping per step;
  - the weight gradients are one GEMM each over all T steps after the loop:
    dW_ih = dG^T @ X, dW_hh = dG^T @ H_prev, and dX = dG @ W_ih.
The biases are folded once: LSTM / RNN add b_ih + b_hh to the precomputed input
projection; GRU adds b_ih there and hands b_hh to the kernel, because the reset
gate scales the hidden projection including b_hn.
"""
from .. import _C
from ..autograd import Function, is_grad_enabled
from .._tensor import Tensor

_ADD = _C.BinaryOp.add
# _W_HH_T: the per-step GEMM h @ W_hh^T reads W_hh^T, a transposed view; the GEMM runs about
# twice as fast on a row-major copy (measured 32x256 @ 256x1024: ~0.5 ms vs ~0.9 ms), so each
# forward copies W_hh^T once (G*H*H elements) and reuses it for all T steps.
_SUM = _C.ReduceOp.sum


def _w(t):
    return Tensor._wrap(t)


def _imp(t):
    return None if t is None else t._impl


# ---------------------------------------------------------------------------
# Single cells
# ---------------------------------------------------------------------------
class LSTMCellFunction(Function):
    """(xg, hg, c_prev) -> (h, c); xg, hg [B, 4H] gate projections (hg may be None)."""

    @staticmethod
    def forward(ctx, xg, hg, c_prev):
        h, c, acts = _C.lstm_cell(xg._impl, _imp(hg), c_prev._impl, True)
        ctx.acts, ctx.c_prev, ctx.c = acts, c_prev._impl, c
        return _w(h), _w(c)

    @staticmethod
    def backward(ctx, dh, dc):
        dg, dcp = _C.lstm_cell_backward(dh._impl, None, dc._impl, ctx.acts, ctx.c_prev, ctx.c)
        dg = _w(dg)
        return dg, dg if ctx.needs_input_grad[1] else None, _w(dcp)


class GRUCellFunction(Function):
    """(xg, hg, h_prev) -> h; xg [B, 3H] (with b_ih), hg [B, 3H] (with b_hh)."""

    @staticmethod
    def forward(ctx, xg, hg, h_prev):
        h, ws = _C.gru_cell(xg._impl, hg._impl, None, h_prev._impl, True)
        ctx.ws, ctx.h_prev = ws, h_prev._impl
        return _w(h)

    @staticmethod
    def backward(ctx, dh):
        dxg, dhg, dhp = _C.gru_cell_backward(dh._impl, None, ctx.ws, ctx.h_prev)
        return _w(dxg), _w(dhg), _w(dhp)


class RNNCellFunction(Function):
    """(xg, hg) -> act(xg + hg), act tanh or relu (hg may be None)."""

    @staticmethod
    def forward(ctx, xg, hg, relu):
        h = _C.rnn_cell(xg._impl, _imp(hg), relu)
        ctx.h, ctx.relu = h, relu
        return _w(h)

    @staticmethod
    def backward(ctx, dh):
        d = _w(_C.rnn_cell_backward(dh._impl, None, ctx.h, ctx.relu))
        return d, d if ctx.needs_input_grad[1] else None, None


def lstm_cell_gates(xg, hg, c_prev):
    return LSTMCellFunction.apply(xg, hg, c_prev)


def gru_cell_gates(xg, hg, h_prev):
    return GRUCellFunction.apply(xg, hg, h_prev)


def rnn_cell_gates(xg, hg, nonlinearity="tanh"):
    return RNNCellFunction.apply(xg, hg, nonlinearity == "relu")


# ---------------------------------------------------------------------------
# Whole sequences: one node per layer and direction
# ---------------------------------------------------------------------------
def _input_projection(x, w_ih, bias):
    """x [T, B, I] -> x @ W_ih^T (+ bias) as [T, B, G] (one GEMM for all steps)."""
    T, B, I = x.shape
    xg = _C.matmul(_C.reshape(x, [T * B, I]), _C.transpose(w_ih, 0, 1))
    if bias is not None:
        _C.binary_(_ADD, xg, bias)
    return _C.reshape(xg, [T, B, w_ih.shape[0]])


def _stack(parts):
    return _C.cat([_C.unsqueeze(p, 0) for p in parts], 0)


def _h_prev_all(out, h0, reverse):
    """[T, B, H]: the state each step started from (h0 first in processing order)."""
    T = out.shape[0]
    h0u = _C.unsqueeze(h0, 0)
    if T == 1:
        return h0u
    if reverse:
        return _C.cat([_C.slice(out, 0, 1, T, 1), h0u], 0)
    return _C.cat([h0u, _C.slice(out, 0, 0, T - 1, 1)], 0)


def _weight_grads(ctx, dG, x, hprev, w_ih, i_w_ih, i_w_hh, dG_hh=None):
    """dx, dW_ih, dW_hh from the gate gradients of all steps dG [T, B, G]."""
    T, B, G = dG.shape
    dG2 = _C.reshape(dG, [T * B, G])
    dGh2 = dG2 if dG_hh is None else _C.reshape(dG_hh, [T * B, G])
    need = ctx.needs_input_grad
    dx = dwi = dwh = None
    if need[0]:
        dx = _C.reshape(_C.matmul(dG2, w_ih), list(x.shape))
    if need[i_w_ih]:
        dwi = _C.matmul(_C.transpose(dG2, 0, 1), _C.reshape(x, [T * B, x.shape[2]]))
    if need[i_w_hh]:
        dwh = _C.matmul(_C.transpose(dGh2, 0, 1), _C.reshape(hprev, [T * B, hprev.shape[2]]))
    return dx, dwi, dwh, dG2, dGh2


def _bias_sum(g2):
    return _C.reduce(_SUM, g2, [0], False, False)[0]


class LSTMLayerFunction(Function):
    """(x [T, B, I], h0, c0 [B, H], w_ih [4H, I], w_hh [4H, H], b_ih, b_hh, reverse)
    -> (out [T, B, H], h_T, c_T)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, save=True):
        ctx.save_for_backward(x, w_ih, w_hh)
        xi, wi, wh = x._impl, w_ih._impl, w_hh._impl
        T = xi.shape[0]
        bias = None
        if b_ih is not None:
            bias = _C.binary(_ADD, b_ih._impl, b_hh._impl)
        xg = _input_projection(xi, wi, bias)
        whT = _C.contiguous(_C.transpose(wh, 0, 1))  # once per call: see _W_HH_T
        hs, cs, acts = [None] * T, [None] * T, [None] * T
        h, c = h0._impl, c0._impl
        order = range(T - 1, -1, -1) if reverse else range(T)
        for t in order:
            h, c, a = _C.lstm_cell(_C.select(xg, 0, t), _C.matmul(h, whT), c, save)
            hs[t], cs[t], acts[t] = h, c, a
        out = _stack(hs)
        ctx.st = (xi, wi, wh, h0._impl, c0._impl, out, cs, acts, reverse, b_ih is not None)
        return _w(out), _w(h), _w(c)

    @staticmethod
    def backward(ctx, dout, dhT, dcT):
        xi, wi, wh, h0, c0, out, cs, acts, reverse, has_bias = ctx.st
        T = out.shape[0]
        dout = _C.contiguous(dout._impl)
        dh, dc = dhT._impl, dcT._impl
        dG = [None] * T
        order = range(T) if reverse else range(T - 1, -1, -1)
        first = order[-1]  # the step that started from (h0, c0)
        for t in order:
            c_prev = c0 if t == first else cs[t + 1 if reverse else t - 1]
            dg, dc = _C.lstm_cell_backward(_C.select(dout, 0, t), dh, dc, acts[t], c_prev, cs[t])
            dG[t] = dg
            dh = _C.matmul(dg, wh)
        dG = _stack(dG)
        hprev = _h_prev_all(out, h0, reverse)
        dx, dwi, dwh, dG2, _ = _weight_grads(ctx, dG, xi, hprev, wi, 3, 4)
        db = _w(_bias_sum(dG2)) if has_bias else None
        return (_w(dx) if dx is not None else None, _w(dh), _w(dc),
                _w(dwi) if dwi is not None else None, _w(dwh) if dwh is not None else None,
                db, db, None, None)


class GRULayerFunction(Function):
    """(x [T, B, I], h0 [B, H], w_ih [3H, I], w_hh [3H, H], b_ih, b_hh, reverse)
    -> (out [T, B, H], h_T)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, save=True):
        ctx.save_for_backward(x, w_ih, w_hh)
        xi, wi, wh = x._impl, w_ih._impl, w_hh._impl
        T = xi.shape[0]
        xg = _input_projection(xi, wi, _imp(b_ih))
        bhh = _imp(b_hh)
        whT = _C.contiguous(_C.transpose(wh, 0, 1))  # once per call: see _W_HH_T
        hs, wss = [None] * T, [None] * T
        h = h0._impl
        order = range(T - 1, -1, -1) if reverse else range(T)
        for t in order:
            h, ws = _C.gru_cell(_C.select(xg, 0, t), _C.matmul(h, whT), bhh, h, save)
            hs[t], wss[t] = h, ws
        out = _stack(hs)
        ctx.st = (xi, wi, wh, h0._impl, out, wss, reverse, b_ih is not None)
        return _w(out), _w(h)

    @staticmethod
    def backward(ctx, dout, dhT):
        xi, wi, wh, h0, out, wss, reverse, has_bias = ctx.st
        T = out.shape[0]
        dout = _C.contiguous(dout._impl)
        dh = dhT._impl
        dXG, dHG = [None] * T, [None] * T
        order = range(T) if reverse else range(T - 1, -1, -1)
        first = order[-1]
        for t in order:
            h_prev = h0 if t == first else _C.select(out, 0, t + 1 if reverse else t - 1)
            dxg, dhg, dhp = _C.gru_cell_backward(_C.select(dout, 0, t), dh, wss[t], h_prev)
            dXG[t], dHG[t] = dxg, dhg
            dh = _C.matmul(dhg, wh)
            _C.binary_(_ADD, dh, dhp)
        dXG, dHG = _stack(dXG), _stack(dHG)
        hprev = _h_prev_all(out, h0, reverse)
        dx, dwi, dwh, dX2, dH2 = _weight_grads(ctx, dXG, xi, hprev, wi, 2, 3, dG_hh=dHG)
        dbi = _w(_bias_sum(dX2)) if has_bias else None
        dbh = _w(_bias_sum(dH2)) if has_bias else None
        return (_w(dx) if dx is not None else None, _w(dh),
                _w(dwi) if dwi is not None else None, _w(dwh) if dwh is not None else None,
                dbi, dbh, None, None)


class RNNLayerFunction(Function):
    """(x [T, B, I], h0 [B, H], w_ih [H, I], w_hh [H, H], b_ih, b_hh, reverse, relu)
    -> (out [T, B, H], h_T)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, relu):
        ctx.save_for_backward(x, w_ih, w_hh)
        xi, wi, wh = x._impl, w_ih._impl, w_hh._impl
        T = xi.shape[0]
        bias = None
        if b_ih is not None:
            bias = _C.binary(_ADD, b_ih._impl, b_hh._impl)
        xg = _input_projection(xi, wi, bias)
        whT = _C.contiguous(_C.transpose(wh, 0, 1))  # once per call: see _W_HH_T
        hs = [None] * T
        h = h0._impl
        order = range(T - 1, -1, -1) if reverse else range(T)
        for t in order:
            h = _C.rnn_cell(_C.select(xg, 0, t), _C.matmul(h, whT), relu)
            hs[t] = h
        out = _stack(hs)
        ctx.st = (xi, wi, wh, h0._impl, out, reverse, relu, b_ih is not None)
        return _w(out), _w(h)

    @staticmethod
    def backward(ctx, dout, dhT):
        xi, wi, wh, h0, out, reverse, relu, has_bias = ctx.st
        T = out.shape[0]
        dout = _C.contiguous(dout._impl)
        dh = dhT._impl
        dG = [None] * T
        order = range(T) if reverse else range(T - 1, -1, -1)
        for t in order:
            dg = _C.rnn_cell_backward(_C.select(dout, 0, t), dh, _C.select(out, 0, t), relu)
            dG[t] = dg
            dh = _C.matmul(dg, wh)
        dG = _stack(dG)
        hprev = _h_prev_all(out, h0, reverse)
        dx, dwi, dwh, dG2, _ = _weight_grads(ctx, dG, xi, hprev, wi, 2, 3)
        db = _w(_bias_sum(dG2)) if has_bias else None
        return (_w(dx) if dx is not None else None, _w(dh),
                _w(dwi) if dwi is not None else None, _w(dwh) if dwh is not None else None,
                db, db, None, None)


def _will_record(*ts):
    """Whether autograd records this call: otherwise the per-step workspaces are not kept."""
    return is_grad_enabled() and any(t is not None and t.requires_grad for t in ts)


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer in one direction over x [T, B, I]: (out [T, B, H], h_T, c_T)."""
    save = _will_record(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return LSTMLayerFunction.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, save)


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer in one direction over x [T, B, I]: (out [T, B, H], h_T)."""
    save = _will_record(x, h0, w_ih, w_hh, b_ih, b_hh)
    return GRULayerFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, save)


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer in one direction over x [T, B, I]: (out [T, B, H], h_T)."""
    return RNNLayerFunction.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity == "relu")
