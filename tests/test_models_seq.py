"""Language models against plain-torch twins written here: the recurrent LM (with truncated BPTT),
the LSTM seq2seq with dot and additive attention, the transformer seq2seq, and word2vec.

Each model is built in pydl and in torch with the same module names, pydl's weights are copied into
torch through state_dict (numpy), and in float64 the logits, the loss and every parameter gradient are
compared (rtol 1e-9: the two differ only in summation order), then the losses of 10 optimizer steps
(teacher forcing ratio 1, no dropout, so both runs are deterministic). word2vec: the loss and
gradients of one batch; the subsampling and noise distributions against their formulas; and a short
training on a corpus with planted topic structure, after which the nearest neighbours are the planted
ones.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as tF

import pydl
from pydl.models import rnn_lm as LM
from pydl.models import seq2seq as S2S
from pydl.models import transformer_seq2seq as TS
from pydl.models import word2vec as W2V

RTOL, ATOL = 1e-9, 1e-11


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one OpenMP thread is faster than two, and avoids the spin-wait
    slowdown of OpenMP's default wait policy when the machine is oversubscribed (5x seen)."""
    n = pydl.get_num_threads()
    pydl.set_num_threads(1)
    yield
    pydl.set_num_threads(n)
F64 = pydl.float64


# ----------------------------------------------------------------------------- helpers
def copy_to_torch(pmodel, tmodel):
    sd = {k: torch.from_numpy(np.array(v.numpy())) for k, v in pmodel.state_dict().items()}
    missing, unexpected = tmodel.load_state_dict(sd, strict=True)
    assert not missing and not unexpected


def close(a, b, rtol=RTOL, atol=ATOL, what=""):
    a = a.detach().numpy() if isinstance(a, pydl.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=what)


def check_grads(pmodel, tmodel):
    pnamed = dict(pmodel.named_parameters())
    tnamed = dict(tmodel.named_parameters())
    assert sorted(pnamed) == sorted(tnamed)
    for name, p in pnamed.items():
        tg = tnamed[name].grad
        assert p.grad is not None and tg is not None, name
        close(p.grad, tg, what=f"grad of {name}")


# ----------------------------------------------------------------------------- recurrent LM
class TRNNLM(tnn.Module):
    def __init__(self, V, E, H, L, cell, tie):
        super().__init__()
        self.drop = tnn.Dropout(0.0)
        self.encoder = tnn.Embedding(V, E)
        kind = {"lstm": tnn.LSTM, "gru": tnn.GRU, "rnn": tnn.RNN}[cell]
        self.rnn = kind(E, H, L, batch_first=True)
        self.decoder = tnn.Linear(H, V)
        if tie:
            self.decoder.weight = self.encoder.weight

    def forward(self, x, h=None):
        out, h = self.rnn(self.drop(self.encoder(x)), h)
        return self.decoder(self.drop(out)), h


@pytest.mark.parametrize("cell,layers,tie", [("lstm", 2, False), ("gru", 1, True), ("rnn", 2, False)])
def test_rnn_lm_matches_torch_and_tbptt(cell, layers, tie):
    V, E, H, B, bptt = 11, 8, 8 if tie else 12, 3, 5
    pydl.manual_seed(1)
    pm = LM.RNNLanguageModel(V, E, H, layers, cell, tie_weights=tie, dtype=F64)
    tm = TRNNLM(V, E, H, layers, cell, tie).double()
    copy_to_torch(pm, tm)
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (B, 7))
    y = rng.integers(0, V, (B, 7))
    pl, ph = pm(pydl.tensor(x))
    tl, th = tm(torch.from_numpy(x))
    close(pl, tl, what="logits")
    for a, b in zip(ph if isinstance(ph, tuple) else (ph,), th if isinstance(th, tuple) else (th,)):
        close(a, b, what="final hidden state")
    ploss = pydl.nn.functional.cross_entropy(pl.reshape(-1, V), pydl.tensor(y.reshape(-1)))
    tloss = tF.cross_entropy(tl.reshape(-1, V), torch.from_numpy(y.reshape(-1)))
    close(ploss, tloss, what="loss")
    ploss.backward()
    tloss.backward()
    check_grads(pm, tm)

    # 10 truncated-BPTT steps: state carried across chunks, detached; gradient clipping
    stream = np.arange(B * (10 * bptt + 1)) % 7  # a learnable cycle with 10% noise tokens
    noise = rng.random(len(stream)) < 0.1
    stream[noise] = rng.integers(0, V, int(noise.sum()))
    data = LM.batchify(stream, B)
    pm2 = LM.RNNLanguageModel(V, E, H, layers, cell, tie_weights=tie, dtype=F64)
    tm2 = TRNNLM(V, E, H, layers, cell, tie).double()
    copy_to_torch(pm2, tm2)
    plosses = []
    popt = pydl.optim.Adam(pm2.parameters(), lr=3e-2)
    LM.train_epoch_tbptt(pm2, data, popt, bptt=bptt, clip=0.5, on_step=lambda s, lv: plosses.append(lv))
    topt = torch.optim.Adam(tm2.parameters(), lr=3e-2)
    td, h, tlosses = torch.from_numpy(data.numpy()), None, []
    for i in range(0, td.shape[1] - 1, bptt):
        h = None if h is None else (tuple(v.detach() for v in h) if isinstance(h, tuple) else h.detach())
        topt.zero_grad()
        logits, h = tm2(td[:, i:i + bptt], h)
        loss = tF.cross_entropy(logits.reshape(-1, V), td[:, i + 1:i + 1 + bptt].reshape(-1))
        loss.backward()
        tnn.utils.clip_grad_norm_(tm2.parameters(), 0.5)
        topt.step()
        tlosses.append(loss.item())
    assert len(plosses) == len(tlosses) == 10
    close(np.array(plosses), np.array(tlosses), rtol=1e-8, what="TBPTT loss curve")
    assert plosses[-1] < plosses[0]
    close(LM.evaluate_lm(pm2, data, bptt=4), _torch_eval(tm2, td, V), rtol=1e-8, what="evaluate_lm")


def _torch_eval(tm, td, V):
    with torch.no_grad():
        logits, _ = tm(td[:, :-1])
        return tF.cross_entropy(logits.reshape(-1, V), td[:, 1:].reshape(-1)).item()


def test_rnn_lm_helpers_and_errors():
    with pytest.raises(ValueError, match="tie_weights"):
        LM.RNNLanguageModel(10, 8, 16, tie_weights=True)
    with pytest.raises(ValueError, match="cell"):
        LM.RNNLanguageModel(10, cell="transformer")
    with pytest.raises(ValueError, match="too few"):
        LM.batchify(np.arange(5), 4)
    m = LM.RNNLanguageModel(10, 8, 8, tie_weights=True)
    assert m.decoder.weight is m.encoder.weight
    with pytest.raises(ValueError, match="batch, time"):
        m(pydl.tensor([1, 2, 3]))
    d = LM.batchify(np.arange(23), 2)
    assert d.shape == (2, 11) and d.numpy()[1, 0] == 11
    chunks = list(LM.tbptt_batches(d, 4))
    assert [c[0].shape[1] for c in chunks] == [4, 4, 2]
    np.testing.assert_array_equal(chunks[0][1].numpy(), d.numpy()[:, 1:5])
    v = LM.CharVocab("abracadabra")
    assert v.itos[0] == "a" and v.decode(v.encode("cab")) == "cab"
    with pytest.raises(KeyError, match="'z'"):
        v.encode("z")
    # unigram baseline: the entropy of the distribution when train == eval and counts are large
    ids = np.repeat(np.arange(4), [400, 300, 200, 100])
    p = np.array([400, 300, 200, 100]) / 1000
    assert abs(LM.unigram_cross_entropy(ids, ids, 4) - float(-(p * np.log(p)).sum())) < 1e-2
    g = LM.generate_text(m, [1, 2], 6, greedy=True)
    assert len(g) == 8 and g[:2] == [1, 2]
    # greedy generation is the argmax of the model run on the whole prefix
    with pydl.no_grad():
        m.eval()
        for k in range(2, 8):
            logits, _ = m(pydl.tensor([g[:k]]))
            assert int(logits[0, -1].argmax().item()) == g[k]


# ----------------------------------------------------------------------------- LSTM seq2seq
class TSeq2Seq(tnn.Module):
    def __init__(self, V, E, H, attention):
        super().__init__()
        self.attention = attention
        self.src_embed = tnn.Embedding(V, E, padding_idx=0)
        self.encoder = tnn.LSTM(E, H, batch_first=True)
        self.tgt_embed = tnn.Embedding(V, E, padding_idx=0)
        self.decoder = tnn.LSTM(E + H, H, batch_first=True)
        if attention == "additive":
            self.attn_query = tnn.Linear(H, H, bias=False)
            self.attn_key = tnn.Linear(H, H)
            self.attn_v = tnn.Linear(H, 1, bias=False)
        self.combine = tnn.Linear(2 * H, H)
        self.out = tnn.Linear(H, V)
        self.H = H

    def step(self, tok, feed, state, enc, mask, keys):
        out, state = self.decoder(torch.cat([self.tgt_embed(tok), feed], -1).unsqueeze(1), state)
        h = out[:, 0]
        if self.attention == "dot":
            scores = torch.einsum("bsh,bh->bs", enc, h)
        else:
            scores = self.attn_v(torch.tanh(keys + self.attn_query(h)[:, None])).squeeze(2)
        a = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
        ctx = torch.einsum("bs,bsh->bh", a, enc)
        feed = torch.tanh(self.combine(torch.cat([ctx, h], -1)))
        return self.out(feed), feed, state

    def encode(self, src):
        enc, state = self.encoder(self.src_embed(src))
        return enc, state, src == 0, (self.attn_key(enc) if self.attention == "additive" else None)

    def forward(self, src, tgt_in):
        enc, state, mask, keys = self.encode(src)
        feed = enc.new_zeros(src.shape[0], self.H)
        logits = []
        for t in range(tgt_in.shape[1]):
            lg, feed, state = self.step(tgt_in[:, t], feed, state, enc, mask, keys)
            logits.append(lg)
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, src, n):
        enc, state, mask, keys = self.encode(src)
        feed = enc.new_zeros(src.shape[0], self.H)
        tok, out = torch.full((src.shape[0],), S2S.SOS), []
        for _ in range(n):
            lg, feed, state = self.step(tok, feed, state, enc, mask, keys)
            tok = lg.argmax(-1)
            out.append(tok)
        return torch.stack(out, 1)


def _task_batch(n, seed=0):
    d = S2S.make_digit_task(n, 2, 6, seed=seed)
    return d, [torch.from_numpy(d[k]) for k in ("src", "tgt_in", "tgt_out")]


def _s2s_loss_torch(logits, tgt_out):
    return tF.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=S2S.PAD)


def _match_training(pm, tm, data, steps=10, lr=3e-3, clip=1.0, **kw):
    popt = pydl.optim.Adam(pm.parameters(), lr=lr)
    topt = torch.optim.Adam(tm.parameters(), lr=lr)
    src, tin, tout = data["src"], data["tgt_in"], data["tgt_out"]
    for i in range(steps):
        sl = slice((i * 4) % len(src), (i * 4) % len(src) + 4)
        popt.zero_grad()
        pl = S2S.seq2seq_loss(pm(pydl.tensor(src[sl]), pydl.tensor(tin[sl]), **kw), pydl.tensor(tout[sl]))
        pl.backward()
        pydl.nn.utils.clip_grad_norm_(pm.parameters(), clip)
        popt.step()
        topt.zero_grad()
        tl = _s2s_loss_torch(tm(torch.from_numpy(src[sl]), torch.from_numpy(tin[sl])), torch.from_numpy(tout[sl]))
        tl.backward()
        tnn.utils.clip_grad_norm_(tm.parameters(), clip)
        topt.step()
        close(pl, tl, rtol=1e-8, what=f"loss at step {i}")


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_seq2seq_matches_torch(attention):
    V, E, H = S2S.DIGIT_VOCAB, 6, 10
    pydl.manual_seed(3)
    pm = S2S.Seq2Seq(V, E, H, attention=attention, dtype=F64)
    tm = TSeq2Seq(V, E, H, attention).double()
    copy_to_torch(pm, tm)
    data, (src, tin, tout) = _task_batch(5)
    pl = pm(pydl.tensor(data["src"]), pydl.tensor(data["tgt_in"]), teacher_forcing_ratio=1.0)
    tl = tm(src, tin)
    close(pl, tl, what="logits")
    ploss = S2S.seq2seq_loss(pl, pydl.tensor(data["tgt_out"]))
    tloss = _s2s_loss_torch(tl, tout)
    close(ploss, tloss, what="loss")
    ploss.backward()
    tloss.backward()
    check_grads(pm, tm)
    # padding rows of the embeddings get no gradient (padding_idx), source pads no attention
    assert float(abs(pm.src_embed.weight.grad[S2S.PAD]).sum().item()) == 0.0
    _, w = pm.greedy_decode(pydl.tensor(data["src"]), 3, return_attention=True)
    assert float(w.numpy()[np.broadcast_to((data["src"] == S2S.PAD)[:, None, :], w.shape)].sum()) == 0.0
    data20, _ = _task_batch(40, seed=1)
    _match_training(pm, tm, data20, teacher_forcing_ratio=1.0)
    ids = pm.greedy_decode(pydl.tensor(data["src"]), 7).numpy()
    np.testing.assert_array_equal(ids, tm.greedy(src, ids.shape[1]).numpy())


def test_seq2seq_teacher_forcing_and_errors():
    pydl.manual_seed(0)
    pm = S2S.Seq2Seq(S2S.DIGIT_VOCAB, 6, 10, dtype=F64)
    data, _ = _task_batch(6)
    src, tin = pydl.tensor(data["src"]), pydl.tensor(data["tgt_in"])
    full = pm(src, tin, teacher_forcing_ratio=1.0).detach().numpy()
    # ratio 0 feeds the model's own argmax: the first step (fed <s>) is the same, the rest is the
    # greedy decode's logits
    free = pm(src, tin, teacher_forcing_ratio=0.0).detach().numpy()
    np.testing.assert_allclose(free[:, 0], full[:, 0], rtol=0, atol=0)
    greedy = pm.greedy_decode(src, tin.shape[1]).numpy()
    np.testing.assert_array_equal(free.argmax(-1)[:, :greedy.shape[1]], greedy)
    pydl.manual_seed(5)
    a = pm(src, tin, teacher_forcing_ratio=0.5).detach().numpy()
    pydl.manual_seed(5)
    np.testing.assert_array_equal(a, pm(src, tin, teacher_forcing_ratio=0.5).detach().numpy())
    with pytest.raises(ValueError, match="attention"):
        S2S.Seq2Seq(10, attention="general")
    with pytest.raises(ValueError, match="tgt_in"):
        pm(src, tin[:2])
    with pytest.raises(ValueError, match="task"):
        S2S.make_digit_task(4, task="copy")
    with pytest.raises(ValueError, match="distinct"):
        S2S.make_digit_task(200, 1, 2)


def test_digit_task_layout():
    tr = S2S.make_digit_task(300, 2, 5, task="reverse", seed=0)
    te = S2S.make_digit_task(50, 2, 5, task="reverse", seed=1, exclude=tr["seqs"])
    assert not (tr["seqs"] & te["seqs"])
    for s, ti, to in zip(tr["src"], tr["tgt_in"], tr["tgt_out"]):
        digits = [int(t) - S2S.DIGIT0 for t in s if t >= S2S.DIGIT0]
        assert s[-1] == S2S.EOS and (s[:len(s) - len(digits) - 1] == S2S.PAD).all()  # left-padded
        assert S2S.decode_digits(to) == "".join(map(str, digits[::-1]))
        assert ti[0] == S2S.SOS and (ti[1:len(digits) + 1] == to[:len(digits)]).all()
        assert to[len(digits)] == S2S.EOS and (to[len(digits) + 1:] == S2S.PAD).all()
    srt = S2S.make_digit_task(20, 3, 6, task="sort", seed=0)
    for s, to in zip(srt["src"], srt["tgt_out"]):
        assert S2S.decode_digits(to) == "".join(sorted(S2S.decode_digits([t for t in s if t != S2S.PAD])))


# ----------------------------------------------------------------------------- transformer seq2seq
class TTransformerSeq2Seq(tnn.Module):
    def __init__(self, V, d, nhead, layers, ff):
        super().__init__()
        self.d = d
        self.src_embed = tnn.Embedding(V, d, padding_idx=0)
        self.tgt_embed = tnn.Embedding(V, d, padding_idx=0)
        self.transformer = tnn.Transformer(d, nhead, layers, layers, ff, dropout=0.0, batch_first=True)
        self.generator = tnn.Linear(d, V)
        pos = torch.arange(64, dtype=torch.float64)[:, None]
        freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
        pe = torch.zeros(64, d, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
        self.register_buffer("pe", pe, persistent=False)

    def embed(self, emb, x):
        return emb(x) * math.sqrt(self.d) + self.pe[:x.shape[1]]

    def forward(self, src, tgt):
        T = tgt.shape[1]
        causal = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
        pad_t = torch.zeros(tgt.shape, dtype=torch.float64).masked_fill(tgt == 0, float("-inf"))
        h = self.transformer(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt), tgt_mask=causal,
                             src_key_padding_mask=src == 0, tgt_key_padding_mask=pad_t,
                             memory_key_padding_mask=src == 0)
        return self.generator(h)


def test_transformer_seq2seq_matches_torch():
    V, d, nhead, layers, ff = S2S.DIGIT_VOCAB, 8, 2, 2, 16
    pydl.manual_seed(4)
    pm = TS.TransformerSeq2Seq(V, d, nhead, layers, layers, ff, dropout=0.0, max_len=64, dtype=F64)
    tm = TTransformerSeq2Seq(V, d, nhead, layers, ff).double()
    copy_to_torch(pm, tm)
    close(pm.pos.pe[:20], tm.pe[:20], rtol=1e-14, atol=1e-14, what="positional encoding")
    data, (src, tin, tout) = _task_batch(5)
    pl = pm(pydl.tensor(data["src"]), pydl.tensor(data["tgt_in"]))
    tl = tm(src, tin)
    close(pl, tl, what="logits")
    ploss = S2S.seq2seq_loss(pl, pydl.tensor(data["tgt_out"]))
    tloss = _s2s_loss_torch(tl, tout)
    close(ploss, tloss, what="loss")
    ploss.backward()
    tloss.backward()
    check_grads(pm, tm)
    data20, _ = _task_batch(40, seed=1)
    _match_training(pm, tm, data20, lr=1e-2)
    # greedy decoding == the argmax of re-running the full model on the growing prefix (torch)
    ids = pm.greedy_decode(pydl.tensor(data["src"]), 7).numpy()
    ys = torch.full((len(src), 1), S2S.SOS)
    with torch.no_grad():
        for _ in range(ids.shape[1]):
            ys = torch.cat([ys, tm(src, ys)[:, -1].argmax(-1, keepdim=True)], 1)
    np.testing.assert_array_equal(ids, ys[:, 1:].numpy())


def test_transformer_causal_and_padding_masks():
    pydl.manual_seed(0)
    pm = TS.TransformerSeq2Seq(S2S.DIGIT_VOCAB, 8, 2, 1, 1, 16, dropout=0.0, dtype=F64)
    data, _ = _task_batch(4)
    src, tin = data["src"], data["tgt_in"]
    base = pm(pydl.tensor(src), pydl.tensor(tin)).detach().numpy()
    # changing a later target token does not change earlier positions' logits (causal mask)
    tin2 = tin.copy()
    tin2[:, 3] = S2S.DIGIT0 + (tin2[:, 3] + 1) % 10
    out2 = pm(pydl.tensor(src), pydl.tensor(tin2)).detach().numpy()
    np.testing.assert_allclose(out2[:, :3], base[:, :3], rtol=1e-12, atol=1e-12)
    assert np.abs(out2[:, 3:] - base[:, 3:]).max() > 1e-6
    # extra target padding on the right changes no logit of the real positions (padding + causal masks)
    tin3 = np.concatenate([tin, np.full((len(tin), 2), S2S.PAD)], 1)
    out3 = pm(pydl.tensor(src), pydl.tensor(tin3)).detach().numpy()
    real = tin != S2S.PAD
    np.testing.assert_allclose(out3[:, :tin.shape[1]][real], base[real], rtol=1e-12, atol=1e-12)
    # the <pad> embedding row (zeroed after the N(0, 1/d) init) stays zero and gets no gradient
    assert not pm.src_embed.weight.detach().numpy()[S2S.PAD].any()
    S2S.seq2seq_loss(pm(pydl.tensor(src), pydl.tensor(tin)), pydl.tensor(data["tgt_out"])).backward()
    assert not pm.src_embed.weight.grad.numpy()[S2S.PAD].any()
    with pytest.raises(ValueError, match="max_len"):
        TS.PositionalEncoding(8, max_len=4)(pydl.zeros(1, 5, 8))


# ----------------------------------------------------------------------------- word2vec
class TSkipGram(tnn.Module):
    def __init__(self, V, D):
        super().__init__()
        self.in_embed = tnn.Embedding(V, D)
        self.out_embed = tnn.Embedding(V, D)

    def loss(self, v, pos, neg):
        s_pos = (self.out_embed(pos) * v).sum(-1)
        s_neg = torch.einsum("bkd,bd->bk", self.out_embed(neg), v)
        return -(tF.logsigmoid(s_pos) + tF.logsigmoid(-s_neg).sum(-1)).mean()

    def forward(self, center, context, neg):
        return self.loss(self.in_embed(center), context, neg)


class TCBOW(TSkipGram):
    def forward(self, context, center, neg):
        valid = (context >= 0).double()
        v = (self.in_embed(context.clamp(min=0)) * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        return self.loss(v, center, neg)


@pytest.mark.parametrize("kind", ["skipgram", "cbow"])
def test_word2vec_loss_and_grads_match_torch(kind):
    V, D, B, k = 17, 6, 9, 4
    pm = (W2V.SkipGram if kind == "skipgram" else W2V.CBOW)(V, D, dtype=F64)
    with pydl.no_grad():  # out_embed starts at zero (as the C code); give it values to test something
        pm.out_embed.weight.copy_(pydl.randn(V, D, dtype=F64))
        pm.in_embed.weight.copy_(pydl.randn(V, D, dtype=F64))
    tm = (TSkipGram if kind == "skipgram" else TCBOW)(V, D).double()
    copy_to_torch(pm, tm)
    rng = np.random.default_rng(0)
    neg = rng.integers(0, V, (B, k))
    if kind == "skipgram":
        a, b = rng.integers(0, V, B), rng.integers(0, V, B)
        a[1] = a[0]  # repeated rows accumulate gradient
    else:
        a = rng.integers(0, V, (B, 4))
        a[:, 2:][rng.random((B, 2)) < 0.5] = -1   # empty context slots
        b = rng.integers(0, V, B)
    pl = pm(pydl.tensor(a), pydl.tensor(b), pydl.tensor(neg))
    tl = tm(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(neg))
    close(pl, tl, what="loss")
    pl.backward()
    tl.backward()
    check_grads(pm, tm)


def test_word2vec_sampling_formulas():
    counts = np.array([5000, 1200, 300, 40, 7, 1])
    t = 1e-3
    f = counts / counts.sum()
    discard = np.clip(1 - np.sqrt(t / f), 0, None)  # Mikolov et al. 2013, eq. 5
    np.testing.assert_allclose(W2V.subsample_keep_prob(counts, t), 1 - discard, rtol=1e-14)
    with pytest.raises(ValueError, match="positive"):
        W2V.subsample_keep_prob([3, 0], t)
    # empirical keep rate of the most frequent word: within 5 binomial standard deviations
    keep = W2V.subsample_keep_prob(counts, t)
    stream = np.repeat(np.arange(len(counts)), counts)
    kept = W2V._subsample(stream, keep, np.random.default_rng(0))
    n0 = int((kept == 0).sum())
    assert abs(n0 - counts[0] * keep[0]) < 5 * math.sqrt(counts[0] * keep[0] * (1 - keep[0]))
    assert int((kept == 5).sum()) == 1  # rare words are always kept
    # noise distribution: unigram^0.75, and the sampler's frequencies follow it
    p = W2V.noise_distribution(counts)
    np.testing.assert_allclose(p, counts ** 0.75 / (counts ** 0.75).sum(), rtol=1e-14)
    draws = W2V.NegativeSampler(counts, seed=0)(20000, 5).ravel()
    freq = np.bincount(draws, minlength=len(counts)) / draws.size
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / draws.size) + 1e-12)


def test_word2vec_windows():
    ids = np.arange(10)
    c, o = W2V.skipgram_pairs(ids, window=2, seed=0)
    assert np.all(np.abs(c - o) <= 2) and np.all(c != o) and len(c) >= 18
    # each pair appears at most once and both directions come from the per-center radius
    assert len(set(zip(c.tolist(), o.tolist()))) == len(c)
    ctx, cen = W2V.cbow_examples(ids, window=2, seed=0)
    assert ctx.shape == (10, 4)
    for row, center in zip(ctx, cen):
        got = set(row[row >= 0].tolist())
        assert got and all(abs(g - center) <= 2 for g in got) and center not in got
    assert W2V.tokenize("Don't STOP-believing, 42 times!") == ["don't", "stop", "believing", "times"]


def test_embedding_utilities():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(9, 7))
    sim = W2V.cosine_similarity_matrix(a, b).numpy()
    ref = tF.cosine_similarity(torch.from_numpy(a)[:, None], torch.from_numpy(b)[None], dim=-1).numpy()
    np.testing.assert_allclose(sim, ref, rtol=1e-12, atol=1e-12)
    idx, s = W2V.nearest_neighbors(a, b, k=3)
    np.testing.assert_array_equal(idx, np.argsort(-ref, 1)[:, :3])
    np.testing.assert_allclose(s, np.sort(ref, 1)[:, ::-1][:, :3], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="dimension"):
        W2V.cosine_similarity_matrix(a, b[:, :3])
    # an analogy planted in hand-made vectors: king - man + woman = queen
    words = ["man", "woman", "king", "queen", "apple", "car"]
    g, r, f1, f2 = np.eye(4)
    vecs = np.stack([g, g + f1, g + r, g + r + f1, f2, f2 + 0.3 * r])
    wv = W2V.WordVectors(vecs, words)
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    assert wv.most_similar("king", 1)[0][0] in ("man", "queen")
    assert wv.doesnt_match(["man", "woman", "king", "apple"]) == "apple"
    with pytest.raises(KeyError, match="banana"):
        wv.most_similar("banana")


def test_word2vec_finds_planted_neighbours():
    # 8 topics of 4 words; each "sentence" mixes words of one topic, so words of a topic share contexts
    rng = np.random.default_rng(0)
    topics = [[f"t{t}w{i}" for i in range(4)] for t in range(8)]
    tokens = []
    for _ in range(1500):
        tokens += list(rng.choice(topics[rng.integers(8)], size=8))
    vocab = W2V.Vocabulary(tokens)
    ids = vocab.encode(tokens)
    for kind in ("skipgram", "cbow"):
        net, hist = W2V.train_word2vec(ids, vocab.counts, model=kind, dim=16, window=3, negatives=5, epochs=2,
                                       batch_size=256, lr=0.02, subsample_t=None, seed=0)
        assert hist["train_loss"][-1] < hist["train_loss"][0]
        wv = W2V.WordVectors(net.vectors, vocab.itos)
        hits = 0
        for topic in topics:
            for w in topic:
                near = [n for n, _ in wv.most_similar(w, 3)]
                hits += sum(n[:2] == w[:2] for n in near)
        assert hits >= 0.95 * 32 * 3, (kind, hits)
        assert wv.doesnt_match(topics[0][:3] + [topics[5][0]]) == topics[5][0]


def test_train_command_word2vec(tmp_path):
    import json

    from pydl import train
    res = train.main(["word2vec", "--epochs", "1", "--width", "0.1", "--quiet", "--out", str(tmp_path)])
    assert res["model"] == "word2vec" and math.isfinite(res["final_loss"])
    state = pydl.load(str(tmp_path / "last.safetensors"))
    assert state["model"]["in_embed.weight"].shape == (len(state["vocab"]), 10)
    with open(tmp_path / "metrics.json") as f:
        assert json.load(f)["variant"] == "skipgram"
    with pytest.raises(SystemExit):
        train.main(["word2vec", "--epochs", "0"])
