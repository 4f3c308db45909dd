"""Recurrent language model (character or word level) and its truncated-BPTT training helpers.

    tokens (B, T) → Embedding → Dropout → RNN | LSTM | GRU (num_layers, dropout between layers)
                  → Dropout → Linear → logits (B, T, V)

Module names follow PyTorch's word_language_model example (``encoder``, ``rnn``, ``decoder``), so a
state_dict moves between the two. With ``tie_weights`` the decoder reuses the embedding matrix
(Press & Wolf 2017, Inan et al. 2017); that needs ``hidden_size == embed_dim``.

Truncated back-propagation through time: the token stream is cut into ``batch_size`` parallel streams
(:func:`batchify`); each training step runs ``bptt`` steps of every stream, carrying the hidden state
over from the previous chunk but detached from its graph (:func:`detach_hidden`), so gradients flow
back at most ``bptt`` steps while the state still sees the whole history.
"""
import math

import numpy as np

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..nn import functional as F

__all__ = ["RNNLanguageModel", "CharVocab", "batchify", "detach_hidden", "tbptt_batches", "train_epoch_tbptt",
           "evaluate_lm", "generate_text", "unigram_cross_entropy"]

_CELLS = {"rnn": "RNN", "rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


class RNNLanguageModel(nn.Module):
    """Next-token model: ``forward(tokens (B, T), hidden=None) -> (logits (B, T, V), hidden)``.

    ``cell`` is "lstm", "gru", "rnn" (= "rnn_tanh") or "rnn_relu". ``dropout`` is applied to the
    embeddings, between recurrent layers and before the decoder (Zaremba et al. 2014)."""

    def __init__(self, vocab_size, embed_dim=64, hidden_size=128, num_layers=1, cell="lstm", dropout=0.0,
                 tie_weights=False, dtype=None):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"RNNLanguageModel: cell must be one of {sorted(_CELLS)}, got {cell!r}")
        if tie_weights and hidden_size != embed_dim:
            raise ValueError(f"RNNLanguageModel: tie_weights needs hidden_size == embed_dim, got hidden_size="
                             f"{hidden_size} and embed_dim={embed_dim}")
        self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        self.num_layers, self.cell, self.tie_weights = num_layers, cell, tie_weights
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, embed_dim, dtype=dtype)
        kind = _CELLS[cell]
        kw = {"dropout": dropout if num_layers > 1 else 0.0, "batch_first": True, "dtype": dtype}
        if kind == "RNN":
            self.rnn = nn.RNN(embed_dim, hidden_size, num_layers,
                              nonlinearity="relu" if cell == "rnn_relu" else "tanh", **kw)
        else:
            self.rnn = getattr(nn, kind)(embed_dim, hidden_size, num_layers, **kw)
        self.decoder = nn.Linear(hidden_size, vocab_size, dtype=dtype)
        self.init_weights()
        if tie_weights:
            self.decoder.weight = self.encoder.weight

    def init_weights(self, scale=0.1):
        with no_grad():
            self.encoder.weight.uniform_(-scale, scale)
            self.decoder.weight.uniform_(-scale, scale)
            self.decoder.bias.zero_()

    def init_hidden(self, batch_size):
        """Zero state: h (or (h, c) for an LSTM), each (num_layers, B, H)."""
        w = self.decoder.weight
        h = C.zeros((self.num_layers, batch_size, self.hidden_size), dtype=w.dtype)
        if _CELLS[self.cell] == "LSTM":
            return h, C.zeros((self.num_layers, batch_size, self.hidden_size), dtype=w.dtype)
        return h

    def forward(self, tokens, hidden=None):
        if tokens.ndim != 2:
            raise ValueError(f"RNNLanguageModel: tokens must be (batch, time), got shape {tuple(tokens.shape)}")
        x = self.drop(self.encoder(tokens))
        out, hidden = self.rnn(x, hidden)
        return self.decoder(self.drop(out)), hidden


def detach_hidden(hidden):
    """The same state cut from its graph (truncated BPTT): a tensor, or a tuple of them (LSTM)."""
    if hidden is None:
        return None
    if isinstance(hidden, tuple):
        return tuple(h.detach() for h in hidden)
    return hidden.detach()


class CharVocab:
    """Characters of a text ↔ ids, most frequent first (ties by code point)."""

    def __init__(self, text):
        if not text:
            raise ValueError("CharVocab: the text is empty")
        chars, counts = np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_counts=True)
        order = np.lexsort((chars, -counts))
        self.itos = [chr(int(c)) for c in chars[order]]
        self.counts = counts[order].astype(np.int64)
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        try:
            return np.array([self.stoi[c] for c in text], dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"CharVocab: character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in ids)


def batchify(ids, batch_size):
    """(N,) ids → (batch_size, N // batch_size) int64 tensor: row b is the b-th contiguous slice of the
    stream (the tail that does not fill a row is dropped)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(f"batchify: {len(ids)} tokens are too few for {batch_size} streams of 2+ tokens")
    return C.tensor(np.ascontiguousarray(ids[:n * batch_size].reshape(batch_size, n)))


def tbptt_batches(data, bptt):
    """Yield (inputs (B, t), targets (B, t)) chunks of the (B, N) streams, t = bptt except the last."""
    n = data.shape[1]
    for i in range(0, n - 1, bptt):
        t = min(bptt, n - 1 - i)
        yield data[:, i:i + t], data[:, i + 1:i + 1 + t]


def train_epoch_tbptt(model, data, optimizer, bptt=64, clip=0.25, show_progress=False, desc="train",
                      on_step=None):
    """One pass over the (B, N) streams with truncated BPTT and gradient-norm clipping.
    Returns the mean per-token training loss. ``on_step(step, loss)`` is called after each update."""
    from ..nn.utils import clip_grad_norm_
    from ..training import progress
    model.train()
    hidden, total, count = None, 0.0, 0
    steps = math.ceil((data.shape[1] - 1) / bptt)
    for step, (x, y) in enumerate(progress(tbptt_batches(data, bptt), desc, steps, show_progress)):
        hidden = detach_hidden(hidden)
        optimizer.zero_grad()
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        lv = float(loss.item())
        if not math.isfinite(lv):
            raise RuntimeError(f"train_epoch_tbptt: the loss became {lv} at step {step}; lower the learning "
                               f"rate or the clipping norm")
        loss.backward()
        if clip:
            clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += lv * y.numel()
        count += y.numel()
        if on_step is not None:
            on_step(step, lv)
    return total / max(count, 1)


def evaluate_lm(model, data, bptt=128):
    """Mean per-token cross-entropy (nats) of the (B, N) streams, state carried across chunks."""
    was = model.training
    model.eval()
    hidden, total, count = None, 0.0, 0
    with no_grad():
        for x, y in tbptt_batches(data, bptt):
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            total += float(loss.item()) * y.numel()
            count += y.numel()
    model.train(was)
    return total / max(count, 1)


def unigram_cross_entropy(train_ids, eval_ids, vocab_size):
    """Baseline: cross-entropy (nats/token) of ``eval_ids`` under the add-one-smoothed unigram
    distribution of ``train_ids`` (what a model that ignores context can reach)."""
    counts = np.bincount(np.asarray(train_ids).reshape(-1), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[np.asarray(eval_ids).reshape(-1)].mean())


def generate_text(model, prompt_ids, length, temperature=1.0, greedy=False, seed=0):
    """Continue ``prompt_ids`` by ``length`` tokens, one at a time, feeding the state forward.
    ``greedy`` takes the argmax; otherwise samples from softmax(logits / temperature)."""
    if len(prompt_ids) == 0:
        raise ValueError("generate_text: the prompt is empty")
    if not greedy and not temperature > 0:
        raise ValueError(f"generate_text: temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    out = [int(i) for i in prompt_ids]
    with no_grad():
        logits, hidden = model(C.tensor(np.asarray([out], dtype=np.int64)))
        for _ in range(length):
            last = logits[0, -1].numpy().astype(np.float64)
            if greedy:
                nxt = int(last.argmax())
            else:
                z = last / temperature
                p = np.exp(z - z.max())
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, hidden = model(C.tensor(np.array([[nxt]], dtype=np.int64)), hidden)
    model.train(was)
    return out
