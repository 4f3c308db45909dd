"""python -m pydl.train gpt | bert — language models on the embedded text corpus (no download).

gpt: a character-level (``--tokenizer char``, default), byte-level BPE (``bpe``, needs the
``tokenizers`` package: pip install 'pydl[text]') or raw-byte (``byte``) GPT on
``pydl.data.datasets.load_text_corpus()`` (the standard library's pydoc topics, ~465 KB): the first
90% trains (and trains the tokenizer), the last 10% validates. AdamW (weight decay on matrices only)
with linear warm-up and cosine decay, gradient clipping at 1. Reports the validation loss and
perplexity against a unigram and a bigram model (add-k smoothed, k chosen on the validation split to
favour the baselines) computed on exactly the same validation targets, and a sample. Checkpoints
(``best.safetensors``, ``last.safetensors``) hold the model, its config and the tokenizer JSON, so
``python -m pydl.generate runs/gpt/best.safetensors --prompt "..."`` rebuilds everything.

bert: a small BERT pre-trained with masked-LM + next-sentence prediction on sentence pairs of the
same corpus (documents = help topics, 90/10 split by document; WordPiece tokenizer when
``tokenizers`` is installed, characters otherwise). Reports validation MLM accuracy (fixed masks)
against the unigram baseline (always predicting the most frequent training token) and NSP accuracy
against chance.
"""
import argparse
import json
import math
import os
import time

import numpy as np

import pydl
from pydl import training as T

LM_MODELS = ("gpt", "bert")


# ----------------------------------------------------------------------------- shared
def _tokenizer(kind, texts, vocab_size):
    from pydl import text as TX
    if kind == "char":
        return TX.CharTokenizer.train(texts)
    if kind == "byte":
        return TX.ByteTokenizer()
    if kind == "bpe":
        return TX.BPETokenizer.train(texts, vocab_size=vocab_size)
    if kind == "wordpiece":
        return TX.WordPieceTokenizer.train(texts, vocab_size=vocab_size)
    if kind == "unigram":
        return TX.UnigramTokenizer.train(texts, vocab_size=vocab_size)
    raise ValueError(f"unknown tokenizer {kind!r}")


def _optimizer(model, lr, weight_decay):
    """AdamW; weight decay on the matrices (Linear weights, embeddings), none on biases and LayerNorm."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    return pydl.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def _warmup_cosine(steps, warmup, floor=0.1):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    return f


def _save_json(out, result):
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)


# ----------------------------------------------------------------------------- baselines
def ngram_baselines(train_ids, val_prev, val_next, vocab_size, ks=(1.0, 0.1, 0.01, 0.001)):
    """Mean validation cross-entropy (nats) of add-k smoothed unigram and bigram models fit on
    ``train_ids``, scored on the targets ``val_next`` (``val_prev`` their preceding tokens); each
    model takes the k of ``ks`` that is best on these very targets (the baselines' best case)."""
    V = vocab_size
    uni = np.bincount(train_ids, minlength=V).astype(np.float64)
    big = np.zeros((V, V))
    np.add.at(big, (train_ids[:-1], train_ids[1:]), 1.0)
    best_u = best_b = (math.inf, None)
    for k in ks:
        pu = (uni + k) / (uni.sum() + k * V)
        lu = -np.log(pu[val_next]).mean()
        pb = (big[val_prev, val_next] + k) / (big[val_prev].sum(1) + k * V)
        lb = -np.log(pb).mean()
        best_u, best_b = min(best_u, (lu, k)), min(best_b, (lb, k))
    return {"unigram": best_u[0], "unigram_k": best_u[1], "bigram": best_b[0], "bigram_k": best_b[1]}


# ----------------------------------------------------------------------------- GPT
def gpt_eval_windows(val_ids, block):
    """Non-overlapping (x, y) windows over the validation ids: every target val_ids[1:n] once."""
    n = (len(val_ids) - 1) // block
    x = val_ids[:n * block].reshape(n, block)
    y = val_ids[1:n * block + 1].reshape(n, block)
    return x, y


def gpt_val_loss(model, x, y, batch=64):
    model.eval()
    total, count = 0.0, 0
    with pydl.no_grad():
        for i in range(0, len(x), batch):
            _, loss = model(pydl.tensor(x[i:i + batch]), pydl.tensor(y[i:i + batch]))
            total += loss.item() * y[i:i + batch].size
            count += y[i:i + batch].size
    model.train()
    return total / count


def train_gpt(args):
    from pydl.data.datasets import load_text_corpus
    from pydl.models import GPT, GPTConfig
    from pydl.serialization import save
    out = args.out
    text = load_text_corpus()
    cut = int(0.9 * len(text))
    train_text, val_text = text[:cut], text[cut:]
    t0 = time.perf_counter()
    tok = _tokenizer(args.tokenizer, train_text, args.vocab_size)
    train_ids = np.array(tok.encode(train_text), dtype=np.int64)
    val_ids = np.array(tok.encode(val_text), dtype=np.int64)
    print(f"corpus: {len(text)} characters; {args.tokenizer} tokenizer, vocabulary {tok.vocab_size}; "
          f"train/val {len(train_ids)}/{len(val_ids)} tokens ({time.perf_counter() - t0:.1f} s)")
    pydl.manual_seed(args.seed)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=True)
    model = GPT(cfg)
    print(f"GPT: {cfg}; {model.num_parameters()} parameters (non-embedding)")
    vx, vy = gpt_eval_windows(val_ids, cfg.block_size)
    if args.eval_windows:
        vx, vy = vx[:args.eval_windows], vy[:args.eval_windows]
    # each target's preceding token is the window's own input at that position
    base = ngram_baselines(train_ids, vx.reshape(-1), vy.reshape(-1), tok.vocab_size)
    print(f"baselines on the same {vy.size} validation targets: unigram loss {base['unigram']:.4f} "
          f"(ppl {math.exp(base['unigram']):.2f}), bigram loss {base['bigram']:.4f} "
          f"(ppl {math.exp(base['bigram']):.2f})")
    opt = _optimizer(model, args.lr, args.weight_decay)
    sched = pydl.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(args.steps, max(1, args.steps // 20)))
    rng = np.random.default_rng(args.seed)
    hist = T.History()
    best = math.inf
    meta = {"kind": "gpt", "config": cfg.to_dict(), "tokenizer": tok.to_json()}
    step_times, running = [], None
    bar = T.progress(range(args.steps), "gpt", args.steps, not args.quiet)
    t_train = time.perf_counter()
    for step in bar:
        s = time.perf_counter()
        starts = rng.integers(0, len(train_ids) - cfg.block_size - 1, args.batch_size)
        xb = np.stack([train_ids[i:i + cfg.block_size] for i in starts])
        yb = np.stack([train_ids[i + 1:i + cfg.block_size + 1] for i in starts])
        opt.zero_grad()
        _, loss = model(pydl.tensor(xb), pydl.tensor(yb))
        loss.backward()
        pydl.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError(f"the training loss became {lv} at step {step}; lower --lr")
        running = lv if running is None else 0.95 * running + 0.05 * lv
        step_times.append(time.perf_counter() - s)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{running:.3f}")
        if (step + 1) % args.eval_interval == 0 or step + 1 == args.steps:
            vl = gpt_val_loss(model, vx, vy)
            hist.add(train_loss=running, val_loss=vl)
            msg = (f"step {step + 1:5d}/{args.steps}  train loss {running:.4f}  val loss {vl:.4f} "
                   f"(ppl {math.exp(vl):.2f})  {np.median(step_times[-args.eval_interval:]) * 1e3:.0f} ms/step")
            (bar.write if hasattr(bar, "write") else print)(msg)
            ckpt = {"model": model.state_dict(), **meta, "step": step + 1, "val_loss": vl}
            save(ckpt, os.path.join(out, "last.safetensors"))
            if vl < best:
                best = vl
                save(ckpt, os.path.join(out, "best.safetensors"))
    wall = time.perf_counter() - t_train
    final = hist["val_loss"][-1]
    print(f"validation: loss {final:.4f}, perplexity {math.exp(final):.2f}  |  unigram {math.exp(base['unigram']):.2f}"
          f", bigram {math.exp(base['bigram']):.2f}  (best val loss {best:.4f}; {args.steps} steps in {wall:.1f} s, "
          f"median {np.median(step_times) * 1e3:.0f} ms/step, {pydl.get_num_threads()} threads)")
    prompt = args.prompt
    pydl.manual_seed(args.seed)
    idx = pydl.tensor([tok.encode(prompt)])
    gen = model.generate(idx, args.sample_tokens, temperature=0.8, top_k=args.top_k, do_sample=True)
    sample = tok.decode(gen.numpy()[0].tolist())
    print("sample (temperature 0.8, top-k %s):\n%s\n%s\n%s" % (args.top_k, "-" * 60, sample, "-" * 60))
    return {"model": "gpt", "tokenizer": args.tokenizer, "vocab_size": tok.vocab_size, "config": cfg.to_dict(),
            "val_loss": final, "val_ppl": math.exp(final), "best_val_loss": best,
            "unigram_loss": base["unigram"], "unigram_ppl": math.exp(base["unigram"]),
            "bigram_loss": base["bigram"], "bigram_ppl": math.exp(base["bigram"]),
            "wall_s": wall, "median_step_s": float(np.median(step_times)), "threads": pydl.get_num_threads(),
            "sample": sample, "history": dict(hist)}


# ----------------------------------------------------------------------------- BERT
def bert_mlm_eval(model, data, labels_fixed, masked_fixed, batch=128):
    """(MLM accuracy over the masked positions, NSP accuracy) on fixed masks."""
    model.eval()
    hit = tot = nsp_hit = 0
    with pydl.no_grad():
        for i in range(0, len(masked_fixed), batch):
            sl = slice(i, i + batch)
            mlm, nsp, _ = model(pydl.tensor(masked_fixed[sl]), pydl.tensor(data["token_type_ids"][sl]),
                                pydl.tensor(data["attention_mask"][sl]))
            lab = labels_fixed[sl]
            pred = mlm.numpy().argmax(-1)
            sel = lab != -100
            hit += int((pred[sel] == lab[sel]).sum())
            tot += int(sel.sum())
            nsp_hit += int((nsp.numpy().argmax(-1) == data["next_sentence_label"][sl]).sum())
    model.train()
    return hit / max(tot, 1), nsp_hit / len(masked_fixed)


def train_bert(args):
    from pydl.models import BertConfig, BertForPreTraining
    from pydl.serialization import save
    from pydl.text import corpus_documents, mask_tokens, nsp_pairs
    out = args.out
    docs = corpus_documents()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(docs))
    n_val = max(2, len(docs) // 10)
    val_docs, train_docs = [docs[i] for i in order[:n_val]], [docs[i] for i in order[n_val:]]
    kind = args.tokenizer
    if kind == "auto":
        try:
            import tokenizers  # noqa: F401
            kind = "wordpiece"
        except ImportError:
            kind = "char"
            print("(tokenizers is not installed: a character-level BERT; pip install 'pydl[text]' for WordPiece)")
    t0 = time.perf_counter()
    tok = _tokenizer(kind, [s for d in train_docs for s in d], args.vocab_size)
    train = nsp_pairs(train_docs, tok, args.pairs, max_len=args.max_len, seed=args.seed)
    val = nsp_pairs(val_docs, tok, args.val_pairs, max_len=args.max_len, seed=args.seed + 1)
    print(f"corpus: {len(docs)} documents ({len(train_docs)} train / {len(val_docs)} val), "
          f"{sum(map(len, docs))} sentences; {kind} tokenizer, vocabulary {tok.vocab_size}; "
          f"{args.pairs}/{args.val_pairs} sentence pairs of <= {args.max_len} tokens "
          f"({time.perf_counter() - t0:.1f} s)")
    pydl.manual_seed(args.seed + 123)
    vmask, vlab = mask_tokens(val["input_ids"], tok, 0.15)
    vmask, vlab = vmask.numpy(), vlab.numpy()
    special = np.array(tok.special_ids)
    real = train["input_ids"][~np.isin(train["input_ids"], special)]
    most = int(np.bincount(real, minlength=tok.vocab_size).argmax())
    base_acc = float((vlab[vlab != -100] == most).mean())
    print(f"unigram baseline (always {tok.id_to_token(most)!r}): MLM accuracy {base_acc * 100:.2f}% on "
          f"{int((vlab != -100).sum())} masked validation positions; NSP chance 50%")
    pydl.manual_seed(args.seed)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                     max_position_embeddings=args.max_len, hidden_dropout_prob=args.dropout,
                     attention_probs_dropout_prob=args.dropout, pad_token_id=tok.pad_token_id)
    model = BertForPreTraining(cfg)
    print(f"BERT: {cfg}; {sum(p.numel() for p in model.parameters())} parameters")
    opt = _optimizer(model, args.lr, args.weight_decay)
    sched = pydl.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(args.steps, max(1, args.steps // 10), 0.0))
    hist = T.History()
    meta = {"kind": "bert", "config": cfg.to_dict(), "tokenizer": tok.to_json()}
    acc0, _ = bert_mlm_eval(model, val, vlab, vmask)
    running, step_times, best = None, [], -1.0
    bar = T.progress(range(args.steps), "bert", args.steps, not args.quiet)
    t_train = time.perf_counter()
    for step in bar:
        s = time.perf_counter()
        rows = rng.integers(0, len(train["input_ids"]), args.batch_size)
        ids, labels = mask_tokens(train["input_ids"][rows], tok, 0.15)  # fresh masks every batch
        opt.zero_grad()
        _, _, loss = model(ids, pydl.tensor(train["token_type_ids"][rows]), pydl.tensor(train["attention_mask"][rows]),
                           labels=labels, next_sentence_label=pydl.tensor(train["next_sentence_label"][rows]))
        loss.backward()
        pydl.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError(f"the training loss became {lv} at step {step}; lower --lr")
        running = lv if running is None else 0.95 * running + 0.05 * lv
        step_times.append(time.perf_counter() - s)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{running:.3f}")
        if (step + 1) % args.eval_interval == 0 or step + 1 == args.steps:
            acc, nsp_acc = bert_mlm_eval(model, val, vlab, vmask)
            hist.add(train_loss=running, val_acc=acc, val_nsp_acc=nsp_acc)
            msg = (f"step {step + 1:5d}/{args.steps}  train loss (MLM+NSP) {running:.4f}  val MLM acc "
                   f"{acc * 100:.2f}% (unigram {base_acc * 100:.2f}%)  NSP acc {nsp_acc * 100:.1f}%")
            (bar.write if hasattr(bar, "write") else print)(msg)
            ckpt = {"model": model.state_dict(), **meta, "step": step + 1, "val_mlm_acc": acc}
            save(ckpt, os.path.join(out, "last.safetensors"))
            if acc > best:
                best = acc
                save(ckpt, os.path.join(out, "best.safetensors"))
    wall = time.perf_counter() - t_train
    acc, nsp_acc = hist["val_acc"][-1], hist["val_nsp_acc"][-1]
    print(f"validation MLM accuracy {acc * 100:.2f}% (start {acc0 * 100:.2f}%, unigram baseline "
          f"{base_acc * 100:.2f}%), NSP accuracy {nsp_acc * 100:.1f}% (chance 50%); {args.steps} steps in "
          f"{wall:.1f} s, median {np.median(step_times) * 1e3:.0f} ms/step, {pydl.get_num_threads()} threads")
    return {"model": "bert", "tokenizer": kind, "vocab_size": tok.vocab_size, "config": cfg.to_dict(),
            "val_mlm_acc": acc, "val_mlm_acc_start": acc0, "unigram_mlm_acc": base_acc, "val_nsp_acc": nsp_acc,
            "wall_s": wall, "median_step_s": float(np.median(step_times)), "threads": pydl.get_num_threads(),
            "history": dict(hist)}


# ----------------------------------------------------------------------------- command
def main(argv):
    p = argparse.ArgumentParser(prog="python -m pydl.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("model", choices=LM_MODELS)
    p.add_argument("--tokenizer", default=None,
                   help="gpt: char (default), bpe, byte; bert: auto (default: wordpiece if tokenizers is "
                        "installed, else char), wordpiece, unigram, bpe, char")
    p.add_argument("--vocab-size", type=int, default=None, help="subword vocabulary (gpt bpe 512, bert 1000)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (300)")
    p.add_argument("--batch-size", type=int, default=None, help="gpt 32, bert 32")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (gpt 2e-3, bert 1e-3)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--eval-interval", type=int, default=None)
    # gpt
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--eval-windows", type=int, default=0, help="gpt: cap on validation windows (0: all)")
    p.add_argument("--prompt", default="The ", help="gpt: prompt of the printed sample")
    p.add_argument("--sample-tokens", type=int, default=300)
    p.add_argument("--top-k", type=int, default=None)
    # bert
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--pairs", type=int, default=20000)
    p.add_argument("--val-pairs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="OpenMP threads (default: all cores)")
    p.add_argument("--out", help="output folder (default: runs/<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    gpt = args.model == "gpt"
    defaults = dict(tokenizer="char" if gpt else "auto", vocab_size=512 if gpt else 1000, steps=300,
                    batch_size=32, lr=2e-3 if gpt else 1e-3, eval_interval=50)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.steps < 1 or args.batch_size < 1 or not args.lr > 0 or args.eval_interval < 1:
        raise SystemExit("--steps, --batch-size and --eval-interval must be >= 1 and --lr > 0")
    if args.threads:
        pydl.set_num_threads(args.threads)
    args.out = args.out or os.path.join("runs", args.model)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    result = train_gpt(args) if gpt else train_bert(args)
    result["total_wall_s"] = time.perf_counter() - t0
    png = T.plot_history({k: v for k, v in result["history"].items() if k in ("train_loss", "val_loss", "val_acc")},
                         os.path.join(args.out, "curves.png"), title=f"{args.model} (x: evaluation)")
    if png:
        print(f"curves: {png}")
    _save_json(args.out, result)
    print(f"outputs in {args.out}/ (total {result['total_wall_s']:.1f} s)")
    return result
