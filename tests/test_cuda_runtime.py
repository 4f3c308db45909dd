"""pydl.cuda and the _C_cuda runtime wrapper.

Three groups:
- always: the public functions never raise where they promise not to, and agree with each other;
  an extension that is missing or broken reads as "not available" with a reason.
- no GPU (CI, this machine): is_available() is False and says why; everything that needs a device
  raises RuntimeError; the built module (when there is one) reports 0 devices and turns CUDA
  failures into RuntimeError rather than crashing.
- GPU present: a real round trip through malloc, the fill kernel, memset and the copies.
"""

import array
import sys
import types

import pytest

import pydl
import pydl.cuda as cuda

HAS_GPU = cuda.is_available()

try:
    from pydl import _C_cuda
except ImportError:
    _C_cuda = None

needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="a CUDA device is present: checks the no-GPU behaviour")
needs_module = pytest.mark.skipif(_C_cuda is None, reason=f"pydl._C_cuda not built: {cuda.status()}")
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason=f"needs a CUDA device ({cuda.status()})")


# -- Always --------------------------------------------------------------------------------------


def test_public_functions_agree_and_do_not_raise():
    assert isinstance(cuda.is_available(), bool)
    n = cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert cuda.is_available() == (n > 0)
    s = cuda.status()
    assert isinstance(s, str) and s.strip()


@pytest.fixture
def fresh_load(monkeypatch):
    """Forget the cached _C_cuda so the next call imports again; undone after the test."""
    monkeypatch.setattr(cuda, "_module", cuda._NOT_LOADED)
    monkeypatch.setattr(cuda, "_import_failure", "")
    monkeypatch.delattr(pydl, "_C_cuda", raising=False)
    return monkeypatch


def test_module_not_built_reads_as_unavailable(fresh_load):
    fresh_load.setitem(sys.modules, "pydl._C_cuda", None)  # makes the import fail as if absent
    assert cuda.is_available() is False
    assert cuda.device_count() == 0
    assert "built without CUDA" in cuda.status()
    with pytest.raises(RuntimeError, match="CUDA is not available: .*built without CUDA"):
        cuda.synchronize()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        cuda.get_device_name()


def test_module_that_raises_reads_as_unavailable(fresh_load):
    def boom(*args):
        raise RuntimeError("driver exploded")

    broken = types.ModuleType("pydl._C_cuda")
    broken.device_count = broken.status = broken.synchronize = boom
    fresh_load.setitem(sys.modules, "pydl._C_cuda", broken)
    assert cuda.is_available() is False
    assert cuda.device_count() == 0
    assert "driver exploded" in cuda.status()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        cuda.synchronize()


# -- No GPU --------------------------------------------------------------------------------------


@needs_no_gpu
def test_unavailable_without_gpu():
    assert cuda.is_available() is False
    assert cuda.device_count() == 0
    s = cuda.status()
    assert s.strip()
    # One of the reasons pydl.cuda knows: not built, import failure, no driver / no device.
    assert any(k in s for k in ("built without CUDA", "failed to import", "no CUDA device")), s


@needs_no_gpu
@pytest.mark.parametrize(
    "call",
    [
        lambda: cuda.synchronize(),
        lambda: cuda.synchronize(0),
        lambda: cuda.get_device_name(),
        lambda: cuda.get_device_properties(0),
    ],
    ids=["synchronize", "synchronize(0)", "get_device_name", "get_device_properties"],
)
def test_device_functions_raise_without_gpu(call):
    with pytest.raises(RuntimeError, match="CUDA is not available: "):
        call()


@needs_no_gpu
@needs_module
def test_module_reports_zero_devices_without_gpu():
    assert _C_cuda.device_count() == 0
    assert _C_cuda.status().startswith("no CUDA device: ")
    assert _C_cuda.cuda_architectures  # e.g. "80-real,90"
    assert _C_cuda.runtime_version() >= 12000


@needs_no_gpu
@needs_module
@pytest.mark.parametrize(
    "call, text",
    [
        (lambda: _C_cuda.malloc(16), "cudaMalloc"),
        (lambda: _C_cuda.synchronize(), "cudaDeviceSynchronize"),
        (lambda: _C_cuda.memset(256, 0, 4), "cudaMemset"),
        (lambda: _C_cuda.memcpy_htod(256, b"abcd", 4), "cudaMemcpy"),
        (lambda: _C_cuda.fill_f32(256, 4, 1.0), "launch of fill_f32_kernel"),
        (lambda: _C_cuda.get_device_properties(0), "no CUDA device"),
    ],
    ids=["malloc", "synchronize", "memset", "memcpy_htod", "fill_f32", "get_device_properties"],
)
def test_module_cuda_failures_raise_runtime_error(call, text):
    with pytest.raises(RuntimeError, match=text) as info:
        call()
    msg = str(info.value)
    if text != "no CUDA device":  # a failed CUDA call names itself, the error and file:line
        assert "CUDA error: " in msg and "csrc/cuda/runtime.cu:" in msg, msg


# -- Argument checks (before any CUDA call, so they hold with or without a GPU) ------------------


@needs_module
def test_module_argument_checks():
    assert _C_cuda.malloc(0) == 0
    _C_cuda.free(0)  # no-op
    _C_cuda.memcpy_htod(0, b"", 0)  # nothing to copy
    with pytest.raises(ValueError, match="null pointer"):
        _C_cuda.fill_f32(0, 4, 1.0)
    with pytest.raises(ValueError, match="aligned"):
        _C_cuda.fill_f32(2, 4, 1.0)
    with pytest.raises(ValueError, match="exceeds the host buffer"):
        _C_cuda.memcpy_htod(256, b"abcd", 8)
    with pytest.raises(BufferError):  # bytes are read-only
        _C_cuda.memcpy_dtoh(b"abcd", 256, 4)
    with pytest.raises(TypeError):  # a negative size is not a size_t
        _C_cuda.malloc(-1)


# -- GPU present ---------------------------------------------------------------------------------


@needs_gpu
def test_status_and_properties_with_gpu():
    assert cuda.status().startswith("CUDA available: ")
    props = cuda.get_device_properties(0)
    assert props.name and props.name == cuda.get_device_name(0) == cuda.get_device_name("cuda:0")
    assert props.major >= 7 and props.total_memory > 0 and props.multi_processor_count > 0
    assert props.warp_size == 32
    cuda.synchronize()
    cuda.synchronize(0)
    with pytest.raises(AssertionError, match="Invalid device id"):
        cuda.get_device_properties(cuda.device_count())


@needs_gpu
@pytest.mark.parametrize("n", [1, 7, 1000, 65 * 1024 + 3])
def test_round_trip_with_gpu(n):
    nbytes = 4 * n
    a = _C_cuda.malloc(nbytes)
    b = _C_cuda.malloc(nbytes)
    try:
        assert a != 0 and a % 256 == 0
        _C_cuda.fill_f32(a, n, 3.5)
        host = array.array("f", [0.0]) * n
        _C_cuda.memcpy_dtoh(host, a, nbytes)
        assert all(x == 3.5 for x in host)

        _C_cuda.memset(a, 0, nbytes)
        _C_cuda.memcpy_dtoh(host, a, nbytes)
        assert all(x == 0.0 for x in host)

        src = array.array("f", range(n))
        _C_cuda.memcpy_htod(a, src, nbytes)
        _C_cuda.memcpy_dtod(b, a, nbytes)
        _C_cuda.memcpy_dtoh(host, b, nbytes)
        assert host == src

        with pytest.raises(ValueError):  # refused before launch: the context stays usable
            _C_cuda.fill_f32(a + 2, 1, 1.0)
        _C_cuda.synchronize()
    finally:
        _C_cuda.free(a)
        _C_cuda.free(b)
