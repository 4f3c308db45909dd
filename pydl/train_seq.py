"""The sequence-model tasks of ``python -m pydl.train``: lstm, seq2seq, transformer, word2vec.

lstm         character-level RNN language model on the standard library's pydoc topics text
             (``pydl.data.datasets.load_text_corpus``), contiguous 90/5/5 split, truncated BPTT with
             gradient clipping; reports validation and test loss, perplexity and bits per character
             against the unigram baseline, and greedy and sampled continuations of a prompt.
seq2seq      LSTM encoder–decoder with attention (``--attention dot|additive``) on the digit task
             (``--task reverse|sort``); reports exact-match accuracy of greedy decodes on held-out
             sequences (none of which occurs in the training set).
transformer  transformer encoder–decoder on the same task and metric.
word2vec     skip-gram or CBOW (``--w2v cbow``) with negative sampling on the corpus's words; prints
             the nearest neighbours of a few words, an analogy and an odd-one-out.

Each run writes ``last.safetensors`` (model, optimizer, epoch, history) every epoch,
``best.safetensors`` when the validation metric improves, ``curves.png`` and ``metrics.json``.
"""
import math
import os
import time

import numpy as np

import pydl

SEQ_MODELS = ("lstm", "seq2seq", "transformer", "word2vec")
# epochs, lr, batch size: each default finishes in a few minutes on two cores
SEQ_DEFAULTS = {"lstm": (3, 6e-3, 32), "seq2seq": (3, 3e-3, 64), "transformer": (5, 1e-3, 64),
                "word2vec": (3, 3e-3, 1024)}


def add_arguments(p):
    g = p.add_argument_group("sequence models (lstm, seq2seq, transformer, word2vec)")
    g.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm", help="lstm task: recurrent cell")
    g.add_argument("--layers", type=int, default=1, help="lstm task: recurrent layers")
    g.add_argument("--bptt", type=int, default=64, help="lstm task: truncated-BPTT length")
    g.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    g.add_argument("--dropout", type=float, default=0.0)
    g.add_argument("--attention", choices=["dot", "additive"], default="dot", help="seq2seq attention score")
    g.add_argument("--teacher-forcing", type=float, default=0.5, help="seq2seq teacher forcing ratio")
    g.add_argument("--task", choices=["reverse", "sort"], default="reverse", help="seq2seq/transformer task")
    g.add_argument("--w2v", choices=["skipgram", "cbow"], default="skipgram", help="word2vec variant")


def run(args, out):
    pydl.manual_seed(args.seed)
    return {"lstm": train_lstm_lm, "seq2seq": train_seq2seq, "transformer": train_seq2seq,
            "word2vec": train_word2vec}[args.model](args, out)


def _save(out, name, state):
    pydl.save(state, os.path.join(out, name))


# ----------------------------------------------------------------------------- lstm language model
def train_lstm_lm(args, out):
    from .data.datasets import load_text_corpus
    from .models import rnn_lm as LM
    from .training import History
    text = load_text_corpus()
    vocab = LM.CharVocab(text)
    ids = vocab.encode(text)
    a, b = int(0.9 * len(ids)), int(0.95 * len(ids))
    train_ids, val_ids, test_ids = ids[:a], ids[a:b], ids[b:]
    train = LM.batchify(train_ids, args.batch_size)
    val, test = LM.batchify(val_ids, 8), LM.batchify(test_ids, 8)
    hidden = max(8, int(256 * args.width))
    model = LM.RNNLanguageModel(len(vocab), 64, hidden, args.layers, args.cell, dropout=args.dropout)
    opt = pydl.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * math.ceil((train.shape[1] - 1) / args.bptt)
    sched = pydl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    baseline = LM.unigram_cross_entropy(train_ids, val_ids, len(vocab))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"data: pydoc topics, {len(ids)} characters, vocabulary {len(vocab)}; train/val/test "
          f"{len(train_ids)}/{len(val_ids)}/{len(test_ids)}; {args.cell} {args.layers}x{hidden}, {n_params} "
          f"parameters; {args.batch_size} streams x bptt {args.bptt}")
    hist, best = History(), math.inf
    t0 = time.perf_counter()
    step_times = []

    def on_step(step, loss):
        sched.step()
        step_times.append(time.perf_counter())

    for epoch in range(args.epochs):
        te = time.perf_counter()
        tl = LM.train_epoch_tbptt(model, train, opt, bptt=args.bptt, clip=args.clip, show_progress=not args.quiet,
                                  desc=f"epoch {epoch + 1}/{args.epochs}", on_step=on_step)
        vl = LM.evaluate_lm(model, val)
        hist.add(train_loss=tl, val_loss=vl, epoch_time=time.perf_counter() - te)
        print(f"epoch {epoch + 1:3d}/{args.epochs}  train loss {tl:.4f}  val loss {vl:.4f}  val perplexity "
              f"{math.exp(vl):.2f}  ({vl / math.log(2):.3f} bits/char)  {time.perf_counter() - te:.1f}s")
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                 "vocab": "".join(vocab.itos), "history": dict(hist)}
        _save(out, "last.safetensors", state)
        if vl < best:
            best = vl
            _save(out, "best.safetensors", {"model": model.state_dict(), "vocab": "".join(vocab.itos)})
    wall = time.perf_counter() - t0
    test_loss = LM.evaluate_lm(model, test)
    step_s = float(np.median(np.diff(step_times))) if len(step_times) > 2 else float("nan")
    print(f"validation: loss {hist['val_loss'][-1]:.4f} nats/char, perplexity {math.exp(hist['val_loss'][-1]):.2f} "
          f"(unigram baseline: loss {baseline:.4f}, perplexity {math.exp(baseline):.2f})")
    print(f"test: loss {test_loss:.4f}, perplexity {math.exp(test_loss):.2f}, {test_loss / math.log(2):.3f} "
          f"bits/char; {wall:.1f} s, {step_s * 1e3:.0f} ms/step, {pydl.get_num_threads()} threads")
    prompt = "The class "
    greedy = LM.generate_text(model, vocab.encode(prompt), 160, greedy=True)
    sampled = LM.generate_text(model, vocab.encode(prompt), 160, temperature=0.7, seed=args.seed)
    print("greedy:  " + repr(vocab.decode(greedy)))
    print("sampled: " + repr(vocab.decode(sampled)))
    return {"model": "lstm", "cell": args.cell, "val_loss": hist["val_loss"][-1], "test_loss": test_loss,
            "val_perplexity": math.exp(hist["val_loss"][-1]), "test_perplexity": math.exp(test_loss),
            "unigram_val_loss": baseline, "unigram_val_perplexity": math.exp(baseline), "wall_s": wall,
            "step_ms": step_s * 1e3, "params": n_params, "greedy": vocab.decode(greedy),
            "sampled": vocab.decode(sampled), "history": dict(hist)}


# ----------------------------------------------------------------------------- seq2seq / transformer
def train_seq2seq(args, out):
    from .autograd import no_grad
    from .models import seq2seq as S
    from .models.transformer_seq2seq import TransformerSeq2Seq
    from .training import History, progress
    tr = S.make_digit_task(6000, 3, 10, task=args.task, seed=args.seed)
    va = S.make_digit_task(500, 3, 10, task=args.task, seed=args.seed + 1, exclude=tr["seqs"])
    te = S.make_digit_task(1000, 3, 10, task=args.task, seed=args.seed + 2, exclude=tr["seqs"] | va["seqs"])
    if args.model == "seq2seq":
        model = S.Seq2Seq(S.DIGIT_VOCAB, 32, max(8, int(128 * args.width)), attention=args.attention,
                          dropout=args.dropout)
        kw, what = {"teacher_forcing_ratio": args.teacher_forcing}, (
            f"LSTM seq2seq, {args.attention} attention, teacher forcing {args.teacher_forcing}")
    else:
        d = max(8, int(64 * args.width) // 4 * 4)
        model = TransformerSeq2Seq(S.DIGIT_VOCAB, d, 4, 2, 2, 4 * d, dropout=args.dropout)
        kw, what = {}, f"transformer d_model {d}, 2+2 layers, 4 heads"
    n_params = sum(p.numel() for p in model.parameters())
    print(f"task: {args.task} digit sequences of length 3-10; train/val/test {len(tr['src'])}/{len(va['src'])}/"
          f"{len(te['src'])} (held-out sets share no sequence with training); {what}; {n_params} parameters")
    opt = pydl.optim.Adam(model.parameters(), lr=args.lr)
    sched = pydl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    hist, best = History(), -1.0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        ts = time.perf_counter()
        tl = S.train_seq2seq_epoch(model, tr, opt, args.batch_size, clip=args.clip, seed=args.seed + epoch,
                                   show_progress=not args.quiet, desc=f"epoch {epoch + 1}/{args.epochs}", **kw)
        sched.step()
        model.eval()
        with no_grad():
            vl = float(S.seq2seq_loss(model(pydl.tensor(va["src"]), pydl.tensor(va["tgt_in"])),
                                      pydl.tensor(va["tgt_out"])).item())
        model.train()
        acc = S.exact_match(model, va)
        hist.add(train_loss=tl, val_loss=vl, val_acc=acc, epoch_time=time.perf_counter() - ts)
        print(f"epoch {epoch + 1:3d}/{args.epochs}  train loss {tl:.4f}  val loss {vl:.4f}  val exact match "
              f"{acc * 100:.1f}%  {time.perf_counter() - ts:.1f}s")
        _save(out, "last.safetensors", {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                        "epoch": epoch + 1, "history": dict(hist)})
        if acc > best:
            best = acc
            _save(out, "best.safetensors", {"model": model.state_dict(), "epoch": epoch + 1})
    wall = time.perf_counter() - t0
    test_acc = S.exact_match(model, te)
    pred = S.greedy_outputs(model, te["src"][:5], te["tgt_out"].shape[1])
    for s, p, t in zip(te["src"][:5], pred, te["tgt_out"][:5]):
        print(f"  {S.decode_digits([x for x in s if x != S.PAD]):>10} -> {S.decode_digits(p):<10} "
              f"(expected {S.decode_digits(t)})")
    print(f"test exact match {test_acc * 100:.2f}% on {len(te['src'])} held-out sequences ({args.model}, "
          f"{n_params} parameters, {args.epochs} epochs in {wall:.1f} s, {pydl.get_num_threads()} threads)")
    return {"model": args.model, "task": args.task, "test_exact_match": test_acc, "wall_s": wall,
            "params": n_params, "history": dict(hist)}


# ----------------------------------------------------------------------------- word2vec
def train_word2vec(args, out):
    from .data.datasets import load_text_corpus
    from .models import word2vec as W
    tokens = W.tokenize(load_text_corpus())
    vocab = W.Vocabulary(tokens, min_count=5)
    ids = vocab.encode(tokens)
    dim = max(8, int(100 * args.width))
    print(f"data: pydoc topics, {len(tokens)} words, vocabulary {len(vocab)} (min count 5); {args.w2v}, "
          f"dim {dim}, window 5, 5 negatives, subsampling t=1e-3")
    t0 = time.perf_counter()
    net, hist = W.train_word2vec(ids, vocab.counts, model=args.w2v, dim=dim, window=5, negatives=5,
                                 epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, subsample_t=1e-3,
                                 seed=args.seed, show_progress=not args.quiet, log=print)
    wall = time.perf_counter() - t0
    _save(out, "last.safetensors", {"model": net.state_dict(), "vocab": vocab.itos, "history": dict(hist)})
    wv = W.WordVectors(net.vectors, vocab.itos)
    neighbours = {}
    for w in ("class", "list", "integer", "true", "exception", "loop"):
        if w in wv:
            neighbours[w] = wv.most_similar(w, 5)
            print(f"  {w:>10}: " + ", ".join(f"{n} {s:.2f}" for n, s in neighbours[w]))
    analogies = {}
    for a, b, c in (("int", "integer", "float"), ("true", "false", "yes"), ("list", "lists", "tuple")):
        if all(x in wv for x in (a, b, c)):
            ans = wv.analogy(a, b, c, 3)
            analogies[f"{a}:{b}::{c}:?"] = ans
            print(f"  {a} : {b} :: {c} : " + ", ".join(f"{n} {s:.2f}" for n, s in ans))
    odd = ["list", "tuple", "dict", "while"]
    if all(x in wv for x in odd):
        print(f"  odd one out of {odd}: {wv.doesnt_match(odd)}")
    print(f"final loss {hist['train_loss'][-1]:.4f}; {args.epochs} epochs in {wall:.1f} s, "
          f"{pydl.get_num_threads()} threads")
    return {"model": "word2vec", "variant": args.w2v, "final_loss": hist["train_loss"][-1], "wall_s": wall,
            "neighbours": neighbours, "analogies": analogies, "history": dict(hist)}
