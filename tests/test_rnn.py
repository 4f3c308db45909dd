"""Recurrent layers: the fused cell kernels (csrc/cpu/rnn_cell.cpp) against torch-composed formulas,
float64 finite differences of the cells and sequence layers, and RNN / LSTM / GRU (+ cells) modules
against torch.nn with weights copied through state_dict: outputs, final states, every parameter
gradient and the input / hx gradients. Errors as torch raises them."""
import copy

import numpy as np
import pytest
import torch

import pydl
from harness import ISAS, check_error, compare, fd_gradcheck, on_isa, rng_for, to_numpy

from pydl.ops import rnn as R  # noqa: E402

C = pydl._C
CELL_SHAPES = [(1, 1), (7, 33), (33, 7), (65, 65), (1, 65), (2, 127)]  # (B, H)
TOL = {"float32": dict(rtol=1.3e-6, atol=1e-5), "float64": dict(rtol=1e-7, atol=1e-7)}


@pytest.fixture(autouse=True, scope="module")
def _torch_single_thread():
    """torch is only the reference here: on a loaded machine its OpenMP threads spin for
    milliseconds per tiny op (50x slower); pydl keeps its threads, so its parallel paths run."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _np(rng, shape, dtype, scale=2.0):
    return rng.uniform(-scale, scale, size=shape).astype(dtype)


def _pt(a, rg=False):
    return pydl.tensor(a, requires_grad=rg)


def _tt(a, rg=False):
    return torch.tensor(a, requires_grad=rg)


def _close(what, got, want, dtype):
    compare(what, pydl.Tensor._wrap(got) if not isinstance(got, pydl.Tensor) else got, want.detach(),
            **TOL[dtype])


# ---------------------------------------------------------------------------------------------
# kernels vs torch-composed formulas (forward, saved workspace, backward), every ISA, both variants
# ---------------------------------------------------------------------------------------------
def _torch_lstm(xg, hg, c_prev):
    gates = xg + hg if hg is not None else xg
    i, f, g, o = gates.chunk(4, 1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c_prev + i * g
    return o * torch.tanh(c), c, torch.cat([i, f, g, o], 1)


def _torch_gru(xg, hg, bhh, h_prev):
    hh = hg if hg is not None else torch.zeros_like(xg)
    if bhh is not None:
        hh = hh + bhh
    xr, xz, xn = xg.chunk(3, 1)
    hr, hz, hn = hh.chunk(3, 1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h_prev, torch.cat([r, z, n, hn], 1)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
@pytest.mark.parametrize("with_hg", [True, False], ids=["hg", "no_hg"])
def test_lstm_cell_kernel(isa, dtype, reference, with_hg):
    for B, H in CELL_SHAPES:
        rng = rng_for("lstm_k", B, H, dtype, with_hg)
        xg, hg = _np(rng, (B, 4 * H), dtype, 4), _np(rng, (B, 4 * H), dtype, 4)
        cp, dh, dh2, dc = (_np(rng, (B, H), dtype) for _ in range(4))
        txg, thg, tcp = _tt(xg, True), _tt(hg, True) if with_hg else None, _tt(cp, True)
        th, tc, tacts = _torch_lstm(txg, thg, tcp)
        with on_isa(isa):
            h, c, acts = C.lstm_cell(_pt(xg)._impl, _pt(hg)._impl if with_hg else None, _pt(cp)._impl, True,
                                     reference)
            dg, dcp = C.lstm_cell_backward(_pt(dh)._impl, _pt(dh2)._impl, _pt(dc)._impl, acts, _pt(cp)._impl, c,
                                           reference)
            # absent upstream gradients are zeros
            dg0, dcp0 = C.lstm_cell_backward(None, _pt(dh)._impl, None, acts, _pt(cp)._impl, c, reference)
        tag = f"lstm B={B} H={H}"
        _close(f"{tag} h", h, th, dtype)
        _close(f"{tag} c", c, tc, dtype)
        _close(f"{tag} acts", acts, tacts, dtype)
        torch.autograd.backward([th, tc], [_tt(dh + dh2), _tt(dc)])
        _close(f"{tag} dgates", dg, txg.grad, dtype)
        _close(f"{tag} dc_prev", dcp, tcp.grad, dtype)
        if with_hg:
            _close(f"{tag} dgates(hg)", dg, thg.grad, dtype)
        txg.grad = None
        tcp.grad = None
        th, tc, _ = _torch_lstm(txg, thg, tcp)
        th.backward(_tt(dh))
        _close(f"{tag} dgates(dh only)", dg0, txg.grad, dtype)
        _close(f"{tag} dc_prev(dh only)", dcp0, tcp.grad, dtype)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
@pytest.mark.parametrize("with_hg,with_b", [(True, True), (True, False), (False, True), (False, False)],
                         ids=["hg_b", "hg", "b", "none"])
def test_gru_cell_kernel(isa, dtype, reference, with_hg, with_b):
    for B, H in CELL_SHAPES:
        rng = rng_for("gru_k", B, H, dtype, with_hg, with_b)
        xg, hg, b = _np(rng, (B, 3 * H), dtype, 4), _np(rng, (B, 3 * H), dtype, 4), _np(rng, (3 * H,), dtype)
        hp, dh, dh2 = (_np(rng, (B, H), dtype) for _ in range(3))
        txg, thp = _tt(xg, True), _tt(hp, True)
        thg = _tt(hg, True) if with_hg else None
        tb = _tt(b, True) if with_b else None
        th, tws = _torch_gru(txg, thg, tb, thp)
        with on_isa(isa):
            h, ws = C.gru_cell(_pt(xg)._impl, _pt(hg)._impl if with_hg else None,
                               _pt(b)._impl if with_b else None, _pt(hp)._impl, True, reference)
            dxg, dhg, dhp = C.gru_cell_backward(_pt(dh)._impl, _pt(dh2)._impl, ws, _pt(hp)._impl, reference)
        tag = f"gru B={B} H={H}"
        _close(f"{tag} h", h, th, dtype)
        _close(f"{tag} ws", ws, tws, dtype)
        th.backward(_tt(dh + dh2))
        _close(f"{tag} dxg", dxg, txg.grad, dtype)
        _close(f"{tag} dh_prev (direct part)", dhp, thp.grad, dtype)
        if with_hg:
            _close(f"{tag} dhg", dhg, thg.grad, dtype)
        if with_b:  # the hidden bias gets dhg summed over the batch
            _close(f"{tag} dbhh", pydl.Tensor._wrap(dhg).sum(0), tb.grad, dtype)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
@pytest.mark.parametrize("relu", [False, True], ids=["tanh", "relu"])
def test_rnn_cell_kernel(isa, dtype, reference, relu):
    act = torch.relu if relu else torch.tanh
    for B, H in CELL_SHAPES:
        rng = rng_for("rnn_k", B, H, dtype, relu)
        xg, hg, dh, dh2 = (_np(rng, (B, H), dtype) for _ in range(4))
        txg, thg = _tt(xg, True), _tt(hg, True)
        th = act(txg + thg)
        with on_isa(isa):
            h = C.rnn_cell(_pt(xg)._impl, _pt(hg)._impl, relu, reference)
            h1 = C.rnn_cell(_pt(xg)._impl, None, relu, reference)
            d = C.rnn_cell_backward(_pt(dh)._impl, _pt(dh2)._impl, h, relu, reference)
            d1 = C.rnn_cell_backward(None, _pt(dh2)._impl, h, relu, reference)
            d0 = C.rnn_cell_backward(None, None, h, relu, reference)
        _close(f"rnn B={B} H={H} h", h, th, dtype)
        _close(f"rnn B={B} H={H} h (no hg)", h1, act(txg), dtype)
        th.backward(_tt(dh + dh2))
        _close(f"rnn B={B} H={H} dpre", d, txg.grad, dtype)
        txg.grad = None
        act(txg + thg).backward(_tt(dh2))
        _close(f"rnn B={B} H={H} dpre (dh2 only)", d1, txg.grad, dtype)
        assert not np.any(to_numpy(pydl.Tensor._wrap(d0)))


@pytest.mark.parametrize("isa", ISAS)
def test_cell_kernels_large_magnitudes_and_noncontiguous(isa):
    """Saturated gates (|pre-activation| up to 1e3) stay finite and exact; views are accepted."""
    B, H = 5, 33
    rng = rng_for("lstm_big")
    xg = rng.uniform(-1e3, 1e3, size=(4 * H, B)).astype(np.float32)  # pass its transpose: a strided view
    cp = rng.uniform(-50, 50, size=(B, H)).astype(np.float32)
    dh, dc = _np(rng, (B, H), "float32"), _np(rng, (B, H), "float32")
    txg, tcp = _tt(xg.T.copy(), True), _tt(cp, True)
    th, tc, _ = _torch_lstm(txg, None, tcp)
    with on_isa(isa):
        h, c, acts = C.lstm_cell(_pt(xg).T._impl, None, _pt(cp)._impl, True, False)
        dg, dcp = C.lstm_cell_backward(_pt(dh)._impl, None, _pt(dc)._impl, acts, _pt(cp)._impl, c, False)
        gh, gws = C.gru_cell(_pt(xg[: 3 * H]).T._impl, None, None, _pt(cp)._impl, True, False)
    assert np.all(np.isfinite(to_numpy(pydl.Tensor._wrap(h))))
    _close("lstm big h", h, th, "float32")
    _close("lstm big c", c, tc, "float32")
    torch.autograd.backward([th, tc], [_tt(dh), _tt(dc)])
    _close("lstm big dgates", dg, txg.grad, "float32")
    _close("lstm big dc_prev", dcp, tcp.grad, "float32")
    tgh, _ = _torch_gru(torch.tensor(xg[: 3 * H].T.copy()), None, None, torch.tensor(cp))
    _close("gru big h", gh, tgh, "float32")


def test_cell_kernels_empty_batch():
    for dtype in ("float32", "float64"):
        e4, e1 = _pt(np.zeros((0, 8), dtype)), _pt(np.zeros((0, 2), dtype))
        h, c, a = C.lstm_cell(e4._impl, None, e1._impl, True, False)
        assert tuple(h.shape) == (0, 2) and tuple(a.shape) == (0, 8)
        dg, dcp = C.lstm_cell_backward(e1._impl, None, None, a, e1._impl, c, False)
        assert tuple(dg.shape) == (0, 8) and tuple(dcp.shape) == (0, 2)
        h, ws = C.gru_cell(_pt(np.zeros((0, 6), dtype))._impl, None, None, e1._impl, True, False)
        assert tuple(h.shape) == (0, 2) and tuple(ws.shape) == (0, 8)


# ---------------------------------------------------------------------------------------------
# float64 finite differences: cells (Function level) and whole sequence layers (with weights)
# ---------------------------------------------------------------------------------------------
def test_gradcheck_cells():
    B, H = 3, 2
    fd_gradcheck("lstm_cell", lambda xg, hg, c: R.lstm_cell_gates(xg, hg, c)[0] + 2 * R.lstm_cell_gates(xg, hg, c)[1],
                 shapes=[(B, 4 * H), (B, 4 * H), (B, H)])
    fd_gradcheck("gru_cell", R.gru_cell_gates, shapes=[(B, 3 * H), (B, 3 * H), (B, H)])
    fd_gradcheck("rnn_tanh_cell", lambda a, b: R.rnn_cell_gates(a, b, "tanh"), shapes=[(B, H), (B, H)])
    fd_gradcheck("rnn_relu_cell", lambda a, b: R.rnn_cell_gates(a, b, "relu"), shapes=[(B, H), (B, H)],
                 low=0.1, high=2.0)  # away from relu's kink at 0


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradcheck_sequence_layers(reverse):
    T, B, I, H = 3, 2, 3, 2

    def lstm(x, h0, c0, wi, wh, bi, bh):
        out, h, c = R.lstm_layer(x, h0, c0, wi, wh, bi, bh, reverse)
        return out.sum(2) * 0.5 + h.sum() + 0.3 * c.sum()  # every output reaches the loss

    def gru(x, h0, wi, wh, bi, bh):
        out, h = R.gru_layer(x, h0, wi, wh, bi, bh, reverse)
        return out.sum(2) + 0.7 * h.sum()

    def rnn(x, h0, wi, wh, bi, bh):
        out, h = R.rnn_layer(x, h0, wi, wh, bi, bh, reverse, "tanh")
        return out.sum(2) + 0.7 * h.sum()

    fd_gradcheck(f"lstm_layer_{reverse}", lstm, shapes=[(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H),
                                                         (4 * H,), (4 * H,)], low=-1, high=1)
    fd_gradcheck(f"gru_layer_{reverse}", gru, shapes=[(T, B, I), (B, H), (3 * H, I), (3 * H, H), (3 * H,),
                                                       (3 * H,)], low=-1, high=1)
    fd_gradcheck(f"rnn_layer_{reverse}", rnn, shapes=[(T, B, I), (B, H), (H, I), (H, H), (H,), (H,)],
                 low=-1, high=1)


# ---------------------------------------------------------------------------------------------
# modules vs torch.nn, weights copied through state_dict
# ---------------------------------------------------------------------------------------------
def _pair(kind, dtype, *args, **kw):
    torch.manual_seed(0)
    tcls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNNCell": torch.nn.RNNCell,
            "LSTMCell": torch.nn.LSTMCell, "GRUCell": torch.nn.GRUCell}[kind]
    pcls = getattr(pydl.nn, kind)
    tm = tcls(*args, **kw).to(getattr(torch, dtype))
    pm = pcls(*args, **kw, dtype=getattr(pydl, dtype))
    sd = {k: pydl.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    assert sorted(sd) == sorted(pm.state_dict()), (sorted(sd), sorted(pm.state_dict()))
    pm.load_state_dict(sd)
    return pm, tm


def _flat(out):
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r += _flat(o)
        return r
    return [out]


def _run_both(pm, tm, x, hx, dtype, seed):
    """Forward both; backward sum(out_k * g_k) over every output; returns (pydl, torch) results and
    gradients of input, hx and every parameter (by name)."""
    px = pydl.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    if hx is None:
        ph = th = None
        phl = thl = []
    elif isinstance(hx, tuple):
        phl = [pydl.tensor(h, requires_grad=True) for h in hx]
        thl = [torch.tensor(h, requires_grad=True) for h in hx]
        ph, th = tuple(phl), tuple(thl)
    else:
        ph, th = pydl.tensor(hx, requires_grad=True), torch.tensor(hx, requires_grad=True)
        phl, thl = [ph], [th]
    pout, tout = pm(px, ph), tm(tx, th)
    rng = rng_for("upstream", seed)
    pl, tl = _flat(pout), _flat(tout)
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in tl]
    pydl.autograd.backward(pl, [pydl.tensor(g) for g in gs])
    torch.autograd.backward(tl, [torch.tensor(g) for g in gs])
    pg = {"input": px.grad, **{f"hx{i}": h.grad for i, h in enumerate(phl)},
          **{n: p.grad for n, p in pm.named_parameters()}}
    tg = {"input": tx.grad, **{f"hx{i}": h.grad for i, h in enumerate(thl)},
          **{n: (None if p.grad is None else p.grad.clone()) for n, p in tm.named_parameters()}}
    return pout, tout, pg, tg


def _compare_runs(tag, dtype, pout, tout, pg, tg, tout64=None, tg64=None):
    """float64: torch's own float64 tolerance. float32: each value within 4x torch's own float32 error
    against a float64 torch run (+ float32 default atol): a T-step recurrence compounds GEMM and
    transcendental rounding, so the error bound comes from the float64 reference, not a fixed rtol."""
    if dtype == "float64":
        compare(f"{tag} outputs", pout, tout, **TOL["float64"])
        for k in tg:
            assert (pg[k] is None) == (tg[k] is None), f"{tag} grad {k}: presence differs"
            if tg[k] is not None:
                compare(f"{tag} grad {k}", pg[k], tg[k], **TOL["float64"])
        return
    pairs = [(f"out{i}", p, t, t64) for i, (p, t, t64) in enumerate(zip(_flat(pout), _flat(tout), _flat(tout64)))]
    for k in tg:
        assert (pg[k] is None) == (tg[k] is None), f"{tag} grad {k}: presence differs"
        if tg[k] is not None:
            pairs.append((f"grad {k}", pg[k], tg[k], tg64[k]))
    for name, p, t, t64 in pairs:
        assert tuple(p.shape) == tuple(t.shape), f"{tag} {name}: shape {tuple(p.shape)} != {tuple(t.shape)}"
        ref = t64.detach().numpy()
        terr = np.abs(t.detach().numpy().astype(np.float64) - ref)
        perr = np.abs(to_numpy(p).astype(np.float64) - ref)
        bound = 4 * terr.max(initial=0.0) + 1e-5 + 1.3e-6 * np.abs(ref)
        assert np.all(perr <= bound), (f"{tag} {name}: max |pydl - torch64| = {perr.max():.3g}, torch float32's "
                                       f"own error {terr.max():.3g}")


def _module_case(kind, dtype, ctor, T=5, B=3, batched=True, hx_kind="zero", seed=0, **kw):
    I, H = ctor[0], ctor[1]
    nd = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    rng = rng_for(kind, dtype, ctor, T, B, batched, hx_kind, tuple(sorted(kw.items())))
    bf = kw.get("batch_first", False)
    xshape = ((B, T, I) if bf else (T, B, I)) if batched else (T, I)
    x = rng.uniform(-1, 1, size=xshape).astype(dtype)
    hshape = (L * nd, B, H) if batched else (L * nd, H)
    hx = None
    if hx_kind == "given":
        hx = rng.uniform(-1, 1, size=hshape).astype(dtype)
        if kind == "LSTM":
            hx = (hx, rng.uniform(-1, 1, size=hshape).astype(dtype))
    pm, tm = _pair(kind, dtype, *ctor, **kw)
    pout, tout, pg, tg = _run_both(pm, tm, x, hx, dtype, seed)
    tag = f"{kind} {dtype} {ctor} {kw} T={T} B={B} batched={batched} hx={hx_kind}"
    if dtype == "float64":
        _compare_runs(tag, dtype, pout, tout, pg, tg)
    else:
        tout64, tg64 = _torch_only(_double(tm), x.astype(np.float64), _hx64(hx), _gs(tout, seed))
        _compare_runs(tag, dtype, pout, tout, pg, tg, tout64, tg64)
    # the result shapes are torch's
    for p, t in zip(_flat(pout), _flat(tout)):
        assert tuple(p.shape) == tuple(t.shape)


def _double(tm):
    """A float64 copy of a torch module, without its gradients."""
    m = copy.deepcopy(tm)
    m.zero_grad(set_to_none=True)
    return m.double()


def _hx64(hx):
    if hx is None:
        return None
    return tuple(h.astype(np.float64) for h in hx) if isinstance(hx, tuple) else hx.astype(np.float64)


def _gs(tout, seed):
    rng = rng_for("upstream", seed)
    return [rng.standard_normal(tuple(t.shape)) for t in _flat(tout)]


def _torch_only(tm, x, hx, gs):
    tx = torch.tensor(x, requires_grad=True)
    if hx is None:
        th, thl = None, []
    elif isinstance(hx, tuple):
        thl = [torch.tensor(h, requires_grad=True) for h in hx]
        th = tuple(thl)
    else:
        th = torch.tensor(hx, requires_grad=True)
        thl = [th]
    tout = tm(tx, th)
    torch.autograd.backward(_flat(tout), [torch.tensor(g) for g in gs])
    tg = {"input": tx.grad, **{f"hx{i}": h.grad for i, h in enumerate(thl)},
          **{n: p.grad for n, p in tm.named_parameters()}}
    return tout, tg


SEQ_CONFIGS = [
    # (ctor (input_size, hidden_size), kwargs, T, B, batched, hx)
    ((7, 33), {}, 5, 3, True, "zero"),
    ((7, 33), {}, 5, 3, True, "given"),
    ((33, 7), {"num_layers": 2}, 4, 1, True, "given"),
    ((5, 7), {"num_layers": 3, "bidirectional": True}, 4, 2, True, "given"),
    ((5, 7), {"bidirectional": True, "batch_first": True}, 6, 3, True, "zero"),
    ((5, 65), {"batch_first": True, "num_layers": 2}, 3, 2, True, "given"),
    ((5, 7), {"bias": False, "num_layers": 2, "bidirectional": True}, 3, 2, True, "given"),
    ((5, 7), {}, 1, 7, True, "given"),                       # T = 1
    ((5, 7), {"num_layers": 2}, 4, 1, False, "given"),       # unbatched
    ((5, 7), {"bidirectional": True, "batch_first": True}, 4, 1, False, "zero"),  # unbatched, batch_first
]
SEQ_KINDS = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", SEQ_KINDS, ids=lambda k: k[0] + ("_relu" if k[1] else ""))
@pytest.mark.parametrize("cfg", SEQ_CONFIGS, ids=lambda c: f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[1].items())}"
                         f"-T{c[2]}B{c[3]}-{'b' if c[4] else 'u'}-{c[5]}")
def test_sequence_modules(kind, cfg, dtype):
    (ctor, kw, T, B, batched, hx) = cfg
    name, extra = kind
    _module_case(name, dtype, ctor, T=T, B=B, batched=batched, hx_kind=hx, **kw, **extra)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_sequence_noncontiguous_views(kind):
    """Input and hx given as strided views (transposed / sliced), float64: same results and gradients."""
    pm, tm = _pair(kind, "float64", 5, 7, num_layers=2, bidirectional=True)
    rng = rng_for("noncontig", kind)
    xb = rng.uniform(-1, 1, size=(3, 4, 10))          # x = xb.transpose(0, 1)[..., ::2]: [4, 3, 5]
    hb = rng.uniform(-1, 1, size=(3, 4, 7))           # h = hb.transpose(0, 1): [4, 3, 7]
    cb = rng.uniform(-1, 1, size=(3, 4, 7))
    pxb, txb = pydl.tensor(xb, requires_grad=True), torch.tensor(xb, requires_grad=True)
    phb, thb = pydl.tensor(hb, requires_grad=True), torch.tensor(hb, requires_grad=True)
    pcb, tcb = pydl.tensor(cb, requires_grad=True), torch.tensor(cb, requires_grad=True)
    px, tx = pxb.transpose(0, 1)[..., ::2], txb.transpose(0, 1)[..., ::2]
    assert not px.is_contiguous()
    ph, th = phb.transpose(0, 1), thb.transpose(0, 1)
    if kind == "LSTM":
        ph, th = (ph, pcb.transpose(0, 1)), (th, tcb.transpose(0, 1))
    pout, tout = pm(px, ph), tm(tx, th)
    compare(f"{kind} noncontig outputs", pout, tout, **TOL["float64"])
    gs = _gs(tout, 7)
    pydl.autograd.backward(_flat(pout), [pydl.tensor(g) for g in gs])
    torch.autograd.backward(_flat(tout), [torch.tensor(g) for g in gs])
    for name, a, b in [("x", pxb, txb), ("h", phb, thb)] + ([("c", pcb, tcb)] if kind == "LSTM" else []):
        compare(f"{kind} noncontig grad {name}", a.grad, b.grad, **TOL["float64"])
    for (n, p), (_, q) in zip(pm.named_parameters(), tm.named_parameters()):
        compare(f"{kind} noncontig grad {n}", p.grad, q.grad, **TOL["float64"])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_no_grad_inference_path(kind):
    """Under no_grad nothing is saved per step (save=False kernels); results are torch's."""
    pm, tm = _pair(kind, "float32", 6, 33, num_layers=2, bidirectional=True)
    x = rng_for("nograd", kind).uniform(-1, 1, size=(5, 7, 6)).astype(np.float32)
    with pydl.no_grad():
        out = pm(pydl.tensor(x))
    assert not out[0].requires_grad
    with torch.no_grad():
        tout = tm(torch.tensor(x))
    compare(f"{kind} no_grad", out, tout, rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_sequence_empty_batch(kind):
    pm, tm = _pair(kind, "float32", 4, 5, num_layers=2)
    out, hid = pm(pydl.zeros((3, 0, 4)))
    tout, thid = tm(torch.zeros(3, 0, 4))
    assert tuple(out.shape) == tuple(tout.shape)
    for p, t in zip(_flat(hid), _flat(thid)):
        assert tuple(p.shape) == tuple(t.shape)


CELL_CONFIGS = [((7, 33), 5, True, "given"), ((7, 33), 5, True, "zero"), ((33, 7), 1, True, "given"),
                ((5, 65), 1, False, "given"), ((5, 7), 1, False, "zero"), ((5, 7, False), 4, True, "given")]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                  ("GRUCell", {})], ids=lambda k: k[0] + ("_relu" if k[1] else ""))
@pytest.mark.parametrize("cfg", CELL_CONFIGS, ids=lambda c: f"{c[0]}-B{c[1]}-{'b' if c[2] else 'u'}-{c[3]}")
def test_cell_modules(kind, cfg, dtype):
    ctor, B, batched, hx_kind = cfg
    name, extra = kind
    I, H = ctor[0], ctor[1]
    rng = rng_for(name, dtype, cfg, tuple(extra.items()))
    x = rng.uniform(-1, 1, size=(B, I) if batched else (I,)).astype(dtype)
    hx = None
    if hx_kind == "given":
        hs = (B, H) if batched else (H,)
        hx = rng.uniform(-1, 1, size=hs).astype(dtype)
        if name == "LSTMCell":
            hx = (hx, rng.uniform(-1, 1, size=hs).astype(dtype))
    pm, tm = _pair(name, dtype, *ctor, **extra)
    pout, tout, pg, tg = _run_both(pm, tm, x, hx, dtype, 1)
    tag = f"{name} {dtype} {cfg}"
    if dtype == "float64":
        _compare_runs(tag, dtype, pout, tout, pg, tg)
    else:
        tout64, tg64 = _torch_only(_double(tm), x.astype(np.float64), _hx64(hx), _gs(tout, 1))
        _compare_runs(tag, dtype, pout, tout, pg, tg, tout64, tg64)



def test_parameter_names_shapes_and_init():
    for kind, gates in (("LSTM", 4), ("GRU", 3), ("RNN", 1)):
        m = getattr(pydl.nn, kind)(5, 8, num_layers=2, bidirectional=True)
        t = getattr(torch.nn, kind)(5, 8, num_layers=2, bidirectional=True)
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
        for (n, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
            assert tuple(p.shape) == tuple(q.shape), n
            a = to_numpy(p)
            assert np.all(np.abs(a) <= 1 / np.sqrt(8)) and a.std() > 0.05, n  # U(-1/sqrt(H), 1/sqrt(H))
        assert tuple(m.weight_ih_l1_reverse.shape) == (gates * 8, 16)
    c = pydl.nn.LSTMCell(3, 4, bias=False)
    assert [n for n, _ in c.named_parameters()] == ["weight_ih", "weight_hh"]
    assert "LSTM(5, 8, num_layers=2, bidirectional=True)" in repr(pydl.nn.LSTM(5, 8, 2, bidirectional=True))


def test_dropout_between_layers():
    """dropout > 0: train mode is stochastic (seeded), eval mode is deterministic and equals torch's."""
    pm, tm = _pair("LSTM", "float32", 6, 9, num_layers=2, dropout=0.5)
    x = rng_for("dropout").uniform(-1, 1, size=(5, 3, 6)).astype(np.float32)
    pm.train()
    pydl.manual_seed(1)
    a = to_numpy(pm(pydl.tensor(x))[0])
    b = to_numpy(pm(pydl.tensor(x))[0])
    pydl.manual_seed(1)
    a2 = to_numpy(pm(pydl.tensor(x))[0])
    assert not np.allclose(a, b), "train-mode dropout between layers should change the output"
    np.testing.assert_array_equal(a, a2)
    pm.eval()
    tm.eval()
    e1 = pm(pydl.tensor(x))
    e2 = pm(pydl.tensor(x))
    np.testing.assert_array_equal(to_numpy(e1[0]), to_numpy(e2[0]))
    compare("eval LSTM dropout", e1, tm(torch.tensor(x)), rtol=1.3e-6, atol=1e-5)
    # the last layer's output is never dropped: with one layer, train == eval (and torch warns)
    with pytest.warns(UserWarning):
        one = pydl.nn.GRU(6, 9, dropout=0.5)
    one.train()
    np.testing.assert_array_equal(to_numpy(one(pydl.tensor(x))[0]), to_numpy(one.eval()(pydl.tensor(x))[0]))


def test_gradient_flows_through_dropout_train_mode():
    pm = pydl.nn.GRU(4, 5, num_layers=2, dropout=0.3)
    x = pydl.tensor(rng_for("dg").uniform(-1, 1, size=(3, 2, 4)).astype(np.float32), requires_grad=True)
    out, h = pm(x)
    (out.sum() + h.sum()).backward()
    assert x.grad is not None and np.all(np.isfinite(to_numpy(x.grad)))
    assert all(p.grad is not None for p in pm.parameters())


# ---------------------------------------------------------------------------------------------
# errors: torch's types and messages
# ---------------------------------------------------------------------------------------------
def _both(kind, *a, **k):
    return getattr(pydl.nn, kind)(*a, **k), getattr(torch.nn, kind)(*a, **k)


def _err_rows():
    z = np.zeros
    f = np.float32
    rows = [
        # (name, kind, ctor args, ctor kw, input, hx, exc, match)
        ("input_size", "LSTM", (4, 5), {}, z((3, 2, 6), f), None, RuntimeError,
         r"input.size\(-1\) must be equal to input_size. Expected 4, got 6"),
        ("rank4", "LSTM", (4, 5), {}, z((3, 2, 2, 4), f), None, ValueError, "LSTM: Expected input to be 2D or 3D, got 4D instead"),
        ("rank1", "GRU", (4, 5), {}, z((4,), f), None, ValueError, "GRU: Expected input to be 2D or 3D, got 1D instead"),
        ("rank4_rnn", "RNN", (4, 5), {}, z((1, 3, 2, 4), f), None, ValueError,
         "RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
        ("hx_shape", "GRU", (4, 5, 2), {}, z((3, 2, 4), f), z((2, 3, 5), f), RuntimeError,
         r"Expected hidden size \(2, 2, 5\), got \[2, 3, 5\]"),
        ("hx_rank_batched", "RNN", (4, 5), {}, z((3, 2, 4), f), z((2, 5), f), RuntimeError,
         "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
        ("hx_rank_unbatched", "GRU", (4, 5), {}, z((3, 4), f), z((1, 1, 5), f), RuntimeError,
         "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
        ("lstm_h_shape", "LSTM", (4, 5, 2), {}, z((3, 2, 4), f), (z((4, 2, 5), f), z((2, 2, 5), f)), RuntimeError,
         r"Expected hidden\[0\] size \(2, 2, 5\), got \[4, 2, 5\]"),
        ("lstm_c_shape", "LSTM", (4, 5, 2), {}, z((3, 2, 4), f), (z((2, 2, 5), f), z((2, 2, 6), f)), RuntimeError,
         r"Expected hidden\[1\] size \(2, 2, 5\), got \[2, 2, 6\]"),
        ("lstm_hx_rank", "LSTM", (4, 5), {}, z((3, 2, 4), f), (z((2, 5), f), z((2, 5), f)), RuntimeError,
         "hx and cx should also be 3-D"),
        ("bidir_hx", "LSTM", (4, 5), {"bidirectional": True}, z((3, 2, 4), f), (z((1, 2, 5), f), z((1, 2, 5), f)),
         RuntimeError, r"Expected hidden\[0\] size \(2, 2, 5\)"),
        ("batch_first_hx", "GRU", (4, 5), {"batch_first": True}, z((2, 3, 4), f), z((1, 3, 5), f), RuntimeError,
         r"Expected hidden size \(1, 2, 5\), got \[1, 3, 5\]"),
        ("empty_seq", "LSTM", (4, 5), {}, z((0, 2, 4), f), None, RuntimeError,
         "Expected sequence length to be larger than 0"),
        ("dtype", "GRU", (4, 5), {}, z((3, 2, 4), np.float64), None, ValueError,
         r"RNN input dtype .* does not match weight dtype"),
        ("cell_input_size", "LSTMCell", (4, 5), {}, z((3, 6), f), None, RuntimeError,
         "input has inconsistent input_size: got 6 expected 4"),
        ("cell_batch", "GRUCell", (4, 5), {}, z((3, 4), f), z((2, 5), f), RuntimeError,
         "Input batch size 3 doesn't match hidden0 batch size 2"),
        ("cell_hidden", "LSTMCell", (4, 5), {}, z((3, 4), f), (z((3, 5), f), z((3, 6), f)), RuntimeError,
         "hidden1 has inconsistent hidden_size: got 6, expected 5"),
        ("cell_rank", "RNNCell", (4, 5), {}, z((3, 4, 1), f), None, ValueError,
         "RNNCell: Expected input to be 1D or 2D, got 3D instead"),
        ("cell_hx_rank", "GRUCell", (4, 5), {}, z((3, 4), f), z((1, 3, 5), f), ValueError,
         "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
    ]
    return rows


@pytest.mark.parametrize("row", _err_rows(), ids=lambda r: r[0])
def test_module_errors(row):
    name, kind, args, kw, x, hx, exc, match = row
    pm, tm = _both(kind, *args, **kw)

    def conv(lib, v):
        if v is None:
            return None
        if isinstance(v, tuple):
            return tuple(lib.tensor(a) for a in v)
        return lib.tensor(v)

    check_error(lambda: pm(conv(pydl, x), conv(pydl, hx)), exc, match=match,
                torch_fn=lambda: tm(conv(torch, x), conv(torch, hx)))


def test_constructor_errors():
    for kw, exc, match in [({"dropout": 1.5}, ValueError, "dropout should be a number in range"),
                           ({"bias": 1}, TypeError, "bias should be of type bool"),
                           ({"batch_first": "yes"}, TypeError, "batch_first should be of type bool"),
                           ({"num_layers": 0}, ValueError, "num_layers must be greater than zero"),
                           ({"proj_size": 5}, ValueError, "proj_size has to be smaller than hidden_size")]:
        check_error(lambda: pydl.nn.LSTM(4, 5, **kw), exc, match=match, torch_fn=lambda: torch.nn.LSTM(4, 5, **kw))
    check_error(lambda: pydl.nn.LSTM(0, 5), ValueError, "input_size must be greater than zero",
                torch_fn=lambda: torch.nn.LSTM(0, 5))
    check_error(lambda: pydl.nn.GRU(4, 5, proj_size=2), ValueError, "proj_size argument is only supported for LSTM",
                torch_fn=lambda: torch.nn.GRU(4, 5, proj_size=2))
    check_error(lambda: pydl.nn.RNN(4, 5, nonlinearity="gelu"), ValueError, "Unknown nonlinearity 'gelu'",
                torch_fn=lambda: torch.nn.RNN(4, 5, nonlinearity="gelu"))
    # out of scope, said so
    check_error(lambda: pydl.nn.LSTM(4, 5, proj_size=2), NotImplementedError, "proj_size > 0")


def test_packed_sequence_rejected():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(3, 2, 4), [3, 2])
    for kind in ("LSTM", "GRU", "RNN"):
        with pytest.raises(NotImplementedError, match="PackedSequence"):
            getattr(pydl.nn, kind)(4, 5)(packed)


def test_cell_op_errors():
    f = np.float32
    x8, c2 = _pt(np.zeros((3, 8), f))._impl, _pt(np.zeros((3, 2), f))._impl
    check_error(lambda: C.lstm_cell(_pt(np.zeros((3, 7), f))._impl, None, c2), RuntimeError,
                match=r"lstm_cell: input gates of shape \[3, 7\] do not match cx of shape \[3, 2\]")
    check_error(lambda: C.lstm_cell(x8, _pt(np.zeros((3, 4), f))._impl, c2), RuntimeError,
                match="input_gates and hidden_gates must have the same shape")
    check_error(lambda: C.lstm_cell(x8, None, _pt(np.zeros((3, 2)))._impl), RuntimeError,
                match="expected cx to have dtype float32, but got float64")
    check_error(lambda: C.lstm_cell(_pt(np.zeros((3, 8), np.int64))._impl, None, c2), RuntimeError,
                match="floating point")
    check_error(lambda: C.lstm_cell(_pt(np.zeros((8,), f))._impl, None, c2), RuntimeError, match="2-D")
    _, _, acts = C.lstm_cell(x8, None, c2)
    check_error(lambda: C.lstm_cell_backward(_pt(np.zeros((3, 3), f))._impl, None, None, acts, c2, c2),
                RuntimeError, match=r"expected grad_hy of shape \[3, 2\], but got \[3, 3\]")
    check_error(lambda: C.lstm_cell_backward(None, None, None, c2, c2, c2), RuntimeError,
                match=r"expected workspace of shape \[3, 8\]")
    x6 = _pt(np.zeros((3, 6), f))._impl
    check_error(lambda: C.gru_cell(x6, None, _pt(np.zeros((5,), f))._impl, c2), RuntimeError,
                match=r"expected hidden bias of shape \[6\], but got \[5\]")
    check_error(lambda: C.gru_cell_backward(None, None, x6, c2), RuntimeError, match=r"expected workspace of shape \[3, 8\]")
    check_error(lambda: C.rnn_cell(x6, c2, False), RuntimeError, match="must have the same shape")
    check_error(lambda: C.rnn_cell_backward(x6, None, c2, True), RuntimeError, match=r"expected grad_hy of shape \[3, 2\]")
