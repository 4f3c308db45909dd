"""Training-step time of the sequence models, pydl vs the same model in torch, same thread count.

    python -m pydl.bench.models_seq [--threads N] [--steps 5] [--repeats 3]

Cases (float32, the shapes of ``python -m pydl.train``'s defaults):
  lstm-lm    char LSTM LM, vocab 96, embed 64, hidden 256, 32 streams x bptt 64: forward, loss,
             backward, clip_grad_norm_, Adam step.
  seq2seq    LSTM encoder-decoder with dot attention, batch 64, source/target length 11, embed 32,
             hidden 128, teacher forcing 1: the same step.
The torch twins are written here with the same module names, and start from pydl's weights. Each
repeat times ``steps`` steps of pydl then of torch (interleaved, so machine load hits both alike);
the median per-step time is reported with the ratio pydl / torch.
"""
import argparse
import statistics
import time

import numpy as np


def _torch_models():
    import torch
    import torch.nn as tnn

    class TLM(tnn.Module):
        def __init__(self, V, E, H):
            super().__init__()
            self.drop = tnn.Dropout(0.0)
            self.encoder = tnn.Embedding(V, E)
            self.rnn = tnn.LSTM(E, H, batch_first=True)
            self.decoder = tnn.Linear(H, V)

        def forward(self, x, h=None):
            out, h = self.rnn(self.encoder(x), h)
            return self.decoder(out), h

    class TS2S(tnn.Module):
        def __init__(self, V, E, H):
            super().__init__()
            self.src_embed = tnn.Embedding(V, E, padding_idx=0)
            self.encoder = tnn.LSTM(E, H, batch_first=True)
            self.tgt_embed = tnn.Embedding(V, E, padding_idx=0)
            self.decoder = tnn.LSTM(E + H, H, batch_first=True)
            self.combine = tnn.Linear(2 * H, H)
            self.out = tnn.Linear(H, V)
            self.H = H

        def forward(self, src, tgt_in):
            enc, state = self.encoder(self.src_embed(src))
            mask = src == 0
            feed = enc.new_zeros(src.shape[0], self.H)
            logits = []
            for t in range(tgt_in.shape[1]):
                out, state = self.decoder(torch.cat([self.tgt_embed(tgt_in[:, t]), feed], -1).unsqueeze(1), state)
                h = out[:, 0]
                a = torch.softmax(torch.bmm(enc, h.unsqueeze(2)).squeeze(2).masked_fill(mask, float("-inf")), -1)
                ctx = torch.bmm(a.unsqueeze(1), enc).squeeze(1)
                feed = torch.tanh(self.combine(torch.cat([ctx, h], -1)))
                logits.append(self.out(feed))
            return torch.stack(logits, 1)

    return TLM, TS2S


def _copy(pm, tm):
    import torch
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in pm.state_dict().items()})


def cases():
    import torch
    import torch.nn.functional as tF

    import pydl
    from pydl.models import rnn_lm as LM
    from pydl.models import seq2seq as S
    from pydl.nn import functional as F
    TLM, TS2S = _torch_models()
    out = []

    # lstm-lm
    V, E, H, B, T = 96, 64, 256, 32, 64
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (B, T))
    y = rng.integers(0, V, (B, T))
    pm = LM.RNNLanguageModel(V, E, H)
    tm = TLM(V, E, H)
    _copy(pm, tm)
    popt, topt = pydl.optim.Adam(pm.parameters(), 1e-3), torch.optim.Adam(tm.parameters(), 1e-3)
    px, py, tx, ty = pydl.tensor(x), pydl.tensor(y), torch.from_numpy(x), torch.from_numpy(y)

    def p_lm():
        popt.zero_grad()
        logits, _ = pm(px)
        F.cross_entropy(logits.reshape(-1, V), py.reshape(-1)).backward()
        pydl.nn.utils.clip_grad_norm_(pm.parameters(), 1.0)
        popt.step()

    def t_lm():
        topt.zero_grad()
        logits, _ = tm(tx)
        tF.cross_entropy(logits.reshape(-1, V), ty.reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        topt.step()
    out.append((f"lstm-lm (B={B}, T={T}, E={E}, H={H}, V={V})", p_lm, t_lm))

    # seq2seq
    d = S.make_digit_task(64, 3, 10, seed=0)
    sm = S.Seq2Seq(S.DIGIT_VOCAB, 32, 128, attention="dot")
    ts = TS2S(S.DIGIT_VOCAB, 32, 128)
    _copy(sm, ts)
    sopt, tsopt = pydl.optim.Adam(sm.parameters(), 1e-3), torch.optim.Adam(ts.parameters(), 1e-3)
    ps, pti, pto = (pydl.tensor(d[k]) for k in ("src", "tgt_in", "tgt_out"))
    tsrc, tti, tto = (torch.from_numpy(d[k]) for k in ("src", "tgt_in", "tgt_out"))

    def p_s2s():
        sopt.zero_grad()
        S.seq2seq_loss(sm(ps, pti), pto).backward()
        pydl.nn.utils.clip_grad_norm_(sm.parameters(), 1.0)
        sopt.step()

    def t_s2s():
        tsopt.zero_grad()
        lg = ts(tsrc, tti)
        tF.cross_entropy(lg.reshape(-1, lg.shape[-1]), tto.reshape(-1), ignore_index=0).backward()
        torch.nn.utils.clip_grad_norm_(ts.parameters(), 1.0)
        tsopt.step()
    out.append(("seq2seq dot attention (B=64, S=T=11, E=32, H=128)", p_s2s, t_s2s))
    return out


def main(argv=None):
    import torch

    import pydl
    p = argparse.ArgumentParser(prog="python -m pydl.bench.models_seq", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    n = args.threads or pydl.get_num_threads()
    pydl.set_num_threads(n)
    torch.set_num_threads(n)
    print(f"| model | pydl ms/step | torch ms/step | pydl / torch |  ({n} threads, median of {args.repeats} "
          f"x {args.steps} steps)")
    print("|---|---|---|---|")
    rows = []
    for name, pf, tf in cases():
        pf()
        tf()  # warm up (allocations, first-call dispatch)
        pt, tt = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                pf()
            pt.append((time.perf_counter() - t0) / args.steps)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                tf()
            tt.append((time.perf_counter() - t0) / args.steps)
        a, b = statistics.median(pt), statistics.median(tt)
        rows.append((name, a, b))
        print(f"| {name} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.2f} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
