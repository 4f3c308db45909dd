"""GPT: a decoder-only Transformer language model (GPT-2's architecture, nanoGPT's module names).

token + learned position embeddings → dropout → n_layer pre-norm blocks
(x + attn(ln_1(x)), x + mlp(ln_2(x)); causal self-attention through
``F.scaled_dot_product_attention``; MLP 4·n_embd with exact GELU) → ln_f → lm_head, whose weight is
the token embedding's (tied). GPT-2 initialisation: every Linear/Embedding weight ~ N(0, 0.02),
biases 0, and the two residual projections (``attn.c_proj``, ``mlp.c_proj``) ~ N(0, 0.02/sqrt(2·n_layer))
so the residual stream's variance does not grow with depth.

``forward(idx, targets=None, past_key_values=None, use_cache=False)`` returns ``(logits, loss)``, or
``(logits, loss, present)`` with ``use_cache``: ``present`` holds each layer's keys and values
(B, n_head, S, head_dim) so that the next call only runs the new tokens. ``generate`` does greedy
decoding, sampling (temperature, top-k, top-p) and beam search, with or without that cache
(the tokens are the same either way).
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.shape import cat

__all__ = ["GPTConfig", "GPT", "top_k_top_p_filter", "sample_from_probs"]


@dataclass
class GPTConfig:
    vocab_size: int = 256
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"GPTConfig.{k} must be >= 1, got {getattr(self, k)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must lie in [0, 1), got {self.dropout}")

    def to_dict(self):
        return asdict(self)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_embd, self.dropout = cfg.n_head, cfg.n_embd, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, layer_past=None, use_cache=False):
        B, T, Cn = x.shape
        hs = Cn // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.reshape(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.reshape(B, T, self.n_head, hs).transpose(1, 2)
        v = v.reshape(B, T, self.n_head, hs).transpose(1, 2)
        if layer_past is not None:
            k = cat([layer_past[0], k], dim=2)  # (B, nh, S, hs), S = past + T
            v = cat([layer_past[1], v], dim=2)
        present = (k, v) if use_cache else None
        S = k.shape[2]
        p = self.dropout if self.training else 0.0
        if S == T:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        elif T == 1:  # one new token sees every cached key
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:  # T new tokens after S - T cached ones: causal, bottom-right aligned
            keep = np.tril(np.ones((T, S), dtype=bool), S - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=C.tensor(keep), dropout_p=p)
        y = y.transpose(1, 2).reshape(B, T, Cn)
        return self.resid_dropout(self.c_proj(y)), present


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, layer_past=None, use_cache=False):
        a, present = self.attn(self.ln_1(x), layer_past, use_cache)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, present


class GPT(nn.Module):
    def __init__(self, config=None, **kwargs):
        super().__init__()
        if config is None:
            config = GPTConfig(**kwargs)
        elif kwargs:
            raise TypeError("GPT: pass a GPTConfig or keyword arguments, not both")
        elif isinstance(config, dict):
            config = GPTConfig(**config)
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.reset_parameters()

    def reset_parameters(self):
        std_resid = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, std_resid if name.endswith("c_proj") else 0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def num_parameters(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())  # the tied lm_head counts once
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, past_key_values=None, use_cache=False):
        if idx.ndim != 2:
            raise ValueError(f"GPT: idx must be (B, T) token ids, got shape {tuple(idx.shape)}")
        B, T = idx.shape
        past = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if past_key_values is not None and len(past_key_values) != self.config.n_layer:
            raise ValueError(f"GPT: past_key_values has {len(past_key_values)} layers, the model {self.config.n_layer}")
        if past + T > self.config.block_size:
            raise ValueError(f"GPT: sequence of {past + T} tokens (past {past} + {T}) is longer than "
                             f"block_size={self.config.block_size}")
        pos = C.arange(past, past + T)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        presents = []
        for i, block in enumerate(self.transformer.h):
            x, present = block(x, None if past_key_values is None else past_key_values[i], use_cache)
            presents.append(present)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-100)
        if use_cache:
            return logits, loss, presents
        return logits, loss

    # ------------------------------------------------------------------ decoding
    def _next_logits(self, idx, cache, use_cache):
        """float64 numpy (B, V) logits of the next token after idx (B, T); the cache advances."""
        bs = self.config.block_size
        if not use_cache:
            logits, _ = self(idx[:, -bs:])
            return logits[:, -1, :].numpy().astype(np.float64), None
        if cache is not None and cache[0][0].shape[2] + 1 <= bs:
            logits, _, cache = self(idx[:, -1:], past_key_values=cache, use_cache=True)
        else:
            # first call, or the window is full: every position shifts when the oldest token drops
            # out, so the cached keys are stale and the cropped context is recomputed (a full
            # cache stays full, so this repeats each step from then on, as without the cache)
            logits, _, cache = self(idx[:, -bs:], use_cache=True)
        return logits[:, -1, :].numpy().astype(np.float64), cache

    @no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, do_sample=False,
                 use_cache=True, num_beams=1, eos_token_id=None, length_penalty=1.0):
        """Continue ``idx`` (B, T) by ``max_new_tokens`` tokens; returns (B, T + new) int64.

        do_sample=False: greedy (num_beams=1) or beam search (num_beams > 1: the sequences of highest
        summed log-probability, divided by length**length_penalty for those ended by eos).
        do_sample=True: softmax(logits / temperature) restricted to the top_k tokens and then to the
        smallest set of most probable tokens whose probability reaches top_p; the draws come from
        pydl's generator (``pydl.manual_seed``). With ``eos_token_id``, a row that produced it is
        padded with it and generation stops once every row has."""
        if max_new_tokens < 0:
            raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        if temperature <= 0 and do_sample:
            raise ValueError(f"generate: temperature must be > 0 when sampling, got {temperature}")
        if num_beams < 1:
            raise ValueError(f"generate: num_beams must be >= 1, got {num_beams}")
        if num_beams > 1 and do_sample:
            raise ValueError("generate: beam search is deterministic; do_sample=True needs num_beams=1")
        was_training = self.training
        self.eval()
        try:
            if num_beams > 1:
                return self._beam_search(idx, max_new_tokens, num_beams, use_cache, eos_token_id, length_penalty)
            seq = idx.numpy().astype(np.int64)
            done = np.zeros(seq.shape[0], dtype=bool)
            cache = None
            for _ in range(max_new_tokens):
                logits, cache = self._next_logits(C.tensor(seq), cache, use_cache)
                if do_sample:
                    probs = _softmax(top_k_top_p_filter(logits / temperature, top_k, top_p))
                    nxt = sample_from_probs(probs)
                else:
                    nxt = logits.argmax(axis=-1)
                if eos_token_id is not None:
                    nxt = np.where(done, eos_token_id, nxt)
                    done |= nxt == eos_token_id
                seq = np.concatenate([seq, nxt[:, None].astype(np.int64)], axis=1)
                if eos_token_id is not None and done.all():
                    break
            return C.tensor(seq)
        finally:
            self.train(was_training)

    def _beam_search(self, idx, max_new_tokens, num_beams, use_cache, eos_token_id, length_penalty):
        rows = []
        for b in range(idx.shape[0]):
            rows.append(self._beam_search_row(idx.numpy()[b].astype(np.int64), max_new_tokens, num_beams,
                                              use_cache, eos_token_id, length_penalty))
        width = max(len(r) for r in rows)
        pad = eos_token_id if eos_token_id is not None else 0
        out = np.full((len(rows), width), pad, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return C.tensor(out)

    def _beam_search_row(self, prompt, max_new_tokens, num_beams, use_cache, eos_token_id, length_penalty):
        beams = prompt[None, :]            # (nb, T) alive hypotheses
        scores = np.zeros(1)               # their summed log-probabilities
        finished = []                      # (score, tokens) of hypotheses ended by eos
        cache = None
        for step in range(max_new_tokens):
            logits, cache = self._next_logits(C.tensor(beams), cache, use_cache)
            logp = _log_softmax(logits)    # (nb, V)
            V = logp.shape[1]
            cand = (scores[:, None] + logp).reshape(-1)
            order = np.argsort(-cand, kind="stable")[:2 * num_beams]  # enough to refill after eos
            keep_b, keep_t, keep_s = [], [], []
            for j in order:
                b, t = divmod(int(j), V)
                if eos_token_id is not None and t == eos_token_id:
                    gen_len = beams.shape[1] + 1 - len(prompt)
                    finished.append((cand[j] / gen_len ** length_penalty,
                                     np.concatenate([beams[b], [t]])))
                    continue
                keep_b.append(b), keep_t.append(t), keep_s.append(cand[j])
                if len(keep_b) == num_beams:
                    break
            if len(finished) >= num_beams or not keep_b:
                break
            kb = np.array(keep_b)
            beams = np.concatenate([beams[kb], np.array(keep_t, dtype=np.int64)[:, None]], axis=1)
            scores = np.array(keep_s)
            if cache is not None:
                sel = C.tensor(kb)
                cache = [(k.index_select(0, sel), v.index_select(0, sel)) for k, v in cache]
        gen_len = beams.shape[1] - len(prompt)
        alive = [(s / max(gen_len, 1) ** length_penalty if eos_token_id is not None else s, b)
                 for s, b in zip(scores, beams)]
        pool = finished + alive if eos_token_id is not None else alive
        best = max(range(len(pool)), key=lambda i: pool[i][0])
        return pool[best][1]


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0.0))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def top_k_top_p_filter(logits, top_k=None, top_p=None):
    """numpy (B, V) logits with the excluded tokens set to -inf.

    top_k keeps the k largest logits (ties at the k-th value are kept). top_p keeps, in order of
    decreasing probability, every token whose preceding probability mass is below top_p (so the
    smallest set reaching top_p, and always the most probable token) — HuggingFace's rule."""
    x = np.array(logits, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if top_k is not None:
        top_k = int(top_k)
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if top_k < x.shape[-1]:
            kth = np.sort(x, axis=-1)[:, -top_k][:, None]
            x = np.where(x < kth, -np.inf, x)
    if top_p is not None:
        if not 0.0 < float(top_p) <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
        order = np.argsort(-x, axis=-1, kind="stable")
        p_sorted = np.take_along_axis(_softmax(x), order, axis=-1)
        before = np.cumsum(p_sorted, axis=-1) - p_sorted  # probability mass ahead of each token
        remove_sorted = before >= top_p
        remove_sorted[:, 0] = False
        remove = np.zeros_like(remove_sorted)
        np.put_along_axis(remove, order, remove_sorted, axis=-1)
        x = np.where(remove, -np.inf, x)
    return x


def sample_from_probs(probs):
    """One index per row of ``probs`` (B, V), drawn with a uniform from pydl's generator (inverse
    CDF: the first index whose cumulative probability exceeds u·total)."""
    probs = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(probs, axis=-1)
    from .._dtype import float64
    u = C.rand(probs.shape[0], dtype=float64).numpy() * cdf[:, -1]
    idx = np.array([np.searchsorted(cdf[i], u[i], side="right") for i in range(len(u))], dtype=np.int64)
    # never land on a zero-probability token (u at the very top of the cdf, or after it)
    last = np.array([np.flatnonzero(p > 0)[-1] for p in probs])
    return np.minimum(idx, last)
