"""BERT pre-training data: masked-language-model corruption and next-sentence-prediction pairs.

``mask_tokens`` follows BERT's rule: each non-special, non-padding position is chosen with
probability ``mlm_prob``; a chosen position becomes ``[MASK]`` 80% of the time, a random
(non-special) token 10%, and stays itself 10%. Labels hold the original id at chosen positions and
-100 (``cross_entropy``'s default ``ignore_index``) elsewhere. Randomness comes from pydl's
generator (``pydl.manual_seed`` makes it repeatable).

``nsp_pairs`` builds ``[CLS] A [SEP] B [SEP]`` inputs where B is the sentence following A in the same
document half of the time (label 0, "is next", as in BERT/HuggingFace) and a random sentence from
another document otherwise (label 1).
"""
import re

import numpy as np

from .. import _creation as C
from .._dtype import float64
from .._tensor import Tensor

__all__ = ["mask_tokens", "nsp_pairs", "split_sentences", "corpus_documents"]


def mask_tokens(input_ids, tokenizer=None, mlm_prob=0.15, *, mask_token_id=None, vocab_size=None,
                special_ids=None):
    """(corrupted input_ids, labels), both int64 pydl tensors of ``input_ids``' shape.

    ``tokenizer`` supplies ``mask_token_id``, ``vocab_size`` and ``special_ids`` (never chosen, and
    never drawn as random replacements); each may be given explicitly instead."""
    if tokenizer is not None:
        mask_token_id = tokenizer.mask_token_id if mask_token_id is None else mask_token_id
        vocab_size = tokenizer.vocab_size if vocab_size is None else vocab_size
        special_ids = tokenizer.special_ids if special_ids is None else special_ids
    if mask_token_id is None or vocab_size is None:
        raise ValueError("mask_tokens: give a tokenizer with a [MASK] token, or mask_token_id and vocab_size")
    if not 0.0 <= float(mlm_prob) <= 1.0:
        raise ValueError(f"mask_tokens: mlm_prob must lie in [0, 1], got {mlm_prob}")
    ids = input_ids.numpy() if isinstance(input_ids, Tensor) else np.asarray(input_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"mask_tokens: input_ids must be integer token ids, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    special = np.array(sorted(set(int(s) for s in (special_ids or ()) if s is not None) | {int(mask_token_id)}),
                       dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise IndexError(f"mask_tokens: token ids must lie in [0, {vocab_size})")
    normal = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), special)
    if normal.size == 0:
        raise ValueError("mask_tokens: every vocabulary id is special; nothing to draw replacements from")
    shape = ids.shape
    # three uniforms per position from pydl's generator: chosen?, which action?, which random token?
    u = C.rand(3, *shape, dtype=float64).numpy() if ids.size else np.zeros((3,) + shape)
    eligible = ~np.isin(ids, special)
    chosen = eligible & (u[0] < mlm_prob)
    labels = np.where(chosen, ids, -100).astype(np.int64)
    out = ids.copy()
    to_mask = chosen & (u[1] < 0.8)
    to_random = chosen & (u[1] >= 0.8) & (u[1] < 0.9)
    out[to_mask] = mask_token_id
    rand_tok = normal[np.minimum((u[2] * normal.size).astype(np.int64), normal.size - 1)]
    out[to_random] = rand_tok[to_random]
    return C.tensor(out), C.tensor(labels)


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(`*])|\n\s*\n")


def split_sentences(text, min_chars=8):
    """Sentences of a text: cut after ., ! or ? before a capital/digit, and at blank lines;
    whitespace runs become single spaces; pieces shorter than ``min_chars`` are dropped."""
    out = []
    for s in _SENT.split(text):
        s = " ".join(s.split())
        if len(s) >= min_chars:
            out.append(s)
    return out


def corpus_documents(min_sentences=2):
    """The pydoc topics corpus (``pydl.data.datasets.load_text_corpus``' source) as documents —
    one per help topic, in sorted topic order — each a list of sentences."""
    from pydoc_data import topics
    docs = [split_sentences(topics.topics[k]) for k in sorted(topics.topics)]
    return [d for d in docs if len(d) >= min_sentences]


def nsp_pairs(documents, tokenizer, n_pairs, max_len=64, seed=0):
    """``n_pairs`` next-sentence examples from ``documents`` (lists of sentences), as numpy int64
    arrays: input_ids, token_type_ids (0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``), attention_mask
    (B, max_len) and next_sentence_label (B,). The longer of A, B is trimmed from its end until the
    pair fits. Half the labels are 0 (B follows A), half 1 (B from another document), shuffled."""
    docs = [d for d in documents if len(d) >= 1]
    if sum(len(d) >= 2 for d in docs) == 0 or len(docs) < 2:
        raise ValueError("nsp_pairs: need at least two documents, one with two or more sentences")
    if max_len < 5:
        raise ValueError(f"nsp_pairs: max_len must be >= 5, got {max_len}")
    cls_, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    if cls_ is None or sep is None or pad is None:
        raise ValueError("nsp_pairs: the tokenizer needs [CLS], [SEP] and [PAD] special tokens")
    rng = np.random.default_rng(seed)
    cache = {}

    def enc(di, si):
        key = (di, si)
        if key not in cache:
            cache[key] = tokenizer.encode(docs[di][si])
        return cache[key]

    multi = [i for i, d in enumerate(docs) if len(d) >= 2]
    ids = np.full((n_pairs, max_len), pad, dtype=np.int64)
    types = np.zeros((n_pairs, max_len), dtype=np.int64)
    mask = np.zeros((n_pairs, max_len), dtype=np.int64)
    labels = (np.arange(n_pairs) % 2).astype(np.int64)
    rng.shuffle(labels)
    budget = max_len - 3
    for r in range(n_pairs):
        di = multi[rng.integers(len(multi))]
        si = int(rng.integers(len(docs[di]) - 1))
        a = list(enc(di, si))
        if labels[r] == 0:
            b = list(enc(di, si + 1))
        else:
            dj = int(rng.integers(len(docs) - 1))
            dj = dj + 1 if dj >= di else dj  # any document but di
            b = list(enc(dj, int(rng.integers(len(docs[dj])))))
        while len(a) + len(b) > budget:
            (a if len(a) >= len(b) else b).pop()
        seq = [cls_] + a + [sep] + b + [sep]
        ids[r, :len(seq)] = seq
        types[r, len(a) + 2:len(seq)] = 1
        mask[r, :len(seq)] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "next_sentence_label": labels}
