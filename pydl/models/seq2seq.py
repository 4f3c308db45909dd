"""LSTM encoder–decoder with attention, and a synthetic task with a measurable answer.

Model (Luong et al. 2015, "global attention" with input feeding)::

    encoder:  src (B, S) → Embedding → LSTM → enc (B, S, H), final state (h, c)
    decoder step t, from the encoder's final state:
        x_t   = [Embedding(y_{t-1}); h~_{t-1}]             (input feeding: the last attentional state)
        h_t   = LSTM(x_t, state)
        a_t   = softmax(score(h_t, enc) masked at source padding)   (B, S)
        c_t   = a_t · enc                                   (B, H) context
        h~_t  = tanh(W_c [c_t; h_t]);   logits_t = W_o h~_t

``attention="dot"``: score = enc · h_t (Luong's dot). ``attention="additive"``: score =
v^T tanh(W_k enc + W_q h_t) (Bahdanau's additive / Luong's "concat" score, here used in the same
flow as the dot score so that the two differ only in the scoring function).

Training feeds the ground-truth previous token with probability ``teacher_forcing_ratio`` at each step
(drawn from pydl's generator, so ``pydl.manual_seed`` makes it reproducible), else the model's own
previous argmax. :meth:`Seq2Seq.greedy_decode` always feeds its own argmax.

Task (:func:`make_digit_task`): reverse (or sort) a sequence of digits. Tokens: 0 <pad>, 1 <s>,
2 </s>, 3..12 the digits 0..9. The source is the digits then </s>, LEFT-padded (so that the
encoder's final state comes after the real tokens); the decoder input is <s> + answer and the target
answer + </s>, both right-padded; the loss ignores <pad>. :func:`exact_match` counts a sequence as
right when every token up to and including </s> is.
"""
import math

import numpy as np

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.shape import cat, stack

__all__ = ["PAD", "SOS", "EOS", "DIGIT0", "DIGIT_VOCAB", "make_digit_task", "decode_digits", "Seq2Seq",
           "seq2seq_loss", "train_seq2seq_epoch", "greedy_outputs", "exact_match"]

PAD, SOS, EOS, DIGIT0 = 0, 1, 2, 3
DIGIT_VOCAB = DIGIT0 + 10


# ----------------------------------------------------------------------------- the synthetic task
def _answer(seq, task):
    if task == "reverse":
        return seq[::-1]
    if task == "sort":
        return sorted(seq)
    raise ValueError(f"make_digit_task: task must be 'reverse' or 'sort', got {task!r}")


def make_digit_task(n, min_len=3, max_len=10, task="reverse", seed=0, exclude=None):
    """``n`` distinct random digit sequences (lengths uniform in [min_len, max_len]) and their answers.

    Returns a dict of int64 numpy arrays: ``src`` (n, max_len + 1) left-padded digits + </s>;
    ``tgt_in`` (n, max_len + 1) <s> + answer, right-padded; ``tgt_out`` (n, max_len + 1) answer + </s>,
    right-padded; plus ``seqs``, the set of digit tuples drawn (pass it as ``exclude`` to draw a
    held-out set that shares no sequence with the training set)."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"make_digit_task: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    _answer([], task)
    capacity = sum(10 ** k for k in range(min_len, max_len + 1))
    exclude = set(exclude or ())
    if n > capacity - len(exclude):
        raise ValueError(f"make_digit_task: cannot draw {n} distinct sequences of lengths {min_len}..{max_len}")
    rng = np.random.default_rng(seed)
    L = max_len + 1
    src = np.full((n, L), PAD, dtype=np.int64)
    tgt_in = np.full((n, L), PAD, dtype=np.int64)
    tgt_out = np.full((n, L), PAD, dtype=np.int64)
    seen = set()
    i = 0
    while i < n:
        k = int(rng.integers(min_len, max_len + 1))
        seq = tuple(int(d) for d in rng.integers(0, 10, size=k))
        if seq in seen or seq in exclude:
            continue
        seen.add(seq)
        ans = [d + DIGIT0 for d in _answer(list(seq), task)]
        src[i, L - k - 1:] = [d + DIGIT0 for d in seq] + [EOS]
        tgt_in[i, :k + 1] = [SOS] + ans
        tgt_out[i, :k + 1] = ans + [EOS]
        i += 1
    return {"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out, "seqs": seen}


def decode_digits(ids):
    """Token ids → the digit string up to the first </s> (pad and <s> skipped)."""
    out = []
    for t in ids:
        t = int(t)
        if t == EOS:
            break
        if t >= DIGIT0:
            out.append(str(t - DIGIT0))
    return "".join(out)


# ----------------------------------------------------------------------------- model
class Seq2Seq(nn.Module):
    """``forward(src (B, S), tgt_in (B, T), teacher_forcing_ratio=1.0) -> logits (B, T, V)``."""

    def __init__(self, vocab_size, embed_dim=32, hidden_size=128, num_layers=1, attention="dot", dropout=0.0,
                 pad_idx=PAD, dtype=None):
        super().__init__()
        if attention not in ("dot", "additive"):
            raise ValueError(f"Seq2Seq: attention must be 'dot' or 'additive', got {attention!r}")
        self.vocab_size, self.hidden_size, self.attention, self.pad_idx = vocab_size, hidden_size, attention, pad_idx
        kw = {"dtype": dtype}
        lstm_drop = dropout if num_layers > 1 else 0.0
        self.src_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx, **kw)
        self.encoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, dropout=lstm_drop, **kw)
        self.tgt_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx, **kw)
        self.decoder = nn.LSTM(embed_dim + hidden_size, hidden_size, num_layers, batch_first=True,
                               dropout=lstm_drop, **kw)
        if attention == "additive":
            self.attn_query = nn.Linear(hidden_size, hidden_size, bias=False, **kw)
            self.attn_key = nn.Linear(hidden_size, hidden_size, **kw)
            self.attn_v = nn.Linear(hidden_size, 1, bias=False, **kw)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, **kw)
        self.out = nn.Linear(hidden_size, vocab_size, **kw)
        self.drop = nn.Dropout(dropout)

    def encode(self, src):
        """enc (B, S, H), decoder start state, source padding mask (B, S) bool, attention keys."""
        if src.ndim != 2:
            raise ValueError(f"Seq2Seq: src must be (batch, time), got shape {tuple(src.shape)}")
        enc, state = self.encoder(self.drop(self.src_embed(src)))
        keys = self.attn_key(enc) if self.attention == "additive" else None
        return enc, state, src == self.pad_idx, keys

    def _step(self, tok, feed, state, enc, mask, keys):
        """One decoder step: tok (B,) ids, feed (B, H) → logits (B, V), new feed, new state, weights."""
        x = cat([self.drop(self.tgt_embed(tok)), feed], -1).unsqueeze(1)
        out, state = self.decoder(x, state)
        h = out[:, 0]
        if self.attention == "dot":
            scores = enc.bmm(h.unsqueeze(2)).squeeze(2)                                  # (B, S)
        else:
            scores = self.attn_v((keys + self.attn_query(h).unsqueeze(1)).tanh()).squeeze(2)
        weights = F.softmax(scores.masked_fill(mask, float("-inf")), -1)
        ctx = weights.unsqueeze(1).bmm(enc).squeeze(1)                                   # (B, H)
        feed = self.combine(cat([ctx, h], -1)).tanh()
        return self.out(self.drop(feed)), feed, state, weights

    def forward(self, src, tgt_in, teacher_forcing_ratio=1.0):
        if tgt_in.ndim != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"Seq2Seq: tgt_in must be (batch, time) with the batch of src {tuple(src.shape)}, "
                             f"got {tuple(tgt_in.shape)}")
        enc, state, mask, keys = self.encode(src)
        B = src.shape[0]
        feed = C.zeros((B, self.hidden_size), dtype=enc.dtype)
        logits, tok = [], tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            lg, feed, state, _ = self._step(tok, feed, state, enc, mask, keys)
            logits.append(lg)
            if t + 1 < tgt_in.shape[1]:
                use_truth = teacher_forcing_ratio >= 1.0 or (
                    teacher_forcing_ratio > 0.0 and float(C.rand(1).item()) < teacher_forcing_ratio)
                tok = tgt_in[:, t + 1] if use_truth else lg.detach().argmax(-1)
        return stack(logits, 1)

    def greedy_decode(self, src, max_len, sos_idx=SOS, eos_idx=EOS, return_attention=False):
        """(B, max_len) ids, each step fed the previous argmax; stops early once every row has
        produced </s>. With ``return_attention``, also the (B, steps, S) attention weights."""
        was = self.training
        self.eval()
        with no_grad():
            enc, state, mask, keys = self.encode(src)
            B = src.shape[0]
            feed = C.zeros((B, self.hidden_size), dtype=enc.dtype)
            tok = C.full((B,), sos_idx, dtype=src.dtype)
            outs, attn = [], []
            done = np.zeros(B, dtype=bool)
            for _ in range(max_len):
                lg, feed, state, w = self._step(tok, feed, state, enc, mask, keys)
                tok = lg.argmax(-1)
                outs.append(tok)
                attn.append(w)
                done |= tok.numpy() == eos_idx
                if done.all():
                    break
        self.train(was)
        ids = stack(outs, 1)
        return (ids, stack(attn, 1)) if return_attention else ids


# ----------------------------------------------------------------------------- training and scoring
def seq2seq_loss(logits, tgt_out, pad_idx=PAD):
    """Mean token cross-entropy over the non-pad target positions."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_idx)


def train_seq2seq_epoch(model, data, optimizer, batch_size=64, clip=1.0, seed=0, show_progress=False,
                        desc="train", **forward_kw):
    """One shuffled pass over ``data`` (make_digit_task's dict); returns the mean batch loss.
    ``forward_kw`` goes to the model (e.g. teacher_forcing_ratio for :class:`Seq2Seq`)."""
    from ..nn.utils import clip_grad_norm_
    from ..training import progress
    model.train()
    n = len(data["src"])
    order = np.random.default_rng(seed).permutation(n)
    total, steps = 0.0, 0
    for i in progress(range(0, n, batch_size), desc, math.ceil(n / batch_size), show_progress):
        idx = order[i:i + batch_size]
        src, tgt_in, tgt_out = (C.tensor(data[k][idx]) for k in ("src", "tgt_in", "tgt_out"))
        optimizer.zero_grad()
        loss = seq2seq_loss(model(src, tgt_in, **forward_kw), tgt_out)
        lv = float(loss.item())
        if not math.isfinite(lv):
            raise RuntimeError(f"train_seq2seq_epoch: the loss became {lv}; lower the learning rate")
        loss.backward()
        if clip:
            clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += lv
        steps += 1
    return total / max(steps, 1)


def greedy_outputs(model, src, max_len, batch_size=512):
    """Greedy decodes of the (N, S) numpy source array, (N, max_len) int64 numpy (padded with <pad>)."""
    out = np.full((len(src), max_len), PAD, dtype=np.int64)
    for i in range(0, len(src), batch_size):
        ids = model.greedy_decode(C.tensor(src[i:i + batch_size]), max_len).numpy()
        out[i:i + len(ids), :ids.shape[1]] = ids
    return out


def exact_match(model, data, batch_size=512):
    """Fraction of sequences whose greedy decode equals the target through its </s>."""
    tgt = data["tgt_out"]
    pred = greedy_outputs(model, data["src"], tgt.shape[1], batch_size)
    right = 0
    for p, t in zip(pred, tgt):
        k = int(np.argmax(t == EOS)) + 1
        right += bool(np.array_equal(p[:k], t[:k]))
    return right / len(tgt)
