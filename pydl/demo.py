"""First demo: a small MLP trained with pydl's autograd on generated data.

    python -m pydl.demo [--epochs 200] [--hidden 64] [--threads N]

Three interleaved spirals (generated with a fixed seed, nothing downloaded),
a 2 -> H -> H -> 3 MLP with tanh, softmax cross-entropy written from pydl ops
(x - logsumexp(x)), and SGD with momentum applied under ``pydl.no_grad()``.
Prints the loss falling and the final training accuracy.
"""
import argparse
import math
import time

import numpy as np

import pydl


def spirals(n_per_class=200, classes=3, noise=0.15, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        theta = np.linspace(c * 2 * math.pi / classes, c * 2 * math.pi / classes + 3.5, n_per_class)
        theta = theta + rng.normal(0, noise, n_per_class)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], 1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def init_linear(fan_in, fan_out):
    # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(fan_in)
    w = (pydl.rand(fan_out, fan_in) * (2 * bound) - bound).requires_grad_()
    b = (pydl.rand(fan_out) * (2 * bound) - bound).requires_grad_()
    return w, b


def cross_entropy(logits, target):
    logp = logits - logits.logsumexp(1, keepdim=True)
    return -logp.gather(1, target.unsqueeze(1)).mean()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        pydl.set_num_threads(args.threads)
    pydl.manual_seed(0)

    x_np, y_np = spirals()
    x, y = pydl.from_numpy(x_np), pydl.from_numpy(y_np)
    params = [*init_linear(2, args.hidden), *init_linear(args.hidden, args.hidden), *init_linear(args.hidden, 3)]
    velocity = [pydl.zeros_like(p) for p in params]
    w1, b1, w2, b2, w3, b3 = params

    print(f"pydl {pydl.__version__}: MLP 2-{args.hidden}-{args.hidden}-3 on {len(y_np)} spiral points, "
          f"{pydl.get_num_threads()} thread(s), kernels: {pydl.kernels.current_isa()}")
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        h = (x @ w1.T + b1).tanh()
        h = (h @ w2.T + b2).tanh()
        loss = cross_entropy(h @ w3.T + b3, y)
        for p in params:
            p.grad = None
        loss.backward()
        with pydl.no_grad():
            for p, v in zip(params, velocity):
                v.mul_(0.9).add_(p.grad)
                p.sub_(v * args.lr)
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0:
            print(f"epoch {epoch:4d}  loss {loss.item():.4f}")
    with pydl.no_grad():
        h = (x @ w1.T + b1).tanh()
        h = (h @ w2.T + b2).tanh()
        acc = ((h @ w3.T + b3).argmax(1) == y).float().mean().item()
    print(f"train accuracy {acc * 100:.1f}% in {time.perf_counter() - t0:.2f} s")
    return acc


if __name__ == "__main__":
    main()
