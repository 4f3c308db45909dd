"""Training-step time of each vision/generative model in pydl against the same model in torch.

    python bench/model_steps.py [--threads 1] [--repeats 5] [--batch 64]

Run from the repository root: the torch twins are the ones the correctness tests use
(tests/test_models_vision.py), so both sides are the very architectures that were checked equal.
A step is forward + cross-entropy (MSE for autoencoders) + backward + Adam update, float32, on
random data of the model's default input size; the two libraries alternate, and the median of
``--repeats`` timed steps (after one warm-up) is reported with the ratio torch/pydl (> 1: pydl faster).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_models_vision as tw  # noqa: E402

import pydl  # noqa: E402
from pydl import models as M  # noqa: E402
from pydl.nn import functional as F  # noqa: E402


def cases():
    s16 = [max(1, int(round(v / 16))) for v in (96, 256, 384, 384, 256)]
    vcfg = [v if v == "M" else max(1, int(round(v / 8))) for v in M.vgg.CONFIGS["A"]]
    return [
        ("mlp 784-256-128-10", lambda: M.MLP(784, 10, hidden=(256, 128)), lambda: tw.TMLP(784, 10, (256, 128)),
         (1, 28), "ce"),
        ("lenet5 28px", lambda: M.LeNet5(1, 10), lambda: tw.TLeNet(1, 10, 2, False), (1, 28), "ce"),
        ("alexnet w=1/16 28px", lambda: M.AlexNet(1, 10, width=1 / 16, fc=256, dropout=0.0, small_input=True),
         lambda: tw.TAlexNet(1, 10, s16, 256), (1, 28), "ce"),
        ("vgg11-bn w=1/8 32px", lambda: M.VGG("A", 1, 10, width=1 / 8, batch_norm=True, pool_size=1, fc=128,
                                              dropout=0.0),
         lambda: tw.TVGG(vcfg, 1, 10, True, 1, 128), (1, 32), "ce"),
        ("resnet20 28px", lambda: M.resnet20_cifar(num_classes=10, in_channels=1),
         lambda: tw.TResNet(tw.TBasic, [3, 3, 3], 10, 1, (16, 32, 64), True), (1, 28), "ce"),
        ("googlenet w=1/8 28px", lambda: M.GoogLeNet(10, 1, width=1 / 8, small_input=True, dropout=0.0),
         lambda: tw.TGoogLeNet(10, 1, 1 / 8, False), (1, 28), "ce"),
        ("conv autoencoder 28px", lambda: M.ConvAutoencoder(1, 16), lambda: tw.TConvAE(1, 16), (1, 28), "mse"),
    ]


def step_fns(pm, tm, x, y, loss):
    po, to = pydl.optim.Adam(pm.parameters(), lr=1e-3), torch.optim.Adam(tm.parameters(), lr=1e-3)
    px, py = pydl.tensor(x), pydl.tensor(y if loss == "ce" else x)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y if loss == "ce" else x)
    pl = F.cross_entropy if loss == "ce" else F.mse_loss
    tl = torch.nn.functional.cross_entropy if loss == "ce" else torch.nn.functional.mse_loss

    def p_step():
        po.zero_grad()
        pl(pm(px), py).backward()
        po.step()

    def t_step():
        to.zero_grad()
        tl(tm(tx), ty).backward()
        to.step()
    return p_step, t_step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    pydl.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"training step (fwd + bwd + Adam), float32, batch {args.batch}, {args.threads} thread(s), "
          f"median of {args.repeats}\n")
    print("| model | pydl ms/step | torch ms/step | torch/pydl |\n|---|---:|---:|---:|")
    for name, mk_p, mk_t, (c, s), loss in cases():
        pm, tm = mk_p(), mk_t()
        tw.copy_weights(pm, tm)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.batch, c, s, s)).astype(np.float32)
        if loss == "mse":
            x = rng.random((args.batch, c, s, s)).astype(np.float32)
        y = rng.integers(0, 10, args.batch).astype(np.int64)
        p_step, t_step = step_fns(pm, tm, x, y, loss)
        p_step(), t_step()  # warm-up
        tp, tt = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            p_step()
            tp.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            t_step()
            tt.append(time.perf_counter() - t0)
        mp, mt = statistics.median(tp) * 1e3, statistics.median(tt) * 1e3
        print(f"| {name} | {mp:.1f} | {mt:.1f} | {mt / mp:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
