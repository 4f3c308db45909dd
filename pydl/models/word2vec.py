"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, and embedding utilities.

Objective for a (center, context) pair with k noise words n_1..n_k drawn from the unigram
distribution raised to 3/4 (:func:`noise_distribution`)::

    loss = -log σ(u_o · v) - Σ_j log σ(-u_{n_j} · v)

skip-gram: v = in_embed[center], o = one context word. CBOW: v = mean of in_embed over the context
window (padding ignored), o = the center word. ``in_embed`` holds the word vectors that are kept;
``out_embed`` the output ("context") vectors. Initialisation as the reference C code: in_embed
uniform in ±0.5/dim, out_embed zeros.

Frequent words are subsampled: each occurrence of word w with corpus frequency f(w) is kept with
probability min(1, sqrt(t / f(w))) — the paper's discard probability P(w) = 1 - sqrt(t / f(w))
(:func:`subsample_keep_prob`). Context windows are drawn per center word with a random radius in
[1, window], as in the C code, which weights near words more.

Utilities over the trained vectors (:class:`WordVectors`): most_similar (cosine), analogy
(b - a + c, "a is to b as c is to ?"), doesnt_match (the word farthest from the mean direction), and
over arbitrary vectors: :func:`cosine_similarity_matrix`, :func:`nearest_neighbors`.
"""
import math
import re
from collections import Counter

import numpy as np

from .. import _creation as C
from .. import nn
from ..autograd import no_grad
from ..nn import functional as F

__all__ = ["tokenize", "Vocabulary", "subsample_keep_prob", "noise_distribution", "skipgram_pairs",
           "cbow_examples", "SkipGram", "CBOW", "NegativeSampler", "train_word2vec", "WordVectors",
           "cosine_similarity_matrix", "nearest_neighbors"]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def tokenize(text):
    """Lower-cased words: runs of letters, with an inner apostrophe kept (``don't``)."""
    return _WORD.findall(text.lower())


class Vocabulary:
    """Words seen at least ``min_count`` times, most frequent first (ties alphabetical)."""

    def __init__(self, tokens, min_count=1, max_size=None):
        counts = Counter(tokens)
        items = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            items = items[:max_size]
        if not items:
            raise ValueError(f"Vocabulary: no word occurs at least min_count={min_count} times")
        self.itos = [w for w, _ in items]
        self.counts = np.array([c for _, c in items], dtype=np.int64)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __contains__(self, word):
        return word in self.stoi

    def encode(self, tokens):
        """Ids of the in-vocabulary tokens (others dropped)."""
        return np.array([self.stoi[t] for t in tokens if t in self.stoi], dtype=np.int64)


def subsample_keep_prob(counts, t=1e-4):
    """Per-word probability of keeping an occurrence: min(1, sqrt(t / f)), f = count / total."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts <= 0).any():
        raise ValueError("subsample_keep_prob: counts must be a 1-D array of positive numbers")
    if not t > 0:
        raise ValueError(f"subsample_keep_prob: t must be > 0, got {t}")
    f = counts / counts.sum()
    return np.minimum(1.0, np.sqrt(t / f))


def noise_distribution(counts, power=0.75):
    """Negative-sampling distribution: count^power, normalised."""
    p = np.asarray(counts, dtype=np.float64) ** power
    return p / p.sum()


def _subsample(ids, keep_prob, rng):
    if keep_prob is None:
        return ids
    return ids[rng.random(len(ids)) < keep_prob[ids]]


def skipgram_pairs(ids, window=5, keep_prob=None, seed=0):
    """(centers, contexts) int64 arrays: every word of the (subsampled) stream with each word within
    a radius drawn uniformly from [1, window] around it."""
    rng = np.random.default_rng(seed)
    ids = _subsample(np.asarray(ids, dtype=np.int64), keep_prob, rng)
    n = len(ids)
    radius = rng.integers(1, window + 1, size=n)
    centers, contexts = [], []
    for off in range(1, window + 1):  # vectorised over positions, one offset at a time
        sel = np.nonzero(radius >= off)[0]
        left = sel[sel - off >= 0]
        right = sel[sel + off < n]
        centers += [ids[left], ids[right]]
        contexts += [ids[left - off], ids[right + off]]
    return np.concatenate(centers), np.concatenate(contexts)


def cbow_examples(ids, window=5, keep_prob=None, seed=0, pad=-1):
    """(contexts (N, 2*window) int64 with ``pad`` where a slot is empty, centers (N,)) from the
    (subsampled) stream, with per-position random radius in [1, window]."""
    rng = np.random.default_rng(seed)
    ids = _subsample(np.asarray(ids, dtype=np.int64), keep_prob, rng)
    n = len(ids)
    radius = rng.integers(1, window + 1, size=n)
    ctx = np.full((n, 2 * window), pad, dtype=np.int64)
    pos = np.arange(n)
    for j, off in enumerate(list(range(-window, 0)) + list(range(1, window + 1))):
        src = pos + off
        ok = (src >= 0) & (src < n) & (radius >= abs(off))
        ctx[ok, j] = ids[src[ok]]
    keep = (ctx != pad).any(1)
    return ctx[keep], ids[keep]


class NegativeSampler:
    """Draws (B, k) noise word ids from ``noise_distribution(counts, power)`` (numpy generator)."""

    def __init__(self, counts, power=0.75, seed=0):
        self.cdf = np.cumsum(noise_distribution(counts, power))
        self.cdf[-1] = 1.0
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch, k):
        return np.searchsorted(self.cdf, self.rng.random((batch, k)), side="right").astype(np.int64)


def _neg_sampling_loss(v, u_pos, u_neg):
    """v (B, D) input vectors, u_pos (B, D), u_neg (B, k, D) → mean over the batch of
    -log σ(u_pos·v) - Σ log σ(-u_neg·v)."""
    pos = (u_pos * v).sum(-1)                                # (B,)
    neg = u_neg.bmm(v.unsqueeze(2)).squeeze(2)               # (B, k)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


class _Word2Vec(nn.Module):
    def __init__(self, vocab_size, dim=100, dtype=None):
        super().__init__()
        self.dim = dim
        self.in_embed = nn.Embedding(vocab_size, dim, dtype=dtype)
        self.out_embed = nn.Embedding(vocab_size, dim, dtype=dtype)
        with no_grad():
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.out_embed.weight.zero_()

    @property
    def vectors(self):
        """The input embeddings (V, D): the word vectors."""
        return self.in_embed.weight.detach()


class SkipGram(_Word2Vec):
    """``forward(center (B,), context (B,), negatives (B, k)) -> loss``: predict context from center."""

    def forward(self, center, context, negatives):
        v = self.in_embed(center)
        return _neg_sampling_loss(v, self.out_embed(context), self.out_embed(negatives))


class CBOW(_Word2Vec):
    """``forward(context (B, W) with -1 for empty slots, center (B,), negatives (B, k)) -> loss``:
    predict the center from the mean of its context's input vectors."""

    def forward(self, context, center, negatives):
        valid = context >= 0
        emb = self.in_embed(context.clamp(0, None))                              # (B, W, D)
        w = valid.to(emb.dtype)
        n = w.sum(1, keepdim=True)
        if bool((n == 0).any().item()):
            raise ValueError("CBOW: every example needs at least one context word")
        v = (emb * w.unsqueeze(2)).sum(1) / n                                    # (B, D)
        return _neg_sampling_loss(v, self.out_embed(center), self.out_embed(negatives))


def train_word2vec(ids, counts, model="skipgram", dim=100, window=5, negatives=5, epochs=1, batch_size=1024,
                   lr=0.01, subsample_t=1e-4, seed=0, show_progress=False, log=None):
    """Train skip-gram or CBOW on the id stream; returns (model, History of mean epoch losses).

    Examples are redrawn every epoch (new subsampling and window radii), shuffled, and fed in batches
    with ``negatives`` noise words per example. Optimiser: Adam on the dense embedding gradients
    (pydl has no sparse gradients; the tables here are small, ~1300 x 100)."""
    from .. import optim
    from ..training import History, progress
    if model not in ("skipgram", "cbow"):
        raise ValueError(f"train_word2vec: model must be 'skipgram' or 'cbow', got {model!r}")
    counts = np.asarray(counts)
    C.manual_seed(seed)
    net = SkipGram(len(counts), dim) if model == "skipgram" else CBOW(len(counts), dim)
    opt = optim.Adam(net.parameters(), lr=lr)
    keep = subsample_keep_prob(counts, subsample_t) if subsample_t else None
    sampler = NegativeSampler(counts, seed=seed)
    hist = History()
    for epoch in range(epochs):
        if model == "skipgram":
            a, b = skipgram_pairs(ids, window, keep, seed=seed + epoch)
        else:
            a, b = cbow_examples(ids, window, keep, seed=seed + epoch)
        order = np.random.default_rng(seed + 1000 + epoch).permutation(len(b))
        a, b = a[order], b[order]
        total, steps = 0.0, 0
        bar = progress(range(0, len(b), batch_size), f"epoch {epoch + 1}/{epochs}",
                       math.ceil(len(b) / batch_size), show_progress)
        for i in bar:
            x, y = C.tensor(a[i:i + batch_size]), C.tensor(b[i:i + batch_size])
            neg = C.tensor(sampler(len(y), negatives))
            opt.zero_grad()
            loss = net(x, y, neg)
            loss.backward()
            opt.step()
            total += float(loss.item())
            steps += 1
        hist.add(train_loss=total / max(steps, 1))
        if log:
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {total / max(steps, 1):.4f}  ({len(b)} examples)")
    return net, hist


# ----------------------------------------------------------------------------- embedding utilities
def _as_matrix(x, name):
    a = x.detach() if hasattr(x, "detach") else C.tensor(np.asarray(x, dtype=np.float64))
    if a.ndim == 1:
        a = a.unsqueeze(0)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected vectors as a (N, D) array, got shape {tuple(a.shape)}")
    return a


def cosine_similarity_matrix(a, b=None, eps=1e-12):
    """(N, M) cosine similarities between the rows of a (N, D) and b (M, D) (b = a when omitted);
    pydl tensors or anything numpy accepts."""
    a = _as_matrix(a, "cosine_similarity_matrix")
    b = a if b is None else _as_matrix(b, "cosine_similarity_matrix")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"cosine_similarity_matrix: dimension mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    b = b.to(a.dtype)
    an = a / (a.norm(dim=1, keepdim=True) + eps)
    bn = b / (b.norm(dim=1, keepdim=True) + eps)
    return an.matmul(bn.t())


def nearest_neighbors(queries, keys, k=10, exclude=None):
    """The k keys most cosine-similar to each query: (indices (N, k), similarities (N, k)) numpy.
    ``exclude``: per query, an iterable of key indices to skip (e.g. the query words themselves)."""
    sim = cosine_similarity_matrix(queries, keys).numpy().astype(np.float64)
    if exclude is not None:
        for row, ex in enumerate(exclude):
            for j in ex:
                sim[row, j] = -np.inf
    k = min(k, sim.shape[1])
    if k <= 0:
        raise ValueError(f"nearest_neighbors: k must be >= 1, got {k}")
    idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sim, idx, 1)


class WordVectors:
    """Word → vector lookups and the classic queries over a (V, D) matrix and its vocabulary."""

    def __init__(self, vectors, itos):
        v = vectors.detach().numpy() if hasattr(vectors, "detach") else np.asarray(vectors)
        if v.ndim != 2 or v.shape[0] != len(itos):
            raise ValueError(f"WordVectors: vectors {v.shape} do not match a vocabulary of {len(itos)} words")
        self.vectors = np.asarray(v, dtype=np.float64)
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __contains__(self, word):
        return word in self.stoi

    def __getitem__(self, word):
        return self.vectors[self._id(word)]

    def _id(self, word):
        if word not in self.stoi:
            raise KeyError(f"WordVectors: {word!r} is not in the vocabulary")
        return self.stoi[word]

    def similarity(self, a, b):
        return float(cosine_similarity_matrix(self[a], self[b]).item())

    def most_similar(self, word, k=10):
        """[(word, cosine)] of the k nearest words to ``word`` (itself excluded)."""
        i = self._id(word)
        idx, sim = nearest_neighbors(self.vectors[i], self.vectors, k, exclude=[[i]])
        return [(self.itos[j], float(s)) for j, s in zip(idx[0], sim[0])]

    def analogy(self, a, b, c, k=1):
        """"a is to b as c is to ?": the words nearest to b - a + c (unit vectors, 3CosAdd),
        excluding a, b and c."""
        ids = [self._id(w) for w in (a, b, c)]
        unit = self.vectors / (np.linalg.norm(self.vectors, axis=1, keepdims=True) + 1e-12)
        q = unit[ids[1]] - unit[ids[0]] + unit[ids[2]]
        idx, sim = nearest_neighbors(q, self.vectors, k, exclude=[ids])
        return [(self.itos[j], float(s)) for j, s in zip(idx[0], sim[0])]

    def doesnt_match(self, words):
        """The word least similar to the mean of the (unit) vectors of ``words``."""
        words = list(words)
        if len(words) < 2:
            raise ValueError("doesnt_match: give at least two words")
        ids = [self._id(w) for w in words]
        unit = self.vectors[ids] / (np.linalg.norm(self.vectors[ids], axis=1, keepdims=True) + 1e-12)
        sim = cosine_similarity_matrix(unit, unit.mean(0)).numpy()[:, 0]
        return words[int(np.argmin(sim))]
