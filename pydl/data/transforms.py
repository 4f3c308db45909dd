"""Image transforms on pydl tensors, torchvision-shaped.

Per-sample transforms take a float tensor image ``(C, H, W)`` (or any ``(..., H, W)``:
a batch ``(N, C, H, W)`` is transformed as one, with one draw of the random
parameters, as torchvision does). Batch transforms (``Mixup``, ``CutMix``)
take ``(images (N, C, H, W), labels (N,) int64 or (N, K) probabilities)`` and
return the mixed images with soft labels ``(N, K)``; train on them with
``soft_target_cross_entropy`` (or ``F.cross_entropy``, which takes probability
targets).

Randomness: each random transform takes ``generator`` (an int seed or a
``numpy.random.Generator``). Without one, each call draws a fresh seed from
pydl's global generator, so ``pydl.manual_seed`` makes augmentation
reproducible (see ``pydl.data._random``). The parameters of the last call are
kept in ``last_params`` (for inspection and tests).
"""
import math
import numbers

import numpy as np

from .. import _creation as C
from .._tensor import Tensor
from ..ops.shape import flip
from ._random import resolve_rng

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "GaussianNoise", "Cutout", "Mixup",
           "CutMix", "one_hot", "soft_target_cross_entropy"]


def _check_image(name, x, min_dim=2):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a pydl Tensor, got {type(x).__name__}")
    if x.ndim < min_dim:
        raise ValueError(f"{name}: expected a tensor image of shape (..., {'C, ' if min_dim == 3 else ''}H, W), "
                         f"got shape {tuple(x.shape)}")


def _pair(v, name):
    if isinstance(v, numbers.Integral):
        return int(v), int(v)
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(a, numbers.Integral) for a in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(v[0]), int(v[1])


class _Random:
    """Holds the generator policy of a random transform."""

    def __init__(self, generator):
        self._rng = None if generator is None else resolve_rng(generator)
        self.last_params = None

    def _stream(self):
        return self._rng if self._rng is not None else resolve_rng()


class Compose:
    """Applies ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel, as torchvision (x: (..., C, H, W) floating)."""

    def __init__(self, mean, std, inplace=False):
        self.mean = [float(m) for m in (mean if isinstance(mean, (list, tuple)) else [mean])]
        self.std = [float(s) for s in (std if isinstance(std, (list, tuple)) else [std])]
        self.inplace = inplace
        if any(s == 0 for s in self.std):
            raise ValueError(f"std evaluated to zero, leading to division by zero (std={self.std})")

    def __call__(self, x):
        _check_image("Normalize", x, 3)
        if not x.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {x.dtype}.")
        c = x.shape[-3]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values for an image with {c} channels")
        mean = C.tensor(self.mean, dtype=x.dtype).reshape(-1, 1, 1)
        std = C.tensor(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        if self.inplace:
            return x.sub_(mean).div_(std)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomHorizontalFlip(_Random):
    """Flips the last (width) dimension with probability ``p``."""

    def __init__(self, p=0.5, generator=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        super().__init__(generator)
        self.p = p

    def __call__(self, x):
        _check_image("RandomHorizontalFlip", x)
        flipped = bool(self._stream().random() < self.p)
        self.last_params = {"flipped": flipped}
        return flip(x, [-1]) if flipped else x

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop(_Random):
    """Pads by ``padding`` (int, (left/right, top/bottom) or (left, top, right, bottom),
    filled with ``fill``, or ``padding_mode`` "reflect"/"edge"/"symmetric"), then
    crops ``size`` (int or (h, w)) at a uniformly random position."""

    _MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "symmetric": "symmetric"}

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant", generator=None):
        super().__init__(generator)
        self.size = _pair(size, "RandomCrop size")
        if min(self.size) <= 0:
            raise ValueError(f"RandomCrop: size must be positive, got {self.size}")
        if padding is None:
            padding = (0, 0, 0, 0)
        elif isinstance(padding, numbers.Integral):
            padding = (padding,) * 4
        else:
            padding = tuple(padding)
            if len(padding) == 2:
                padding = (padding[0], padding[1], padding[0], padding[1])
            elif len(padding) != 4:
                raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element "
                                 "tuple")
        if any(not isinstance(p, numbers.Integral) or p < 0 for p in padding):
            raise ValueError(f"RandomCrop: padding must be non-negative ints, got {padding}")
        if padding_mode not in self._MODES:
            raise ValueError(f"Padding mode should be either constant, edge, reflect or symmetric, got {padding_mode!r}")
        self.padding = tuple(int(p) for p in padding)  # left, top, right, bottom
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode

    def _pad(self, x, left, top, right, bottom):
        if not (left or top or right or bottom):
            return x
        arr = x.detach().numpy()
        widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            out = np.pad(arr, widths, mode="constant", constant_values=self.fill)
        else:
            if self.padding_mode == "reflect" and (max(top, bottom) >= arr.shape[-2] or
                                                   max(left, right) >= arr.shape[-1]):
                raise ValueError("RandomCrop: reflect padding must be smaller than the image size")
            out = np.pad(arr, widths, mode=self._MODES[self.padding_mode])
        return C.tensor(out, dtype=x.dtype)

    def __call__(self, x):
        _check_image("RandomCrop", x)
        x = self._pad(x, *self.padding)
        th, tw = self.size
        h, w = x.shape[-2], x.shape[-1]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = self._pad(x, dw, dh, dw, dh)
            h, w = x.shape[-2], x.shape[-1]
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        rng = self._stream()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        self.last_params = {"top": i, "left": j}
        return x[..., i:i + th, j:j + tw].contiguous()

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class GaussianNoise(_Random):
    """``x + N(mean, sigma^2)`` noise, elementwise; ``clip`` clamps the result to [0, 1]."""

    def __init__(self, mean=0.0, sigma=0.1, clip=False, generator=None):
        if sigma < 0:
            raise ValueError(f"GaussianNoise: sigma must be non-negative, got {sigma}")
        super().__init__(generator)
        self.mean, self.sigma, self.clip = float(mean), float(sigma), clip

    def __call__(self, x):
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError("GaussianNoise: expected a floating pydl Tensor")
        noise = self._stream().standard_normal(tuple(x.shape)) * self.sigma + self.mean
        noise = C.tensor(noise, dtype=x.dtype)
        self.last_params = {"noise": noise}
        out = x + noise
        return out.clamp(0.0, 1.0) if self.clip else out

    def __repr__(self):
        return f"GaussianNoise(mean={self.mean}, sigma={self.sigma}, clip={self.clip})"


class Cutout(_Random):
    """Sets ``n_holes`` square patches of side ``size`` to ``fill`` (DeVries & Taylor, 2017):
    each centre is uniform over the image; patches are clipped at the border."""

    def __init__(self, size, n_holes=1, fill=0.0, generator=None):
        if not isinstance(size, numbers.Integral) or size <= 0:
            raise ValueError(f"Cutout: size must be a positive int, got {size!r}")
        if not isinstance(n_holes, numbers.Integral) or n_holes < 0:
            raise ValueError(f"Cutout: n_holes must be a non-negative int, got {n_holes!r}")
        super().__init__(generator)
        self.size, self.n_holes, self.fill = int(size), int(n_holes), float(fill)

    def __call__(self, x):
        _check_image("Cutout", x)
        h, w = x.shape[-2], x.shape[-1]
        rng = self._stream()
        keep = np.ones((h, w), dtype=np.float64)
        boxes = []
        for _ in range(self.n_holes):
            cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
            y1, y2 = max(cy - self.size // 2, 0), min(cy - self.size // 2 + self.size, h)
            x1, x2 = max(cx - self.size // 2, 0), min(cx - self.size // 2 + self.size, w)
            keep[y1:y2, x1:x2] = 0.0
            boxes.append((y1, y2, x1, x2))
        self.last_params = {"boxes": boxes}
        keep_t = C.tensor(keep, dtype=x.dtype)
        return x * keep_t + (1.0 - keep_t) * self.fill

    def __repr__(self):
        return f"Cutout(size={self.size}, n_holes={self.n_holes})"


# ----------------------------------------------------------------------
# batch transforms with soft labels
# ----------------------------------------------------------------------
def one_hot(labels, num_classes, dtype=None):
    """``(N,)`` int64 class indices → ``(N, num_classes)`` floating one-hot rows."""
    from .. import _dtype as D
    idx = np.asarray(labels.detach().numpy() if isinstance(labels, Tensor) else labels)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise IndexError(f"one_hot: labels must be in [0, {num_classes}), got range [{idx.min()}, {idx.max()}]")
    return C.tensor(np.eye(num_classes)[idx], dtype=dtype or D.float32)


def _soft_labels(name, y, num_classes, n, dtype):
    if not isinstance(y, Tensor):
        raise TypeError(f"{name}: labels must be a pydl Tensor")
    if y.ndim == 1 and not y.is_floating_point():
        if num_classes is None:
            raise ValueError(f"{name}: num_classes is needed to one-hot integer labels")
        soft = one_hot(y, num_classes, dtype)
    elif y.ndim == 2 and y.is_floating_point():
        soft = y.to(dtype)
    else:
        raise ValueError(f"{name}: labels must be (N,) int64 class indices or (N, K) probabilities, got "
                         f"{y.dtype} of shape {tuple(y.shape)}")
    if soft.shape[0] != n:
        raise ValueError(f"{name}: {n} images but {soft.shape[0]} labels")
    return soft


class _BatchMix(_Random):
    def __init__(self, alpha, num_classes, generator):
        if not alpha > 0:
            raise ValueError(f"{type(self).__name__}: alpha must be positive, got {alpha}")
        super().__init__(generator)
        self.alpha, self.num_classes = float(alpha), num_classes

    def _setup(self, x, y):
        name = type(self).__name__
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 2:
            raise TypeError(f"{name}: images must be a floating pydl Tensor (N, ...)")
        n = x.shape[0]
        soft = _soft_labels(name, y, self.num_classes, n, x.dtype)
        rng = self._stream()
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(n)
        return soft, lam, perm, rng


class Mixup(_BatchMix):
    """Mixup (Zhang et al., 2018): with ``lam ~ Beta(alpha, alpha)`` and a random pairing
    ``perm``, ``x' = lam * x + (1 - lam) * x[perm]`` and ``y' = lam * y + (1 - lam) * y[perm]``
    (one-hot ``y``). Returns ``(x', y')``."""

    def __init__(self, alpha=1.0, num_classes=None, generator=None):
        super().__init__(alpha, num_classes, generator)

    def __call__(self, x, y):
        soft, lam, perm, _ = self._setup(x, y)
        idx = C.tensor(perm, dtype=None)
        self.last_params = {"lam": lam, "perm": perm}
        x_mixed = x * lam + x.index_select(0, idx) * (1.0 - lam)
        y_mixed = soft * lam + soft.index_select(0, idx) * (1.0 - lam)
        return x_mixed, y_mixed


class CutMix(_BatchMix):
    """CutMix (Yun et al., 2019): pastes a box of ``x[perm]`` into ``x``. The box has side
    ratio ``sqrt(1 - lam)`` (``lam ~ Beta(alpha, alpha)``), a uniform centre and is clipped
    at the border; the labels mix by the pasted area: ``y' = a * y + (1 - a) * y[perm]``
    with ``a = 1 - box_area / (H * W)``. Returns ``(x', y')``."""

    def __init__(self, alpha=1.0, num_classes=None, generator=None):
        super().__init__(alpha, num_classes, generator)

    def __call__(self, x, y):
        if x.ndim < 3:
            raise ValueError(f"CutMix: images must be (N, ..., H, W), got shape {tuple(x.shape)}")
        soft, lam, perm, rng = self._setup(x, y)
        h, w = x.shape[-2], x.shape[-1]
        ratio = math.sqrt(1.0 - lam)
        ch, cw = int(h * ratio), int(w * ratio)
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, y2 = min(max(cy - ch // 2, 0), h), min(max(cy + ch // 2, 0), h)
        x1, x2 = min(max(cx - cw // 2, 0), w), min(max(cx + cw // 2, 0), w)
        area_kept = 1.0 - (y2 - y1) * (x2 - x1) / float(h * w)
        mask = np.zeros((h, w), dtype=np.float64)
        mask[y1:y2, x1:x2] = 1.0
        m = C.tensor(mask, dtype=x.dtype)
        idx = C.tensor(perm, dtype=None)
        self.last_params = {"lam": area_kept, "perm": perm, "box": (y1, y2, x1, x2)}
        x_mixed = x * (1.0 - m) + x.index_select(0, idx) * m
        y_mixed = soft * area_kept + soft.index_select(0, idx) * (1.0 - area_kept)
        return x_mixed, y_mixed


def soft_target_cross_entropy(logits, target, reduction="mean"):
    """``-sum_k target[n, k] * log_softmax(logits)[n, k]`` per row, reduced by ``reduction``
    ("mean", "sum", "none"); the loss for Mixup / CutMix soft labels."""
    from ..ops.softmax import log_softmax
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError("soft_target_cross_entropy: logits and target must be pydl Tensors")
    if tuple(logits.shape) != tuple(target.shape) or logits.ndim != 2:
        raise ValueError(f"soft_target_cross_entropy: logits {tuple(logits.shape)} and target "
                         f"{tuple(target.shape)} must both be (N, K)")
    per_row = -(target * log_softmax(logits, dim=1)).sum(dim=1)
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"{reduction} is not a valid value for reduction")
