"""Training practice: a supervised fit loop with validation, early stopping with best-weights restore,
per-epoch checkpoints, progress bars and loss curves; evaluation; random hyper-parameter search;
freezing for transfer learning. The building blocks of ``python -m pydl.train``.

Everything here is ordinary pydl code (modules, optimizers, DataLoader); nothing is hidden in it
that a user could not write in a loop of their own.
"""
import copy
import math
import os
import random
import time

from . import _creation as C
from .autograd import no_grad

__all__ = ["EarlyStopping", "History", "evaluate", "fit", "freeze", "unfreeze", "random_search",
           "plot_history", "progress"]


def progress(iterable, desc, total=None, enabled=True):
    """A tqdm progress bar when tqdm is installed and ``enabled``; the bare iterable otherwise."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


class History(dict):
    """Per-epoch metrics: ``history["train_loss"][e]``, ``history["val_acc"][e]``, ..."""

    def add(self, **metrics):
        for k, v in metrics.items():
            self.setdefault(k, []).append(v)


class EarlyStopping:
    """Stops when the monitored validation metric has not improved by ``min_delta`` for ``patience``
    epochs, keeping a copy of the best weights for ``restore(model)``."""

    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.best, self.best_epoch, self.best_state, self.bad_epochs = None, -1, None, 0

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value, model, epoch):
        """Record this epoch's metric; returns True when training should stop."""
        if not math.isfinite(value):
            raise RuntimeError(f"EarlyStopping: the monitored metric is {value} at epoch {epoch}")
        if self._improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def restore(self, model):
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def _accuracy_count(logits, y):
    if y.ndim != 1 or logits.ndim != 2:
        return None
    return int((logits.argmax(1) == y).sum().item())


def evaluate(model, loader, loss_fn, show_progress=False):
    """Mean loss and accuracy (None for non-classification targets) of ``model`` over ``loader``,
    in eval mode and without building a graph."""
    was_training = model.training
    model.eval()
    total_loss, correct, n, counted = 0.0, 0, 0, True
    with no_grad():
        for x, y in progress(loader, "eval", len(loader), show_progress):
            out = model(x)
            loss = loss_fn(out, y)
            b = x.shape[0]
            total_loss += float(loss.item()) * b
            c = _accuracy_count(out, y)
            counted = counted and c is not None
            correct += c or 0
            n += b
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return total_loss / n, (correct / n if counted else None)


def fit(model, optimizer, loss_fn, train_loader, val_loader=None, epochs=10, scheduler=None,
        early_stopping=None, checkpoint_dir=None, show_progress=True, log=print, clip_grad_norm=None,
        batch_transform=None):
    """Train ``model`` for ``epochs`` (fewer if ``early_stopping`` fires) and return the History.

    Each epoch: one pass over ``train_loader`` (``batch_transform(x, y) -> (x, y)`` applies batch-level
    augmentation such as Mixup), an evaluation on ``val_loader``, a scheduler step (ReduceLROnPlateau
    gets the validation loss), a checkpoint ``last.safetensors`` (model, optimizer, scheduler, RNG,
    epoch, history) in ``checkpoint_dir``, and ``best.safetensors`` when the validation loss improves.
    With early stopping, the best weights are restored at the end."""
    from . import get_rng_state
    from .nn.utils import clip_grad_norm_
    from .serialization import save
    history = History()
    best_val = math.inf
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
    for epoch in range(epochs):
        model.train()
        t0, total, correct, n, counted = time.perf_counter(), 0.0, 0, 0, True
        bar = progress(train_loader, f"epoch {epoch + 1}/{epochs}", len(train_loader), show_progress)
        for x, y in bar:
            if batch_transform is not None:
                x, y = batch_transform(x, y)
            optimizer.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            lv = float(loss.item())
            if not math.isfinite(lv):
                raise RuntimeError(f"fit: the training loss became {lv} at epoch {epoch + 1}; lower the "
                                   f"learning rate or clip gradients")
            loss.backward()
            if clip_grad_norm:
                clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            b = x.shape[0]
            total += lv * b
            n += b
            c = _accuracy_count(out, y)
            counted = counted and c is not None
            correct += c or 0
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total / n:.4f}", **({"acc": f"{correct / n:.3f}"} if counted else {}))
        metrics = {"train_loss": total / max(n, 1), "epoch_time": time.perf_counter() - t0}
        if counted:
            metrics["train_acc"] = correct / max(n, 1)
        if val_loader is not None:
            vl, va = evaluate(model, val_loader, loss_fn)
            metrics["val_loss"] = vl
            if va is not None:
                metrics["val_acc"] = va
        history.add(**metrics)
        if scheduler is not None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(metrics.get("val_loss", metrics["train_loss"]))
            else:
                scheduler.step()
        if log:
            log(f"epoch {epoch + 1:3d}/{epochs}  " + "  ".join(
                f"{k} {v:.4f}" if k != "epoch_time" else f"{v:.1f}s" for k, v in metrics.items()))
        if checkpoint_dir:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                     "rng": get_rng_state(), "history": dict(history)}
            if scheduler is not None and hasattr(scheduler, "state_dict"):
                state["scheduler"] = scheduler.state_dict()
            save(state, os.path.join(checkpoint_dir, "last.safetensors"))
            if metrics.get("val_loss", math.inf) < best_val:
                best_val = metrics["val_loss"]
                save({"model": model.state_dict(), "epoch": epoch + 1},
                     os.path.join(checkpoint_dir, "best.safetensors"))
        if early_stopping is not None and val_loader is not None:
            if early_stopping.step(metrics["val_loss"], model, epoch + 1):
                if log:
                    log(f"early stopping: no improvement for {early_stopping.patience} epochs; restoring "
                        f"the weights of epoch {early_stopping.best_epoch}")
                break
    if early_stopping is not None:
        early_stopping.restore(model)
    return history


def plot_history(history, path, title=None):
    """Loss (and accuracy) curves as a PNG; returns the path, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    acc = "train_acc" in history or "val_acc" in history
    fig, axes = plt.subplots(1, 2 if acc else 1, figsize=(10 if acc else 5, 3.5))
    axes = list(axes) if acc else [axes]
    for key in ("train_loss", "val_loss"):
        if key in history:
            axes[0].plot(range(1, len(history[key]) + 1), history[key], label=key.replace("_", " "))
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    if acc:
        for key in ("train_acc", "val_acc"):
            if key in history:
                axes[1].plot(range(1, len(history[key]) + 1), history[key], label=key.replace("_", " "))
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy")
        axes[1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def freeze(module):
    """Transfer learning: stop gradients into ``module``'s parameters and keep its batch-norm
    statistics fixed (eval mode survives a later ``model.train()`` only if re-applied; see
    ``fit``'s caller). Returns the module."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module):
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def random_search(space, objective, trials=8, seed=0, log=print):
    """The seeds' "AutoML" in miniature: draw ``trials`` settings from ``space`` and keep the best.

    ``space`` maps a name to a list of choices (drawn uniformly) or to ("log", low, high) for a
    log-uniform float (learning rates, weight decay). ``objective(**setting)`` returns the validation
    loss to minimise. Returns (best_setting, best_value, all_results)."""
    if trials < 1:
        raise ValueError(f"random_search: trials must be >= 1, got {trials}")
    rng = random.Random(seed)
    results = []
    for t in range(trials):
        setting = {}
        for name, spec in space.items():
            if isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "log":
                lo, hi = math.log(spec[1]), math.log(spec[2])
                setting[name] = math.exp(rng.uniform(lo, hi))
            elif isinstance(spec, (list, tuple)) and spec:
                setting[name] = rng.choice(list(spec))
            else:
                raise ValueError(f"random_search: bad space entry {name!r}: {spec!r}")
        value = float(objective(**setting))
        results.append((setting, value))
        if log:
            log(f"trial {t + 1}/{trials}: " + ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items())
                + f" -> {value:.4f}")
    best = min(results, key=lambda r: r[1] if math.isfinite(r[1]) else math.inf)
    return best[0], best[1], results


def clone_model(model):
    """A deep copy of a module (new parameters with the same values)."""
    return copy.deepcopy(model)


def manual_seed_all(seed):
    """Seed pydl's generator and Python's ``random`` (shuffles, augmentations)."""
    C.manual_seed(seed)
    random.seed(seed)
