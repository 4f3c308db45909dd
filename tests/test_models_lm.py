"""GPT and BERT against plain-torch twins written here (same module names, so state_dicts match).

Each model is built in pydl, its weights are copied into the torch twin through state_dict (numpy in
between), and logits, loss and every parameter gradient are compared in float64 (rtol 1e-9: only
summation orders differ), then the losses of 10 AdamW steps. Then GPT decoding: the KV cache gives
the logits and tokens of the uncached model, beam search equals brute-force enumeration when the beam
is wide enough, top-k/top-p filtering equals a torch implementation of HuggingFace's rule. Last, BERT
pre-training data: masking statistics (15% chosen, 80/10/10) and next-sentence pairs.
"""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as tF

import pydl
from pydl import models as M
from pydl.models.gpt import sample_from_probs, top_k_top_p_filter
from pydl.text import CharTokenizer, mask_tokens, nsp_pairs, split_sentences


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: one thread each for pydl and torch. (On a machine whose cores are
    busy with other work, OpenMP's barriers make each small parallel op wait for a descheduled
    thread; results do not depend on the thread count.)"""
    n, tn = pydl.get_num_threads(), torch.get_num_threads()
    pydl.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    pydl.set_num_threads(n)
    torch.set_num_threads(tn)


# ----------------------------------------------------------------------------- torch twins: GPT
class TAttn(tnn.Module):
    def __init__(self, c, nh, bias):
        super().__init__()
        self.nh = nh
        self.c_attn = tnn.Linear(c, 3 * c, bias=bias)
        self.c_proj = tnn.Linear(c, c, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.nh)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))


class TMLP(tnn.Module):
    def __init__(self, c, bias):
        super().__init__()
        self.c_fc = tnn.Linear(c, 4 * c, bias=bias)
        self.c_proj = tnn.Linear(4 * c, c, bias=bias)

    def forward(self, x):
        return self.c_proj(tF.gelu(self.c_fc(x)))


class TBlock(tnn.Module):
    def __init__(self, c, nh, bias):
        super().__init__()
        self.ln_1 = tnn.LayerNorm(c, bias=bias)
        self.attn = TAttn(c, nh, bias)
        self.ln_2 = tnn.LayerNorm(c, bias=bias)
        self.mlp = TMLP(c, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TGPT(tnn.Module):
    def __init__(self, V, block, L, nh, c, bias=True):
        super().__init__()
        self.transformer = tnn.ModuleDict(dict(wte=tnn.Embedding(V, c), wpe=tnn.Embedding(block, c),
                                               h=tnn.ModuleList([TBlock(c, nh, bias) for _ in range(L)]),
                                               ln_f=tnn.LayerNorm(c, bias=bias)))
        self.lm_head = tnn.Linear(c, V, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx):
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for b in self.transformer.h:
            x = b(x)
        return self.lm_head(self.transformer.ln_f(x))


# ----------------------------------------------------------------------------- torch twins: BERT
class TEmb(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg.hidden_size
        self.word_embeddings = tnn.Embedding(cfg.vocab_size, H, padding_idx=cfg.pad_token_id)
        self.position_embeddings = tnn.Embedding(cfg.max_position_embeddings, H)
        self.token_type_embeddings = tnn.Embedding(cfg.type_vocab_size, H)
        self.LayerNorm = tnn.LayerNorm(H, eps=cfg.layer_norm_eps)

    def forward(self, ids, tt):
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(torch.arange(ids.shape[1]))
                              + self.token_type_embeddings(tt))


class TSelf(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg.hidden_size
        self.nh = cfg.num_attention_heads
        self.query, self.key, self.value = tnn.Linear(H, H), tnn.Linear(H, H), tnn.Linear(H, H)

    def forward(self, x, mask):
        B, T, H = x.shape
        q, k, v = (f(x).view(B, T, self.nh, H // self.nh).transpose(1, 2) for f in (self.query, self.key, self.value))
        s = q @ k.transpose(-2, -1) / math.sqrt(H // self.nh)
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        return (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)


class TDenseLN(tnn.Module):
    def __init__(self, i, o, eps):
        super().__init__()
        self.dense = tnn.Linear(i, o)
        self.LayerNorm = tnn.LayerNorm(o, eps=eps)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dense(h))


class TAttention(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = TSelf(cfg)
        self.output = TDenseLN(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class TInter(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = tnn.Linear(cfg.hidden_size, cfg.intermediate_size)


class TLayer(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = TAttention(cfg)
        self.intermediate = TInter(cfg)
        self.output = TDenseLN(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(tF.gelu(self.intermediate.dense(a)), a)


class TEncoder(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = tnn.ModuleList([TLayer(cfg) for _ in range(cfg.num_hidden_layers)])


class TPooler(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = tnn.Linear(cfg.hidden_size, cfg.hidden_size)


class TBert(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = TEmb(cfg)
        self.encoder = TEncoder(cfg)
        self.pooler = TPooler(cfg)

    def forward(self, ids, tt, am):
        mask = None if am is None else (am != 0).view(am.shape[0], 1, 1, am.shape[1])
        x = self.embeddings(ids, tt)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler.dense(x[:, 0]))


class TTransform(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = tnn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = tnn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)


class TPred(tnn.Module):
    def __init__(self, cfg, emb):
        super().__init__()
        self.transform = TTransform(cfg)
        self.decoder = tnn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.decoder.weight = emb.weight
        self.bias = tnn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, x):
        return self.decoder(self.transform.LayerNorm(tF.gelu(self.transform.dense(x)))) + self.bias


class THeads(tnn.Module):
    def __init__(self, cfg, emb):
        super().__init__()
        self.predictions = TPred(cfg, emb)
        self.seq_relationship = tnn.Linear(cfg.hidden_size, 2)


class TBertPre(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.bert = TBert(cfg)
        self.cls = THeads(cfg, self.bert.embeddings.word_embeddings)

    def forward(self, ids, tt, am, labels, nsl):
        seq, pooled = self.bert(ids, tt, am)
        mlm, nsp = self.cls.predictions(seq), self.cls.seq_relationship(pooled)
        loss = tF.cross_entropy(mlm.reshape(-1, mlm.shape[-1]), labels.reshape(-1)) + tF.cross_entropy(nsp, nsl)
        return mlm, nsp, loss


class TBertCls(tnn.Module):
    def __init__(self, cfg, n):
        super().__init__()
        self.bert = TBert(cfg)
        self.classifier = tnn.Linear(cfg.hidden_size, n)

    def forward(self, ids, tt, am, labels):
        logits = self.classifier(self.bert(ids, tt, am)[1])
        return logits, tF.cross_entropy(logits, labels)


# ----------------------------------------------------------------------------- helpers
def copy_weights(pmodel, tmodel):
    psd, tsd = pmodel.state_dict(), tmodel.state_dict()
    assert set(psd) == set(tsd), f"keys differ: only pydl {set(psd) - set(tsd)}, only torch {set(tsd) - set(psd)}"
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v.numpy())).to(tsd[k].dtype) for k, v in psd.items()})


def close(a, b, rtol, atol, what):
    a = np.array(a.detach().numpy() if hasattr(a, "detach") else a)
    b = np.array(b.detach().numpy() if isinstance(b, torch.Tensor) else b)
    torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b), rtol=rtol, atol=atol,
                               msg=lambda m: f"{what}: {m}")


def check_twins(pmodel, tmodel, run_p, run_t, n_outputs, rtol=1e-9, atol=1e-11, steps=10):
    """run_p/run_t(model) -> (*outputs, loss). Compares outputs, loss, all gradients, then AdamW losses."""
    pmodel.double()
    tmodel.double()
    copy_weights(pmodel, tmodel)
    outs_p, outs_t = run_p(pmodel), run_t(tmodel)
    for i in range(n_outputs):
        close(outs_p[i], outs_t[i], rtol, atol, f"output {i}")
    close(outs_p[-1], outs_t[-1], rtol, atol, "loss")
    outs_p[-1].backward()
    outs_t[-1].backward()
    tparams = dict(tmodel.named_parameters())
    pparams = dict(pmodel.named_parameters())
    assert set(pparams) == set(tparams)
    for name, p in pparams.items():
        assert p.grad is not None, f"no gradient reached {name}"
        close(p.grad, tparams[name].grad, rtol * 10, atol * 10, f"grad {name}")
    optp = pydl.optim.AdamW(pmodel.parameters(), lr=3e-3, weight_decay=0.1)
    optt = torch.optim.AdamW(tmodel.parameters(), lr=3e-3, weight_decay=0.1)
    lp, lt = [], []
    for _ in range(steps):
        optp.zero_grad()
        optt.zero_grad()
        a, b = run_p(pmodel)[-1], run_t(tmodel)[-1]
        a.backward()
        b.backward()
        optp.step()
        optt.step()
        lp.append(a.item())
        lt.append(b.item())
    close(np.array(lp), np.array(lt), rtol * 1e3, atol * 1e3, "AdamW loss curve")
    assert lp[-1] < lp[0], f"10 AdamW steps did not lower the loss: {lp}"
    return pmodel, tmodel


def tiny_gpt(V=23, block=12, L=2, nh=2, c=16, bias=True, seed=0):
    pydl.manual_seed(seed)
    return M.GPT(M.GPTConfig(vocab_size=V, block_size=block, n_layer=L, n_head=nh, n_embd=c, dropout=0.0,
                             bias=bias)), TGPT(V, block, L, nh, c, bias)


# ----------------------------------------------------------------------------- GPT
@pytest.mark.parametrize("bias", [True, False])
def test_gpt_matches_torch(bias):
    pm, tm = tiny_gpt(bias=bias)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 23, (3, 11))
    y = rng.integers(0, 23, (3, 11))
    y[0, :3] = -100  # ignored targets
    xp, yp, xt, yt = pydl.tensor(x), pydl.tensor(y), torch.from_numpy(x), torch.from_numpy(y)

    def run_t(m):
        logits = m(xt)
        return logits, tF.cross_entropy(logits.reshape(-1, 23), yt.reshape(-1))
    check_twins(pm, tm, lambda m: m(xp, yp), run_t, 1)
    assert pm.lm_head.weight is pm.transformer.wte.weight


def test_gpt_float32_and_dropout():
    """float32 (the default dtype) against the float64 result: within float32 rounding of ~1e-6
    relative per op through 2 layers (rtol 1e-4); dropout is active in train mode only."""
    pm, tm = tiny_gpt()
    copy_weights(pm, tm)
    x = np.random.default_rng(6).integers(0, 23, (2, 12))
    with pydl.no_grad(), torch.no_grad():
        l32 = pm(pydl.tensor(x))[0].numpy()
        l64 = tm.double()(torch.from_numpy(x)).numpy()
    assert l32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-4, atol=1e-5)
    pydl.manual_seed(0)
    md = M.GPT(M.GPTConfig(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16, dropout=0.3))
    xp = pydl.tensor(x)
    with pydl.no_grad():
        a, b = md(xp)[0].numpy(), md(xp)[0].numpy()
        md.eval()
        c, d = md(xp)[0].numpy(), md(xp)[0].numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, d)


def test_gpt_init_and_config():
    pydl.manual_seed(0)
    m = M.GPT(vocab_size=300, block_size=32, n_layer=6, n_head=4, n_embd=64)
    # GPT-2 init: N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layer)), biases zero
    w = m.transformer.h[0].mlp.c_fc.weight.detach().numpy()
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002
    r = np.concatenate([m.transformer.h[i].attn.c_proj.weight.detach().numpy().ravel() for i in range(6)])
    assert abs(r.std() - 0.02 / math.sqrt(12)) < 0.0005
    assert np.all(m.transformer.h[2].attn.c_attn.bias.detach().numpy() == 0)
    n_tied = sum(p.numel() for p in m.parameters())
    assert n_tied == sum(v.numel() for k, v in m.state_dict().items() if k != "lm_head.weight")
    with pytest.raises(ValueError, match="divisible"):
        M.GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        m(pydl.zeros(1, 33, dtype=pydl.int64))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        m(pydl.zeros(33, dtype=pydl.int64))


def test_gpt_kv_cache_logits():
    pm, _ = tiny_gpt()
    pm.double().eval()
    x = pydl.tensor(np.random.default_rng(1).integers(0, 23, (2, 12)))
    full, _ = pm(x)
    # prefix of 5, then a chunk of 4 (causal mask bottom-right aligned), then one token at a time
    lo1, _, cache = pm(x[:, :5], use_cache=True)
    lo2, _, cache = pm(x[:, 5:9], past_key_values=cache, use_cache=True)
    parts = [lo1, lo2]
    for t in range(9, 12):
        lo, _, cache = pm(x[:, t:t + 1], past_key_values=cache, use_cache=True)
        parts.append(lo)
    assert cache[0][0].shape == (2, 2, 12, 8)
    close(pydl.cat(parts, dim=1), full, 1e-10, 1e-12, "cached logits")
    with pytest.raises(ValueError, match="block_size"):
        pm(x[:, :1], past_key_values=cache, use_cache=True)


def torch_greedy(tm, x, n, block):
    seq = torch.from_numpy(x)
    for _ in range(n):
        logits = tm(seq[:, -block:])[:, -1]
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], 1)
    return seq.numpy()


@pytest.mark.parametrize("new", [4, 15])  # 15: prompt + new > block_size, the context window slides
def test_gpt_generate_cache_and_torch(new):
    pm, tm = tiny_gpt(block=12)
    pm.double()
    tm.double()
    copy_weights(pm, tm)
    x = np.random.default_rng(2).integers(0, 23, (3, 5))
    g1 = pm.generate(pydl.tensor(x), new, use_cache=True).numpy()
    g0 = pm.generate(pydl.tensor(x), new, use_cache=False).numpy()
    np.testing.assert_array_equal(g1, g0)
    with torch.no_grad():
        np.testing.assert_array_equal(g1, torch_greedy(tm, x, new, 12))
    for kw in ({"temperature": 1.3}, {"top_k": 5}, {"top_p": 0.8, "temperature": 0.7}):
        pydl.manual_seed(7)
        s1 = pm.generate(pydl.tensor(x), new, do_sample=True, use_cache=True, **kw).numpy()
        pydl.manual_seed(7)
        s0 = pm.generate(pydl.tensor(x), new, do_sample=True, use_cache=False, **kw).numpy()
        np.testing.assert_array_equal(s1, s0)
        assert s1.shape == (3, 5 + new)
    pydl.manual_seed(8)
    s2 = pm.generate(pydl.tensor(x), new, do_sample=True).numpy()
    assert not np.array_equal(s2, s1)  # different seeds, different samples
    # beams with and without the cache
    np.testing.assert_array_equal(pm.generate(pydl.tensor(x), new, num_beams=3, use_cache=True).numpy(),
                                  pm.generate(pydl.tensor(x), new, num_beams=3, use_cache=False).numpy())


def test_gpt_generate_eos():
    pm, _ = tiny_gpt()
    x = pydl.tensor(np.random.default_rng(3).integers(0, 23, (4, 3)))
    free = pm.generate(x, 6).numpy()
    eos = int(free[0, 4])  # the token row 0 emits second
    out = pm.generate(x, 6, eos_token_id=eos).numpy()
    np.testing.assert_array_equal(out[0, :5], free[0, :5])
    assert np.all(out[0, 5:] == eos)
    for r in range(4):  # after the first eos a row only repeats it
        gen = out[r, 3:]
        hit = np.flatnonzero(gen == eos)
        if hit.size:
            assert np.all(gen[hit[0]:] == eos)
            np.testing.assert_array_equal(gen[:hit[0]], free[r, 3:3 + hit[0]])


def seq_logprob(tm, prompt, cont):
    seq = torch.tensor([list(prompt) + list(cont)])
    with torch.no_grad():
        lp = tm(seq).double().log_softmax(-1)[0]
    return sum(lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(cont))


def test_beam_search_vs_brute_force():
    V, n = 5, 3
    pm, tm = tiny_gpt(V=V, block=8, c=8, seed=0)
    pm.double()
    tm.double()
    with pydl.no_grad():  # larger weights: peaked distributions where greedy and beam search differ
        for p in pm.parameters():
            p.mul_(5.0)
    copy_weights(pm, tm)
    found_diff = False
    for prompt in ([1, 2], [3], [0, 4, 4], [2, 2]):
        best = max(itertools.product(range(V), repeat=n), key=lambda c: seq_logprob(tm, prompt, c))
        # a beam of V^(n-1) keeps every prefix, so it is exact
        out = pm.generate(pydl.tensor([prompt]), n, num_beams=V ** (n - 1)).numpy()[0, len(prompt):]
        assert tuple(out) == best, (prompt, out, best)
        greedy = pm.generate(pydl.tensor([prompt]), n).numpy()[0, len(prompt):]
        found_diff |= tuple(greedy) != best
        # num_beams=2 against a reference beam search written here on torch log-probabilities
        beams = [((), 0.0)]
        for _ in range(n):
            cand = [(b + (t,), s + seq_logprob(tm, prompt + list(b), (t,))) for b, s in beams for t in range(V)]
            beams = sorted(cand, key=lambda c: -c[1])[:2]
        out2 = pm.generate(pydl.tensor([prompt]), n, num_beams=2).numpy()[0, len(prompt):]
        assert tuple(out2) == beams[0][0]
    assert found_diff, "no prompt where beam search beats greedy: the test would not catch greedy"


def hf_filter_torch(logits, top_k, top_p):
    """HuggingFace's TopK then TopP logits warpers, written in torch."""
    x = logits.clone()
    if top_k is not None:
        kth = torch.topk(x, min(top_k, x.shape[-1]))[0][..., -1, None]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p is not None:
        sl, si = torch.sort(x, descending=False)
        cum = sl.softmax(-1).cumsum(-1)
        remove = cum <= (1 - top_p)
        remove[..., -1:] = False
        x = x.masked_fill(remove.scatter(1, si, remove), float("-inf"))
    return x


@pytest.mark.parametrize("top_k,top_p", [(None, None), (1, None), (5, None), (40, None), (None, 0.5),
                                         (None, 0.9), (None, 1e-6), (7, 0.8), (None, 1.0)])
def test_top_k_top_p_filter(top_k, top_p):
    logits = np.random.default_rng(5).standard_normal((6, 33)) * 3
    got = top_k_top_p_filter(logits, top_k, top_p)
    want = hf_filter_torch(torch.from_numpy(logits), top_k, top_p).numpy()
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(got[np.isfinite(got)], logits[np.isfinite(got)])
    assert np.all(np.isfinite(got).sum(-1) >= 1)
    with pytest.raises(ValueError):
        top_k_top_p_filter(logits, 0, None)
    with pytest.raises(ValueError):
        top_k_top_p_filter(logits, None, 1.5)


def test_sample_from_probs_distribution():
    p = np.array([0.5, 0.0, 0.3, 0.15, 0.05])
    pydl.manual_seed(0)
    n = 20000
    draws = sample_from_probs(np.tile(p, (n, 1)))
    freq = np.bincount(draws, minlength=5) / n
    assert freq[1] == 0
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


# ----------------------------------------------------------------------------- BERT
def bert_cfg():
    return M.BertConfig(vocab_size=31, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=24, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        max_position_embeddings=16, pad_token_id=0)


def bert_batch(B=3, T=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 31, (B, T))
    am = np.ones((B, T), dtype=np.int64)
    am[1, 6:] = 0
    am[2, 4:] = 0
    ids[am == 0] = 0
    tt = np.zeros((B, T), dtype=np.int64)
    tt[:, 4:] = 1
    labels = np.where(rng.random((B, T)) < 0.4, ids, -100)
    labels[0, 1] = ids[0, 1]
    return ids, tt, am, labels


def test_bert_pretraining_matches_torch():
    cfg = bert_cfg()
    pydl.manual_seed(0)
    pm, tm = M.BertForPreTraining(cfg), TBertPre(cfg)
    assert pm.cls.predictions.decoder.weight is pm.bert.embeddings.word_embeddings.weight
    assert np.all(pm.bert.embeddings.word_embeddings.weight.detach().numpy()[0] == 0)  # padding row
    ids, tt, am, labels = bert_batch()
    nsl = np.array([0, 1, 1])
    P = [pydl.tensor(a) for a in (ids, tt, am, labels, nsl)]
    T_ = [torch.from_numpy(a) for a in (ids, tt, am, labels, nsl)]
    pm, tm = check_twins(pm, tm, lambda m: m(*P[:3], labels=P[3], next_sentence_label=P[4]),
                         lambda m: m(*T_), 2)
    # padding: the real positions do not depend on what the padded ones hold
    ids2 = ids.copy()
    ids2[2, 5:] = 7
    with pydl.no_grad():
        a = pm(P[0], P[1], P[2])[0].numpy()
        b = pm(pydl.tensor(ids2), P[1], P[2])[0].numpy()
    np.testing.assert_allclose(a[:, :4], b[:, :4], rtol=1e-12, atol=1e-13)


def test_bert_sequence_classification_and_mlm_matches_torch():
    cfg = bert_cfg()
    pydl.manual_seed(1)
    pm, tm = M.BertForSequenceClassification(cfg, num_labels=3), TBertCls(cfg, 3)
    ids, tt, am, _ = bert_batch(seed=1)
    y = np.array([2, 0, 1])
    P = [pydl.tensor(a) for a in (ids, tt, am, y)]
    T_ = [torch.from_numpy(a) for a in (ids, tt, am, y)]
    check_twins(pm, tm, lambda m: m(*P[:3], labels=P[3]), lambda m: m(*T_), 1)
    mlm = M.BertForMaskedLM(cfg)
    assert "bert.pooler.dense.weight" not in mlm.state_dict()
    logits, loss = mlm(P[0], P[1], P[2], labels=pydl.tensor(bert_batch(seed=1)[3]))
    assert logits.shape == (3, 9, 31) and math.isfinite(loss.item())
    with pytest.raises(ValueError, match="attention_mask"):
        pm(P[0], P[1], P[2][:, :3])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        pm(pydl.zeros(1, 17, dtype=pydl.int64))


# ----------------------------------------------------------------------------- pre-training data
@pytest.fixture(scope="module")
def char_tok():
    from pydl.data.datasets import load_text_corpus
    return CharTokenizer.train(load_text_corpus()[:50000])


def test_mask_tokens_statistics(char_tok):
    tok = char_tok
    rng = np.random.default_rng(0)
    ids = rng.integers(len(tok.special_tokens), tok.vocab_size, (400, 128))
    ids[:, 0] = tok.cls_token_id
    ids[:, 60] = tok.sep_token_id
    ids[:, 100:] = tok.pad_token_id
    pydl.manual_seed(0)
    out, labels = mask_tokens(pydl.tensor(ids), tok, mlm_prob=0.15)
    out, labels = out.numpy(), labels.numpy()
    special = np.isin(ids, tok.special_ids)
    chosen = labels != -100
    assert not np.any(chosen & special), "a special or padding position was chosen"
    np.testing.assert_array_equal(out[special], ids[special])
    np.testing.assert_array_equal(out[~chosen], ids[~chosen])
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    n = (~special).sum()
    frac = chosen.sum() / n
    assert abs(frac - 0.15) < 5 * math.sqrt(0.15 * 0.85 / n)
    m = chosen.sum()
    masked = (out == tok.mask_token_id) & chosen
    kept = (out == ids) & chosen
    rand = chosen & ~masked & ~kept
    for got, p in ((masked.sum() / m, 0.8), (rand.sum() / m, 0.1 * (1 - 1 / (tok.vocab_size - 7))),
                   (kept.sum() / m, 0.1 + 0.1 / (tok.vocab_size - 7))):
        assert abs(got - p) < 5 * math.sqrt(p * (1 - p) / m), (got, p)
    assert not np.any(np.isin(out[rand], tok.special_ids)), "a random replacement was a special token"
    # the replacements are spread over the whole non-special vocabulary
    assert len(np.unique(out[rand])) > 0.9 * (tok.vocab_size - 7)
    # seeded: repeatable
    pydl.manual_seed(0)
    np.testing.assert_array_equal(mask_tokens(ids, tok)[0].numpy(), out)
    with pytest.raises(ValueError):
        mask_tokens(ids, tok, mlm_prob=1.5)
    with pytest.raises(TypeError):
        mask_tokens(ids.astype(np.float64), tok)


def test_nsp_pairs(char_tok):
    from pydl.text import corpus_documents
    tok = char_tok
    docs = corpus_documents()[:30]
    d = nsp_pairs(docs, tok, n_pairs=200, max_len=400, seed=0)
    ids, tt, am, lab = d["input_ids"], d["token_type_ids"], d["attention_mask"], d["next_sentence_label"]
    assert ids.shape == (200, 400) and lab.sum() == 100
    locs = {}
    for i, doc in enumerate(docs):
        for j, sent in enumerate(doc):
            locs.setdefault(sent, []).append((i, j))
    n_true_checked = 0
    for r in range(200):
        n = am[r].sum()
        assert np.all(am[r, :n] == 1) and np.all(ids[r, n:] == tok.pad_token_id)
        assert ids[r, 0] == tok.cls_token_id and ids[r, n - 1] == tok.sep_token_id
        seps = np.flatnonzero(ids[r, :n] == tok.sep_token_id)
        assert len(seps) == 2
        assert np.all(tt[r, :seps[0] + 1] == 0) and np.all(tt[r, seps[0] + 1:n] == 1) and np.all(tt[r, n:] == 0)
        a, b = tok.decode(ids[r, 1:seps[0]]), tok.decode(ids[r, seps[0] + 1:n - 1])
        if a in locs and b in locs:  # not truncated: check where B came from (a sentence may repeat)
            pairs = [(la, lb) for la in locs[a] for lb in locs[b]]
            if lab[r] == 0:
                assert any(lb == (la[0], la[1] + 1) for la, lb in pairs)
                n_true_checked += 1
            else:
                assert any(lb[0] != la[0] for la, lb in pairs)
    assert n_true_checked > 50
    short = nsp_pairs(docs, tok, n_pairs=20, max_len=24, seed=1)
    assert np.all(short["attention_mask"].sum(1) <= 24)
    with pytest.raises(ValueError):
        nsp_pairs(docs[:1], tok, 4)


def test_split_sentences():
    s = split_sentences("First one here.  Second  one?\nThird: x = 1.\n\nNew paragraph without stop")
    assert s == ["First one here.", "Second one?", "Third: x = 1.", "New paragraph without stop"]


# ----------------------------------------------------------------------------- commands
def test_train_and_generate_commands(tmp_path, capsys):
    """python -m pydl.train gpt / bert on a tiny setting: they run, checkpoint, report baselines, and
    python -m pydl.generate rebuilds the model and tokenizer from the checkpoint."""
    from pydl import generate, train
    out = str(tmp_path / "gpt")
    res = train.main(["gpt", "--steps", "3", "--eval-interval", "3", "--n-layer", "1", "--n-embd", "16",
                      "--n-head", "2", "--block-size", "16", "--batch-size", "4", "--eval-windows", "4",
                      "--sample-tokens", "5", "--quiet", "--threads", "1", "--out", out])
    assert res["bigram_loss"] < res["unigram_loss"]  # the bigram baseline beats the unigram one
    assert math.isclose(res["val_ppl"], math.exp(res["val_loss"]))
    assert "validation: loss" in capsys.readouterr().out
    model, tok = generate.load_gpt(f"{out}/best.safetensors")
    assert model.config.n_embd == 16 and tok.vocab_size == res["vocab_size"]
    texts = generate.main([f"{out}/last.safetensors", "--prompt", "def", "--max-new-tokens", "6", "--greedy"])
    assert texts[0].startswith("def") and len(tok.encode(texts[0])) == 9
    beams = generate.main([f"{out}/last.safetensors", "--prompt", "def", "--max-new-tokens", "3", "--beams", "2"])
    assert beams[0].startswith("def")
    res = train.main(["bert", "--steps", "2", "--eval-interval", "2", "--hidden", "16", "--heads", "2",
                      "--layers", "1", "--pairs", "64", "--val-pairs", "32", "--max-len", "24", "--tokenizer", "char",
                      "--batch-size", "8", "--quiet", "--threads", "1", "--out", str(tmp_path / "bert")])
    assert 0.0 < res["unigram_mlm_acc"] < 0.5 and 0.0 <= res["val_mlm_acc"] <= 1.0
    with pytest.raises(SystemExit, match="not a GPT checkpoint"):
        generate.main([str(tmp_path / "bert" / "last.safetensors")])
