"""rnn: LSTM and GRU training passes (forward + backward through all T steps), pydl vs torch.nn.

Shape (T=64, B=32, I=256, H=256), 1 and 2 layers, float32, the same weights and data on both sides.
torch runs its own fused CPU path (at::lstm / at::gru: oneDNN RNN primitives where enabled,
else a C++ time loop of addmm + fused pointwise cells). pydl's variants:

  fused          (default) one autograd node per layer and direction: the input projection of
                 all T steps is one [T*B, I] x [I, G*H] GEMM, the time loop calls the fused cell
                 kernel (csrc/cpu/rnn_cell.cpp) after one h @ W_hh^T GEMM per step, and the
                 backward does dW_ih, dW_hh and dX as one GEMM each over all steps.
  reference      the same, with the plain reference cell kernels (pydl.kernels "rnn_cell").
  per-step ops   the textbook composition through autograd (per step: linear x2, chunk,
                 sigmoid/tanh, mul/add): what the fused path saves. Only on the 1-layer cases.

Measured (1 thread, shared 2-core AVX-512 machine under load, median of 5; ratio = torch time /
pydl time, >1 means pydl is faster): LSTM 1 layer 0.92x, 2 layers 1.00x; GRU 1 layer 1.35x,
2 layers 1.52x; the reference cells cost 0.59-0.65x on LSTM, per-step ops 0.20x (LSTM) / 0.35x
(GRU). At 2 threads the machine was too oversubscribed (load ~9) for stable numbers.

What bounds us: the GEMMs are ~85 % of the time. The forward is the weaker half (~0.75x torch
alone): its recurrent GEMM [B, H] x [H, G*H] has only B = 32 rows and is strictly sequential, and
our GEMM re-packs W_hh^T on each of the T calls (torch / oneDNN packs the weights once per
sequence). We copy W_hh^T to row-major once per call, which halved that GEMM (~0.9 ms -> ~0.5 ms
per step); a GEMM entry point that takes a pre-packed B would remove the rest. The Python time
loop costs ~2-3 C++ calls per step, ~1 % here. The backward matches torch: its big GEMMs
(dW_ih, dW_hh, dX over all T*B rows at once) run at full GEMM speed.
"""
from ..registry import Case, Variant, register

import pydl

_T, _B, _I, _H = 64, 32, 256, 256


def _composed_lstm_step(m, x):
    """LSTM layer 0 through per-step pydl ops (one autograd node per op per step)."""
    F = pydl.nn.functional
    T, B, _ = x.shape
    H = m.hidden_size
    h = pydl.zeros((B, H))
    c = pydl.zeros((B, H))
    outs = []
    for t in range(T):
        g = F.linear(x[t], m.weight_ih_l0, m.bias_ih_l0) + F.linear(h, m.weight_hh_l0, m.bias_hh_l0)
        i, f, gg, o = g.chunk(4, 1)
        c = i.sigmoid() * gg.tanh() + f.sigmoid() * c
        h = o.sigmoid() * c.tanh()
        outs.append(h)
    return pydl.stack(outs, 0), (h.unsqueeze(0), c.unsqueeze(0))


def _composed_gru_step(m, x):
    F = pydl.nn.functional
    T, B, _ = x.shape
    H = m.hidden_size
    h = pydl.zeros((B, H))
    outs = []
    for t in range(T):
        xr, xz, xn = F.linear(x[t], m.weight_ih_l0, m.bias_ih_l0).chunk(3, 1)
        hr, hz, hn = F.linear(h, m.weight_hh_l0, m.bias_hh_l0).chunk(3, 1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        h = (1 - z) * n + z * h
        outs.append(h)
    return pydl.stack(outs, 0), h.unsqueeze(0)


def _train_pass(forward):
    """forward(m, x) -> (out, hidden); one forward + backward with upstream gradient g on out."""
    def step(m, x, g):
        for p in m.parameters():
            p.grad = None
        out, _ = forward(m, x)
        out.backward(g)
        return out.detach()
    return step


def _case(kind, layers, cfg):
    T, B, I, H = cfg.pick(default=(_T, _B, _I, _H), quick=(32, 32, 256, 256), tiny=(4, 3, 8, 8))
    G = 4 if kind == "LSTM" else 3

    def make_inputs():
        import torch

        torch.manual_seed(0)
        tm = getattr(torch.nn, kind)(I, H, num_layers=layers)
        pm = getattr(pydl.nn, kind)(I, H, num_layers=layers)
        pm.load_state_dict({k: pydl.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
        pydl.manual_seed(0)
        x = pydl.randn(T, B, I)
        g = pydl.randn(T, B, H)
        return (pm, x, g), (tm, torch.from_dlpack(x), torch.from_dlpack(g))

    fused = _train_pass(lambda m, x: m(x))
    variants = [Variant("fused", fused, isa=cfg.default_isa),
                Variant("reference", fused, isa=cfg.default_isa, kernel=("rnn_cell", "reference"))]
    for isa in cfg.isas:
        if isa != cfg.default_isa:
            variants.append(Variant("fused", fused, isa=isa))
    if layers == 1:
        comp = _composed_lstm_step if kind == "LSTM" else _composed_gru_step
        variants.append(Variant("per-step ops", _train_pass(comp), isa=cfg.default_isa))
    flops = 0.0
    for layer in range(layers):
        lin = I if layer == 0 else H
        flops += 3 * 2.0 * T * B * (lin + H) * G * H  # forward GEMMs, backward = twice
    return Case(op=f"{kind} fwd+bwd, {layers} layer{'s' if layers > 1 else ''}",
                shape=f"T={T} B={B} I={I} H={H}", make_inputs=make_inputs, variants=variants,
                torch_fn=_train_pass(lambda m, x: m(x)), flops=flops, tol=1e-4)


@register("rnn", "LSTM / GRU forward + backward over a sequence (T=64, B=32, I=H=256), vs torch.nn")
def cases(cfg):
    return [_case(kind, layers, cfg) for kind in ("LSTM", "GRU") for layers in (1, 2)]
