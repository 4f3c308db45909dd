"""Tokenizers: id <-> text round trips on corpus text, special tokens, unknown characters, batch
padding, save/load. The subword tokenizers are trained on a slice of the pydoc corpus (the
``tokenizers`` package is the optional ``text`` extra: those rows skip without it)."""
import json

import numpy as np
import pytest

import pydl
from pydl.data.datasets import load_text_corpus
from pydl.text import (DEFAULT_SPECIAL_TOKENS, BPETokenizer, ByteTokenizer, CharTokenizer, UnigramTokenizer,
                       WordPieceTokenizer, load_tokenizer, tokenizer_from_json)

CORPUS = load_text_corpus()
TRAIN, HELD = CORPUS[:40000], CORPUS[300000:303000]  # held-out text, not seen in training

@pytest.fixture(scope="module")
def toks():
    out = {"byte": ByteTokenizer.train(TRAIN), "char": CharTokenizer.train(TRAIN)}
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return out
    out["bpe"] = BPETokenizer.train(TRAIN, vocab_size=400)
    out["wordpiece"] = WordPieceTokenizer.train(TRAIN, vocab_size=400)
    out["unigram"] = UnigramTokenizer.train(TRAIN, vocab_size=200)
    return out


KINDS = ["byte", "char", "bpe", "wordpiece", "unigram"]


def get(toks, kind):
    if kind not in toks:
        pytest.skip("the tokenizers package (pydl[text]) is not installed")
    return toks[kind]


def words_of(text):
    """What WordPiece's round trip restores: BERT's pre-tokenization (split on whitespace and
    around punctuation), words joined by single spaces."""
    import tokenizers
    return " ".join(w for w, _ in tokenizers.pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text))


@pytest.mark.parametrize("kind", KINDS)
def test_specials_take_first_ids(toks, kind):
    tok = get(toks, kind)
    assert tok.special_tokens == DEFAULT_SPECIAL_TOKENS
    assert tok.special_ids == list(range(len(DEFAULT_SPECIAL_TOKENS)))
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id,
            tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3, 4, 5, 6)
    for s in DEFAULT_SPECIAL_TOKENS:
        assert tok.id_to_token(tok.token_to_id(s)) == s
    # a special-token string inside text is that token, and decodes back (or is skipped)
    ids = tok.encode("[CLS]for x in y[SEP]</s>")
    assert ids[0] == tok.cls_token_id and ids[-2:] == [tok.sep_token_id, tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True).strip() in ("for x in y", "for x in y ".strip())
    if kind != "wordpiece":
        assert tok.decode(ids) == "[CLS]for x in y[SEP]</s>"


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_on_corpus(toks, kind):
    tok = get(toks, kind)
    for text in (TRAIN[5000:7000], HELD):
        ids = tok.encode(text)
        assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
        if kind == "wordpiece":  # whitespace is not kept; a word with an unseen character is [UNK]
            got, want = tok.decode(ids).split(" "), words_of(text).split(" ")
            assert len(got) == len(want)
            assert all(g == w or g == "[UNK]" for g, w in zip(got, want))
            assert sum(g == "[UNK]" for g in got) <= 0.02 * len(got)
        else:  # (every character of HELD occurs in TRAIN)
            assert tok.decode(ids) == text
        # subword models compress: fewer tokens than characters
        if kind in ("bpe", "wordpiece", "unigram"):
            assert len(ids) < 0.7 * len(text)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_characters(toks, kind):
    tok = get(toks, kind)
    text = "naïve ☃ 漢字 ok"
    ids = tok.encode(text)
    if kind in ("byte", "bpe"):  # byte-level: nothing is unknown, the round trip is exact
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text
    else:
        assert tok.unk_token_id in ids
        assert "ok" in tok.decode(ids)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_and_batch(toks, kind, tmp_path):
    tok = get(toks, kind)
    path = tmp_path / "tok.json"
    tok.save(path)
    back = load_tokenizer(path)
    assert type(back) is type(tok) and back.vocab_size == tok.vocab_size
    assert back.special_tokens == tok.special_tokens
    assert back.encode(HELD) == tok.encode(HELD)
    assert tokenizer_from_json(tok.to_json()).encode(HELD[:300]) == tok.encode(HELD[:300])
    if kind in ("bpe", "wordpiece", "unigram"):  # the tokenizers library reads our file directly
        import tokenizers
        assert tokenizers.Tokenizer.from_file(str(path)).encode(HELD[:300]).ids == tok.encode(HELD[:300])
    texts = ["def f(x):", "", "return x + 1  # comment"]
    b = tok.encode_batch(texts)
    ids, mask = b["input_ids"].numpy(), b["attention_mask"].numpy()
    lens = [len(tok.encode(t)) for t in texts]
    assert ids.shape == (3, max(lens)) and ids.dtype == np.int64
    for r, t in enumerate(texts):
        assert list(ids[r, :lens[r]]) == tok.encode(t)
        assert np.all(ids[r, lens[r]:] == tok.pad_token_id)
        np.testing.assert_array_equal(mask[r], np.arange(ids.shape[1]) < lens[r])
    b = tok.encode_batch(texts, max_length=4, truncation=True, return_tensors="np")
    assert b["input_ids"].shape == (3, 4) and list(b["input_ids"][2]) == tok.encode(texts[2])[:4]
    with pytest.raises(ValueError, match="max_length"):
        tok.encode_batch(texts, max_length=2)
    assert tok.encode_batch(texts, padding=False)["input_ids"] == [tok.encode(t) for t in texts]


def test_char_vocab_size_and_errors(toks):
    tok = CharTokenizer.train(TRAIN, vocab_size=40)
    assert tok.vocab_size == 40
    freq = {c: TRAIN.count(c) for c in set(TRAIN)}
    kept = {tok.id_to_token(i) for i in range(7, 40)}
    assert min(freq[c] for c in kept) >= max(f for c, f in freq.items() if c not in kept)
    with pytest.raises(ValueError, match="room"):
        CharTokenizer.train(TRAIN, vocab_size=5)
    with pytest.raises(ValueError, match="UNK"):
        CharTokenizer.train(TRAIN, special_tokens=["[PAD]"])
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer.train(TRAIN, special_tokens=["[UNK]", "[UNK]"])
    with pytest.raises(IndexError):
        tok.decode([40])
    with pytest.raises(IndexError):
        toks["byte"].decode([-1])
    with pytest.raises(TypeError):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="fixed"):
        ByteTokenizer.train(TRAIN, vocab_size=100)
    with pytest.raises(ValueError, match="neither"):
        tokenizer_from_json(json.dumps({"x": 1}))
    with pytest.raises(ValueError, match="JSON"):
        tokenizer_from_json("not json")


def test_byte_decode_of_cut_character(toks):
    tok = toks["byte"]
    ids = tok.encode("é")
    assert len(ids) == 2 and tok.decode(ids[:1]) == "\ufffd"
    assert pydl.tensor(ids).dtype == pydl.int64
