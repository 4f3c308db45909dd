"""python -m pydl.generate <checkpoint> --prompt "..." — continue a prompt with a trained GPT.

The checkpoint is one written by ``python -m pydl.train gpt`` (model state, config and tokenizer
JSON). Decoding: sampling by default (``--temperature``, ``--top-k``, ``--top-p``), ``--greedy``, or
beam search (``--beams N``). ``--no-cache`` recomputes the whole context at every step instead of
using the key/value cache (same tokens, slower).
"""
import argparse
import sys
import time

import pydl


def load_gpt(path):
    """(GPT in eval mode, tokenizer) from a ``python -m pydl.train gpt`` checkpoint."""
    from pydl.models import GPT, GPTConfig
    from pydl.text import tokenizer_from_json
    ckpt = pydl.load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "gpt" or "config" not in ckpt or "tokenizer" not in ckpt:
        raise ValueError(f"{path}: not a GPT checkpoint of `python -m pydl.train gpt` (needs kind='gpt', "
                         f"config, tokenizer and model)")
    model = GPT(GPTConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, tokenizer_from_json(ckpt["tokenizer"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pydl.generate", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default="")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--beams", type=int, default=1, help="beam search with this many beams (deterministic)")
    p.add_argument("--greedy", action="store_true", help="most probable token at each step")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--no-cache", action="store_true", help="do not use the key/value cache")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    if args.threads:
        pydl.set_num_threads(args.threads)
    try:
        model, tok = load_gpt(args.checkpoint)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(str(e))
    ids = tok.encode(args.prompt)
    if not ids:  # an empty prompt starts from the tokenizer's first non-special token (newline for chars)
        ids = [tok.token_to_id("\n") if tok.token_to_id("\n") is not None else len(tok.special_tokens)]
    pydl.manual_seed(args.seed)
    sample = not args.greedy and args.beams == 1
    outs = []
    t0 = time.perf_counter()
    for _ in range(args.num_samples if sample else 1):
        out = model.generate(pydl.tensor([ids]), args.max_new_tokens, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p, do_sample=sample, num_beams=args.beams,
                             use_cache=not args.no_cache, eos_token_id=tok.eos_token_id)
        outs.append(tok.decode(out.numpy()[0].tolist(), skip_special_tokens=True))
    wall = time.perf_counter() - t0
    for i, text in enumerate(outs):
        if len(outs) > 1:
            print(f"--- sample {i + 1}")
        print(text)
    print(f"({args.max_new_tokens} tokens x {len(outs)} in {wall:.2f} s)", file=sys.stderr)
    return outs


if __name__ == "__main__":
    main()
