"""pydl.cuda: whether CUDA can be used here, and if not, why.

The CUDA code lives in a separate extension module, ``pydl._C_cuda``, built only when a CUDA compiler
was found at build time (see cmake/cuda.cmake). It links the CUDA runtime statically, so it imports
on a machine without a driver and reports 0 devices. This module imports it lazily and turns every
way of not having CUDA -- not built, fails to import, no driver, no GPU -- into
``is_available() == False`` plus a ``status()`` line that says which. Importing ``pydl.cuda`` and
calling ``is_available()``, ``status()`` or ``device_count()`` never raise; the functions that need a
device raise ``RuntimeError("CUDA is not available: <status>")`` without one.

Names and behaviour follow ``torch.cuda``.
"""

from __future__ import annotations

import dataclasses
import importlib.util

__all__ = [
    "DeviceProperties",
    "device_count",
    "get_device_name",
    "get_device_properties",
    "is_available",
    "status",
    "synchronize",
]

_PACKAGE = __name__.rpartition(".")[0] or "pydl"
_NOT_LOADED = object()
_module = _NOT_LOADED  # the _C_cuda module, None when it cannot be imported, or _NOT_LOADED
_import_failure = ""  # why _module is None


def _load():
    """The ``_C_cuda`` module, or None (with the reason in ``_import_failure``); imported once."""
    global _module, _import_failure
    if _module is _NOT_LOADED:
        try:
            from . import _C_cuda
        except Exception as exc:  # ImportError, OSError from the loader, anything from its init
            _module, _import_failure = None, _describe_import_failure(exc)
        else:
            _module, _import_failure = _C_cuda, ""
    return _module


def _describe_import_failure(exc: BaseException) -> str:
    try:
        present = importlib.util.find_spec(f"{_PACKAGE}._C_cuda") is not None
    except Exception:
        present = True  # found something, but not a loadable module: report the import error
    if not present:
        return (
            f"{_PACKAGE} was built without CUDA: the extension module {_PACKAGE}._C_cuda is not "
            "present (no CUDA compiler at build time, or PYDL_CUDA=OFF)"
        )
    return f"the CUDA extension module {_PACKAGE}._C_cuda failed to import: {type(exc).__name__}: {exc}"


def device_count() -> int:
    """Number of usable CUDA devices; 0 when CUDA is unavailable for any reason. Never raises."""
    m = _load()
    if m is None:
        return 0
    try:
        return int(m.device_count())
    except Exception:
        return 0


def is_available() -> bool:
    """True when at least one CUDA device can be used. Never raises; ``status()`` says why not."""
    return device_count() > 0


def status() -> str:
    """One line: the CUDA devices found, or why CUDA is unavailable. Never raises."""
    m = _load()
    if m is None:
        return _import_failure
    try:
        return str(m.status())
    except Exception as exc:
        return f"CUDA status unknown: {type(exc).__name__}: {exc}"


def _require():
    """The ``_C_cuda`` module, or RuntimeError('CUDA is not available: <status>')."""
    m = _load()
    if m is None or device_count() == 0:
        raise RuntimeError(f"CUDA is not available: {status()}")
    return m


def _device_index(device) -> int:
    """Accepts None (device 0), an int, "cuda", "cuda:N", or an object with .type and .index."""
    if device is None:
        return 0
    if isinstance(device, bool):
        raise ValueError(f"Expected a CUDA device, but got: {device!r}")
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        if kind == "cuda" and (index == "" or index.isdigit()):
            return int(index) if index else 0
        raise ValueError(f"Expected a CUDA device, but got: {device!r}")
    kind, index = getattr(device, "type", None), getattr(device, "index", None)
    if kind == "cuda":
        return 0 if index is None else int(index)
    raise ValueError(f"Expected a CUDA device, but got: {device!r}")


def _checked_index(device) -> int:
    _require()
    index = _device_index(device)
    if not 0 <= index < device_count():
        # torch.cuda.get_device_properties raises AssertionError("Invalid device id") here.
        raise AssertionError("Invalid device id")
    return index


@dataclasses.dataclass(frozen=True)
class DeviceProperties:
    """What ``get_device_properties`` returns; field names as in torch's device properties."""

    name: str
    major: int
    minor: int
    total_memory: int
    multi_processor_count: int
    warp_size: int
    max_threads_per_block: int
    max_threads_per_multi_processor: int
    shared_memory_per_block: int
    shared_memory_per_block_optin: int
    shared_memory_per_multiprocessor: int
    regs_per_block: int
    L2_cache_size: int
    pci_bus_id: int

    def __str__(self) -> str:
        return (
            f"{self.name} (sm_{self.major}{self.minor}, {self.total_memory / 2**30:.1f} GiB, "
            f"{self.multi_processor_count} SMs)"
        )


def get_device_properties(device=None) -> DeviceProperties:
    """Properties of a CUDA device (default: device 0)."""
    index = _checked_index(device)
    props = _require().get_device_properties(index)
    return DeviceProperties(**{f.name: props[f.name] for f in dataclasses.fields(DeviceProperties)})


def get_device_name(device=None) -> str:
    """Name of a CUDA device (default: device 0), e.g. 'NVIDIA H100 80GB HBM3'."""
    return get_device_properties(device).name


def synchronize(device=None) -> None:
    """Wait for all work on a CUDA device to finish (default: the current device)."""
    m = _require()
    if device is None:
        m.synchronize(-1)
        return
    index = _device_index(device)
    if not 0 <= index < device_count():
        raise RuntimeError(f"CUDA error: invalid device ordinal {index} ({device_count()} device(s))")
    m.synchronize(index)
