"""pydl.training (fit, early stopping, random search, freezing) and the python -m pydl.train command."""
import json
import math
import os

import numpy as np
import pytest

import pydl
from pydl import nn, training as T
from pydl.data import DataLoader, TensorDataset
from pydl.nn import functional as F


def spirals_loaders(seed=0):
    from pydl.data.datasets import make_spirals
    x, y = make_spirals(n_samples=300, n_classes=3, seed=seed)
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=32, shuffle=True, seed=seed), DataLoader(ds, batch_size=100)


def test_fit_lowers_loss_and_records_history(tmp_path):
    pydl.manual_seed(0)
    tr, va = spirals_loaders()
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = pydl.optim.Adam(model.parameters(), lr=1e-2)
    sched = pydl.optim.lr_scheduler.StepLR(opt, 5, 0.5)
    hist = T.fit(model, opt, F.cross_entropy, tr, va, epochs=6, scheduler=sched, checkpoint_dir=str(tmp_path),
                 show_progress=False, log=None)
    assert len(hist["train_loss"]) == 6 and len(hist["val_acc"]) == 6
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-3)
    state = pydl.load(str(tmp_path / "last.safetensors"))
    assert state["epoch"] == 6 and set(state["model"]) == set(model.state_dict())
    fresh = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    fresh.load_state_dict(state["model"])
    loss, acc = T.evaluate(fresh, va, F.cross_entropy)
    assert loss == pytest.approx(hist["val_loss"][-1], rel=1e-6)
    assert (tmp_path / "best.safetensors").exists()


def test_fit_refuses_non_finite_loss():
    tr, va = spirals_loaders()
    model = nn.Linear(2, 3)
    opt = pydl.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().numpy().copy()
    bad_loss = (lambda out, y: F.cross_entropy(out, y) * float("inf"))
    with pytest.raises(RuntimeError, match="training loss became"):
        T.fit(model, opt, bad_loss, tr, va, epochs=5, show_progress=False, log=None)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)  # no step was taken with it


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(2, 2)
    es = T.EarlyStopping(patience=2)
    values = [1.0, 0.5, 0.7, 0.6, 0.4]
    stopped_at = None
    snapshots = {}
    for epoch, v in enumerate(values, 1):
        with pydl.no_grad():
            model.weight.fill_(float(epoch))
        snapshots[epoch] = model.weight.detach().numpy().copy()
        if es.step(v, model, epoch):
            stopped_at = epoch
            break
    assert stopped_at == 4 and es.best_epoch == 2 and es.best == 0.5
    es.restore(model)
    np.testing.assert_array_equal(model.weight.detach().numpy(), snapshots[2])
    with pytest.raises(ValueError):
        T.EarlyStopping(patience=0)
    with pytest.raises(RuntimeError, match="nan"):
        T.EarlyStopping().step(float("nan"), model, 1)


def test_random_search_finds_the_minimum_of_its_draws():
    calls = []

    def objective(lr, width):
        calls.append((lr, width))
        return (math.log10(lr) + 2) ** 2 + (0 if width == 2 else 1)
    best, value, results = T.random_search({"lr": ("log", 1e-4, 1e-1), "width": [1, 2, 3]}, objective, trials=12,
                                           seed=3, log=None)
    assert len(results) == 12 == len(calls)
    assert value == min(v for _, v in results)
    assert all(1e-4 <= s["lr"] <= 1e-1 and s["width"] in (1, 2, 3) for s, _ in results)
    # same seed, same draws
    _, _, again = T.random_search({"lr": ("log", 1e-4, 1e-1), "width": [1, 2, 3]}, objective, trials=12, seed=3,
                                  log=None)
    assert [s for s, _ in again] == [s for s, _ in results]
    with pytest.raises(ValueError):
        T.random_search({"lr": 5}, objective, trials=1, log=None)


def test_freeze_stops_gradients_and_updates():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    T.freeze(model[0])
    before = model[0].weight.detach().numpy().copy()
    opt = pydl.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(pydl.randn(5, 4)).square().mean()
    loss.backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    opt.step()
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), before)
    T.unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())


def test_train_command_mlp_on_spirals(tmp_path):
    from pydl import train
    out = str(tmp_path / "run")
    result = train.main(["mlp", "--data", "spirals", "--epochs", "3", "--quiet", "--out", out, "--threads", "1"])
    assert result["data"] == "spirals" and 0.0 <= result["test_acc"] <= 1.0
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["model"] == "mlp" and len(metrics["history"]["train_loss"]) == 3
    assert pydl.load(os.path.join(out, "last.safetensors"))["epoch"] == 3


def test_train_command_rejects_bad_arguments(tmp_path):
    from pydl import train
    with pytest.raises(SystemExit):
        train.main(["lenet", "--data", "spirals", "--epochs", "1", "--quiet", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        train.main(["mlp", "--epochs", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        train.main(["nosuchmodel"])


def test_resize_nearest_and_split():
    from pydl import train
    x = np.arange(2 * 1 * 8 * 8, dtype=np.float32).reshape(2, 1, 8, 8)
    y = train.resize_nearest(x, 32)
    assert y.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(y[:, :, ::4, ::4], x)
    z = train.resize_nearest(np.ones((1, 1, 8, 8), np.float32), 30)  # 3x repeat, then zero padding
    assert z.shape == (1, 1, 30, 30) and z.sum() == 24 * 24
    parts = train.split(np.arange(100), np.arange(100), seed=0)
    assert [len(p[0]) for p in parts] == [80, 10, 10]
    assert sorted(np.concatenate([p[0] for p in parts]).tolist()) == list(range(100))


def test_lfw_faces_loader_and_generative_commands(tmp_path):
    import importlib.util
    if importlib.util.find_spec("skimage") is None:
        pytest.skip("scikit-image is not installed (pip install --no-deps scikit-image)")
    from pydl import train
    from pydl.data import datasets
    x, y = datasets.load_lfw_faces(as_images=True)
    assert tuple(x.shape) == (200, 1, 25, 25) and x.dtype == pydl.float32 and y.dtype == pydl.int64
    xn = x.numpy()
    assert 0.0 <= xn.min() and xn.max() <= 1.0 and int(y.sum().item()) == 100
    r = train.main(["gan", "--data", "faces", "--epochs", "1", "--quiet", "--out", str(tmp_path / "gan")])
    assert r["data"] == "faces" and len(r["history"]["train_loss"]) == 1
    assert all(math.isfinite(v) for v in r["history"]["train_loss"] + r["history"]["val_loss"])
    r = train.main(["conv-autoencoder", "--data", "faces", "--epochs", "2", "--quiet", "--out",
                    str(tmp_path / "ae")])
    assert r["test_mse"] < r["baseline_mse"] * 2  # two epochs: finite and in the baseline's range


def test_image_sizes_fit_every_classifier():
    """Each classifier of the train command accepts the size its data is brought to (VGG's five pools
    need 32 px: 28 would shrink to 0x0)."""
    from pydl import train
    for name in ("lenet", "alexnet", "vgg11", "vgg16", "resnet18", "resnet20", "googlenet"):
        for data in ("mnist5k", "digits"):
            size = train.image_size_for(name, data)
            model = train.build_classifier(name, 1, size, 10, width=0.25)
            model.eval()
            with pydl.no_grad():
                assert tuple(model(pydl.zeros(1, 1, size, size)).shape) == (1, 10), (name, data)
