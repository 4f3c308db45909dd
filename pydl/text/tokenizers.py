"""Tokenizers with one interface: bytes and characters (pydl's own, no dependency) and subword
models — byte-level BPE (GPT-2 style), WordPiece (BERT style) and Unigram (SentencePiece style) —
trained offline on a corpus with HuggingFace's ``tokenizers`` package (``pip install 'pydl[text]'``).

Every tokenizer has::

    tok = CharTokenizer.train(texts, vocab_size=None, special_tokens=DEFAULT_SPECIAL_TOKENS)
    ids = tok.encode("some text")            # list[int]; special-token strings in the text map to their ids
    text = tok.decode(ids)                   # str; skip_special_tokens=True drops them
    batch = tok.encode_batch(texts, padding=True, max_length=None, truncation=False)
    # -> {"input_ids": (B, T) int64, "attention_mask": (B, T) int64}, pydl tensors (return_tensors="np": numpy)
    tok.vocab_size, tok.token_to_id("[MASK]"), tok.id_to_token(5), tok.special_ids, tok.pad_token_id, ...
    tok.save("tok.json"); load_tokenizer("tok.json"); tok.to_json(); tokenizer_from_json(s)

``texts`` is a str (a whole corpus) or an iterable of str. The special tokens take the first ids,
in the order given (so ``[PAD]`` is 0 with the default list). The HuggingFace tokenizers save the
``tokenizers`` library's own JSON format (``tokenizers.Tokenizer.from_file`` reads it back); pydl's
own tokenizers save ``{"pydl_tokenizer": "char" | "byte", ...}``.
"""
import json
import re

import numpy as np

__all__ = ["DEFAULT_SPECIAL_TOKENS", "Tokenizer", "ByteTokenizer", "CharTokenizer", "BPETokenizer",
           "WordPieceTokenizer", "UnigramTokenizer", "load_tokenizer", "tokenizer_from_json"]

DEFAULT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>")


def _texts(texts):
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"tokenizer training expects str texts, got {type(t).__name__}")
    return texts


def _check_specials(special_tokens):
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"duplicate special tokens in {specials}")
    return specials


class Tokenizer:
    """The common interface; subclasses implement ``_encode_plain``, ``_decode_ids``, ``_vocab_size``,
    ``token_to_id``, ``id_to_token`` and ``to_json``."""

    special_tokens = ()

    # ------------------------------------------------------------------ specials
    @property
    def special_ids(self):
        return [self.token_to_id(s) for s in self.special_tokens]

    def _special_id(self, tok):
        return self.token_to_id(tok) if tok in self.special_tokens else None

    pad_token_id = property(lambda self: self._special_id("[PAD]"))
    unk_token_id = property(lambda self: self._special_id("[UNK]"))
    cls_token_id = property(lambda self: self._special_id("[CLS]"))
    sep_token_id = property(lambda self: self._special_id("[SEP]"))
    mask_token_id = property(lambda self: self._special_id("[MASK]"))
    bos_token_id = property(lambda self: self._special_id("<s>"))
    eos_token_id = property(lambda self: self._special_id("</s>"))

    @property
    def vocab_size(self):
        return self._vocab_size()

    def __len__(self):
        return self.vocab_size

    # ------------------------------------------------------------------ encode / decode
    def _split_specials(self, text):
        """[(piece, is_special)] with the special-token strings cut out (longest first)."""
        if not self.special_tokens:
            return [(text, False)]
        pat = "(" + "|".join(re.escape(s) for s in sorted(self.special_tokens, key=len, reverse=True)) + ")"
        out = []
        for i, piece in enumerate(re.split(pat, text)):
            if piece:
                out.append((piece, i % 2 == 1))
        return out

    def encode(self, text):
        if not isinstance(text, str):
            raise TypeError(f"encode() expects a str, got {type(text).__name__}")
        ids = []
        for piece, special in self._split_specials(text):
            ids.extend([self.token_to_id(piece)] if special else self._encode_plain(piece))
        return ids

    def decode(self, ids, skip_special_tokens=False):
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        n = self.vocab_size
        for i in ids:
            if not 0 <= i < n:
                raise IndexError(f"decode(): token id {i} is out of range for a vocabulary of {n}")
        special = set(self.special_ids)
        out, run = [], []
        for i in ids:
            if i in special:
                if run:
                    out.append(self._decode_ids(run))
                    run = []
                if not skip_special_tokens:
                    out.append(self.id_to_token(i))
            else:
                run.append(i)
        if run:
            out.append(self._decode_ids(run))
        return "".join(out)

    def encode_batch(self, texts, padding=True, max_length=None, truncation=False, return_tensors="pydl"):
        """Encode several texts. padding=True pads to the longest (or to ``max_length`` when given)
        with ``[PAD]``; truncation=True cuts to ``max_length``. Returns ``input_ids`` and
        ``attention_mask`` (1 = real token); without padding, lists of lists."""
        if isinstance(texts, str):
            raise TypeError("encode_batch() expects a list of str; use encode() for one text")
        seqs = [self.encode(t) for t in texts]
        if truncation:
            if max_length is None:
                raise ValueError("encode_batch(truncation=True) needs max_length")
            seqs = [s[:max_length] for s in seqs]
        if not padding:
            return {"input_ids": seqs, "attention_mask": [[1] * len(s) for s in seqs]}
        pad = self.pad_token_id
        if pad is None:
            raise ValueError("encode_batch(padding=True) needs a [PAD] special token")
        longest = max((len(s) for s in seqs), default=0)
        width = longest if max_length is None else max_length
        if longest > width:
            raise ValueError(f"encode_batch(): a text has {longest} tokens > max_length={width}; "
                             f"pass truncation=True")
        ids = np.full((len(seqs), width), pad, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = s
            mask[r, :len(s)] = 1
        if return_tensors == "np":
            return {"input_ids": ids, "attention_mask": mask}
        if return_tensors != "pydl":
            raise ValueError(f"return_tensors must be 'pydl' or 'np', got {return_tensors!r}")
        from .. import _creation as C
        return {"input_ids": C.tensor(ids), "attention_mask": C.tensor(mask)}

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path):
        return load_tokenizer(path)

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, special_tokens={list(self.special_tokens)})"


# ============================================================================ pydl's own
class ByteTokenizer(Tokenizer):
    """UTF-8 bytes: ids 0..len(specials)-1 are the special tokens, then the 256 byte values.
    Needs no training and encodes any text (nothing is unknown); ``decode`` of a cut multi-byte
    character gives U+FFFD."""

    kind = "byte"

    def __init__(self, special_tokens=DEFAULT_SPECIAL_TOKENS):
        self.special_tokens = tuple(_check_specials(special_tokens))
        self._offset = len(self.special_tokens)

    @classmethod
    def train(cls, texts=None, vocab_size=None, special_tokens=DEFAULT_SPECIAL_TOKENS):
        tok = cls(special_tokens)
        if vocab_size is not None and vocab_size != tok.vocab_size:
            raise ValueError(f"ByteTokenizer has a fixed vocabulary of {tok.vocab_size}, got vocab_size={vocab_size}")
        return tok

    def _vocab_size(self):
        return self._offset + 256

    def token_to_id(self, token):
        if token in self.special_tokens:
            return self.special_tokens.index(token)
        b = token.encode("utf-8")
        return self._offset + b[0] if len(b) == 1 else None

    def id_to_token(self, i):
        i = int(i)
        if not 0 <= i < self.vocab_size:
            raise IndexError(f"token id {i} is out of range for a vocabulary of {self.vocab_size}")
        return self.special_tokens[i] if i < self._offset else bytes([i - self._offset]).decode("latin-1")

    def _encode_plain(self, text):
        return [self._offset + b for b in text.encode("utf-8")]

    def _decode_ids(self, ids):
        return bytes(i - self._offset for i in ids).decode("utf-8", errors="replace")

    def to_json(self):
        return json.dumps({"pydl_tokenizer": "byte", "special_tokens": list(self.special_tokens)})


class CharTokenizer(Tokenizer):
    """One token per Unicode character seen in training (the most frequent ``vocab_size`` minus the
    specials when ``vocab_size`` is given; characters in first-seen-sorted order). A character not
    in the vocabulary encodes to ``[UNK]``."""

    kind = "char"

    def __init__(self, chars, special_tokens=DEFAULT_SPECIAL_TOKENS):
        self.special_tokens = tuple(_check_specials(special_tokens))
        if "[UNK]" not in self.special_tokens:
            raise ValueError("CharTokenizer needs an [UNK] special token for unseen characters")
        chars = list(chars)
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: chars must be distinct single characters")
        self.itos = list(self.special_tokens) + chars
        self.stoi = {c: i for i, c in enumerate(chars, start=len(self.special_tokens))}

    @classmethod
    def train(cls, texts, vocab_size=None, special_tokens=DEFAULT_SPECIAL_TOKENS, min_frequency=1):
        from collections import Counter
        counts = Counter()
        for t in _texts(texts):
            counts.update(t)
        specials = _check_specials(special_tokens)
        chars = [c for c, n in counts.items() if n >= min_frequency]
        if vocab_size is not None:
            room = vocab_size - len(specials)
            if room < 1:
                raise ValueError(f"vocab_size={vocab_size} leaves no room beside {len(specials)} special tokens")
            chars = sorted(chars, key=lambda c: (-counts[c], c))[:room]
        return cls(sorted(chars), specials)

    def _vocab_size(self):
        return len(self.itos)

    def token_to_id(self, token):
        if token in self.special_tokens:
            return self.special_tokens.index(token)
        return self.stoi.get(token)

    def id_to_token(self, i):
        i = int(i)
        if not 0 <= i < self.vocab_size:
            raise IndexError(f"token id {i} is out of range for a vocabulary of {self.vocab_size}")
        return self.itos[i]

    def _encode_plain(self, text):
        unk = self.unk_token_id
        return [self.stoi.get(c, unk) for c in text]

    def _decode_ids(self, ids):
        return "".join(self.itos[i] for i in ids)

    def to_json(self):
        return json.dumps({"pydl_tokenizer": "char", "special_tokens": list(self.special_tokens),
                           "chars": self.itos[len(self.special_tokens):]}, ensure_ascii=False)


# ============================================================================ HuggingFace tokenizers
def _hf():
    try:
        import tokenizers
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("the BPE, WordPiece and Unigram tokenizers need HuggingFace's `tokenizers` package: "
                          "pip install 'pydl[text]' (or pip install tokenizers)") from e
    return tokenizers


class _HFTokenizer(Tokenizer):
    kind = None

    def __init__(self, hf, special_tokens):
        self._tok = hf
        self.special_tokens = tuple(special_tokens)

    @property
    def backend(self):
        """The underlying ``tokenizers.Tokenizer``."""
        return self._tok

    def _vocab_size(self):
        return self._tok.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token):
        return self._tok.token_to_id(token)

    def id_to_token(self, i):
        i = int(i)
        if not 0 <= i < self.vocab_size:
            raise IndexError(f"token id {i} is out of range for a vocabulary of {self.vocab_size}")
        return self._tok.id_to_token(i)

    def encode(self, text):
        # the backend cuts out the special-token strings itself (they are its "added tokens")
        if not isinstance(text, str):
            raise TypeError(f"encode() expects a str, got {type(text).__name__}")
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids, skip_special_tokens=False):
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        n = self.vocab_size
        for i in ids:
            if not 0 <= i < n:
                raise IndexError(f"decode(): token id {i} is out of range for a vocabulary of {n}")
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def to_json(self):
        return self._tok.to_str()

    @classmethod
    def _train(cls, hf, trainer, texts):
        texts = _texts(texts)
        hf.train_from_iterator(texts, trainer=trainer)
        return hf


class BPETokenizer(_HFTokenizer):
    """Byte-level BPE (GPT-2's scheme): text → bytes mapped to printable characters → merges.
    Lossless (``decode(encode(t)) == t`` for any text) and nothing is unknown."""

    kind = "bpe"

    @classmethod
    def train(cls, texts, vocab_size=1000, special_tokens=DEFAULT_SPECIAL_TOKENS, min_frequency=2):
        tk = _hf()
        specials = _check_specials(special_tokens)
        hf = tk.Tokenizer(tk.models.BPE())
        hf.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                         special_tokens=specials,
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
                                         show_progress=False)
        return cls(cls._train(hf, trainer, texts), specials)


class WordPieceTokenizer(_HFTokenizer):
    """WordPiece (BERT's scheme): whitespace and punctuation split the text into words, each word
    becomes its longest vocabulary prefixes (continuations spelled ``##...``); a word that cannot be
    spelled becomes ``[UNK]``. ``decode`` joins words with single spaces, so it restores the text up
    to whitespace (``lowercase=True`` also lowercases)."""

    kind = "wordpiece"

    @classmethod
    def train(cls, texts, vocab_size=1000, special_tokens=DEFAULT_SPECIAL_TOKENS, min_frequency=2,
              lowercase=False):
        tk = _hf()
        specials = _check_specials(special_tokens)
        if "[UNK]" not in specials:
            raise ValueError("WordPieceTokenizer needs an [UNK] special token")
        hf = tk.Tokenizer(tk.models.WordPiece(unk_token="[UNK]"))
        hf.normalizer = tk.normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False,
                                                      clean_text=True, handle_chinese_chars=True)
        hf.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
        hf.decoder = tk.decoders.WordPiece(prefix="##", cleanup=False)
        trainer = tk.trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                               special_tokens=specials, show_progress=False)
        return cls(cls._train(hf, trainer, texts), specials)


class UnigramTokenizer(_HFTokenizer):
    """Unigram language-model tokenizer (SentencePiece's scheme): spaces become ``▁`` and the most
    probable segmentation under the learned piece probabilities is chosen. Characters never seen in
    training become ``[UNK]``."""

    kind = "unigram"

    @classmethod
    def train(cls, texts, vocab_size=1000, special_tokens=DEFAULT_SPECIAL_TOKENS):
        tk = _hf()
        specials = _check_specials(special_tokens)
        if "[UNK]" not in specials:
            raise ValueError("UnigramTokenizer needs an [UNK] special token")
        hf = tk.Tokenizer(tk.models.Unigram())
        hf.pre_tokenizer = tk.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        hf.decoder = tk.decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        trainer = tk.trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="[UNK]",
                                             show_progress=False)
        return cls(cls._train(hf, trainer, texts), specials)


_HF_KINDS = {"BPE": BPETokenizer, "WordPiece": WordPieceTokenizer, "Unigram": UnigramTokenizer}


def tokenizer_from_json(s):
    """Rebuild a tokenizer from ``to_json()`` output (pydl's format or the ``tokenizers`` format)."""
    try:
        d = json.loads(s)
    except (TypeError, ValueError) as e:
        raise ValueError(f"tokenizer_from_json: not a JSON document ({e})") from None
    if not isinstance(d, dict):
        raise ValueError("tokenizer_from_json: expected a JSON object")
    kind = d.get("pydl_tokenizer")
    if kind == "byte":
        return ByteTokenizer(d["special_tokens"])
    if kind == "char":
        return CharTokenizer(d["chars"], d["special_tokens"])
    model = d.get("model")
    if isinstance(model, dict) and model.get("type") in _HF_KINDS:
        tk = _hf()
        hf = tk.Tokenizer.from_str(s)
        specials = [a["content"] for a in sorted(d.get("added_tokens", []), key=lambda a: a["id"])
                    if a.get("special")]
        return _HF_KINDS[model["type"]](hf, specials)
    raise ValueError("tokenizer_from_json: neither a pydl tokenizer nor a BPE/WordPiece/Unigram tokenizers file")


def load_tokenizer(path):
    with open(path, encoding="utf-8") as f:
        return tokenizer_from_json(f.read())
