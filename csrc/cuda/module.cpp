// csrc/cuda/module.cpp -- the pybind11 module pydl._C_cuda: the CUDA runtime wrapper as Python sees it.
//
// Built by the host compiler; it includes only the CUDA-free part of runtime.h. Errors arrive as
// C++ exceptions and leave as Python ones: std::runtime_error -> RuntimeError (CUDA failures),
// std::invalid_argument -> ValueError, std::out_of_range -> IndexError (bad device index).
// Device pointers are plain Python ints (the caching allocator and Tensor storage come later).
// Host data is any C-contiguous buffer (bytes, bytearray, memoryview, numpy array) or an int address.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/kernels/bind_kernels.h"
#include "cuda/runtime.h"

namespace py = pybind11;
namespace cu = pydl::cuda;

namespace {

void* as_ptr(std::uintptr_t address) { return reinterpret_cast<void*>(address); }
std::uintptr_t as_int(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr); }

// A C-contiguous view of a Python buffer, held (and so kept alive and unmoved) while in scope.
class HostBuffer {
 public:
  HostBuffer(const py::buffer& obj, bool writable) {
    const int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj.ptr(), &view_, flags) != 0) throw py::error_already_set();
  }
  ~HostBuffer() { PyBuffer_Release(&view_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  void* data() const { return view_.buf; }
  // Throws ValueError unless nbytes fits in the buffer.
  void check_fits(std::size_t nbytes, const char* what) const {
    if (nbytes > static_cast<std::size_t>(view_.len))
      throw std::invalid_argument(std::string(what) + ": nbytes=" + std::to_string(nbytes) +
                                  " exceeds the host buffer's " + std::to_string(view_.len) +
                                  " bytes");
  }

 private:
  Py_buffer view_{};
};

py::dict properties_dict(int device) {
  const cu::DeviceProperties p = cu::get_device_properties(device);
  // Keys follow torch.cuda.get_device_properties() where it has the field.
  py::dict d;
  d["name"] = p.name;
  d["major"] = p.major;
  d["minor"] = p.minor;
  d["total_memory"] = p.total_memory;
  d["multi_processor_count"] = p.multi_processor_count;
  d["warp_size"] = p.warp_size;
  d["max_threads_per_block"] = p.max_threads_per_block;
  d["max_threads_per_multi_processor"] = p.max_threads_per_multiprocessor;
  d["shared_memory_per_block"] = p.shared_memory_per_block;
  d["shared_memory_per_block_optin"] = p.shared_memory_per_block_optin;
  d["shared_memory_per_multiprocessor"] = p.shared_memory_per_multiprocessor;
  d["regs_per_block"] = p.regs_per_block;
  d["L2_cache_size"] = p.l2_cache_size;
  d["pci_bus_id"] = p.pci_bus_id;
  return d;
}

void memcpy_htod_buffer(std::uintptr_t dst, const py::buffer& src, std::size_t nbytes) {
  HostBuffer host(src, /*writable=*/false);
  host.check_fits(nbytes, "memcpy_htod");
  py::gil_scoped_release no_gil;
  cu::memcpy_htod(as_ptr(dst), host.data(), nbytes);
}

void memcpy_dtoh_buffer(const py::buffer& dst, std::uintptr_t src, std::size_t nbytes) {
  HostBuffer host(dst, /*writable=*/true);
  host.check_fits(nbytes, "memcpy_dtoh");
  py::gil_scoped_release no_gil;
  cu::memcpy_dtoh(host.data(), as_ptr(src), nbytes);
}

}  // namespace

using release_gil = py::call_guard<py::gil_scoped_release>;

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "pydl's CUDA runtime wrapper (raw device pointers as ints; errors raise RuntimeError)";
  m.attr("cuda_architectures") = PYDL_CUDA_ARCHITECTURES;  // what the device code was built for

  // Devices
  m.def("device_count", &cu::device_count, "Number of CUDA devices; 0 (never an error) without a driver or GPU");
  m.def("status", &cu::status, "One line: the devices found, or why there are none");
  m.def("driver_version", &cu::driver_version, "CUDA version the driver supports (13000 = 13.0); 0 without a driver");
  m.def("runtime_version", &cu::runtime_version, "CUDA runtime version linked into this module");
  m.def("get_device_properties", &properties_dict, py::arg("device"), "Properties of a device, as a dict");
  m.def("synchronize", &cu::synchronize, py::arg("device") = -1, release_gil(),
        "Wait for all work on a device (-1: the current one) to finish");

  // Memory: device pointers are ints
  m.def("malloc", [](std::size_t nbytes) { return as_int(cu::device_malloc(nbytes)); },
        py::arg("nbytes"), release_gil(), "cudaMalloc; returns the device address (0 for nbytes=0)");
  m.def("free", [](std::uintptr_t ptr) { cu::device_free(as_ptr(ptr)); }, py::arg("ptr"),
        release_gil(), "cudaFree; 0 is a no-op");
  m.def("memcpy_htod", &memcpy_htod_buffer, py::arg("dst"), py::arg("src"), py::arg("nbytes"),
        "Copy nbytes from a host buffer to device address dst");
  m.def("memcpy_htod", [](std::uintptr_t dst, std::uintptr_t src, std::size_t nbytes) {
          cu::memcpy_htod(as_ptr(dst), as_ptr(src), nbytes);
        },
        py::arg("dst"), py::arg("src"), py::arg("nbytes"), release_gil(),
        "Copy nbytes from host address src to device address dst");
  m.def("memcpy_dtoh", &memcpy_dtoh_buffer, py::arg("dst"), py::arg("src"), py::arg("nbytes"),
        "Copy nbytes from device address src into a writable host buffer");
  m.def("memcpy_dtoh", [](std::uintptr_t dst, std::uintptr_t src, std::size_t nbytes) {
          cu::memcpy_dtoh(as_ptr(dst), as_ptr(src), nbytes);
        },
        py::arg("dst"), py::arg("src"), py::arg("nbytes"), release_gil(),
        "Copy nbytes from device address src to host address dst");
  m.def("memcpy_dtod", [](std::uintptr_t dst, std::uintptr_t src, std::size_t nbytes) {
          cu::memcpy_dtod(as_ptr(dst), as_ptr(src), nbytes);
        },
        py::arg("dst"), py::arg("src"), py::arg("nbytes"), release_gil(),
        "Copy nbytes between device addresses");
  m.def("memset", [](std::uintptr_t ptr, int value, std::size_t nbytes) {
          cu::device_memset(as_ptr(ptr), value, nbytes);
        },
        py::arg("ptr"), py::arg("value"), py::arg("nbytes"), release_gil(),
        "Set nbytes at device address ptr to the byte value");

  // Kernels
  m.def("fill_f32", [](std::uintptr_t ptr, std::size_t n, float value) {
          cu::fill_f32(static_cast<float*>(as_ptr(ptr)), n, value);
        },
        py::arg("ptr"), py::arg("n"), py::arg("value"), release_gil(),
        "Fill n float32 values at device address ptr (asynchronous; synchronize() to wait)");

  // The kernels of csrc/cuda/kernels/ on host arrays (copied to the device and back), the same
  // functions pydl._cuemu runs on the CPU emulator.
  pydl::cuda::bind_kernels(m);
}
