// csrc/cuda/emu/module.cpp -- pydl._cuemu: the CUDA kernels run on the CPU emulator (emu.h).
//
// The kernel functions are the same as pydl._C_cuda's (cuda/kernels/bind_kernels.cpp), plus the
// emulator's schedule controls and, in the submodule `planted`, the deliberately buggy kernels of
// tests/planted_bugs.cu that the tests use to prove each kind of bug is caught. Errors found by the
// emulator are std::runtime_error -> RuntimeError; bad arguments are ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "cuda/emu/emu.h"
#include "cuda/emu/tests/planted_bugs.h"
#include "cuda/kernels/bind_kernels.h"

namespace py = pybind11;
namespace pl = pydl::cuda::planted;

namespace {

using Array = py::array_t<float, py::array::c_style>;

// Runs f(device in, device out) on a copy of x; returns the n_out floats of out.
template <typename F>
Array run(const Array& x, py::ssize_t n_out, F f) {
  float* dx = nullptr;
  float* dy = nullptr;
  struct Free {
    float** a;
    float** b;
    ~Free() { cudaFree(*a); cudaFree(*b); }
  } guard{&dx, &dy};
  PYDL_CUDA_CHECK(cudaMalloc(&dx, x.size() * sizeof(float)));
  PYDL_CUDA_CHECK(cudaMalloc(&dy, n_out * sizeof(float)));
  PYDL_CUDA_CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  {
    py::gil_scoped_release nogil;
    f(dx, dy);
  }
  Array out(n_out);
  PYDL_CUDA_CHECK(cudaMemcpy(out.mutable_data(), dy, n_out * sizeof(float), cudaMemcpyDeviceToHost));
  return out;
}

void need(const Array& x, py::ssize_t n, const char* fn) {
  if (x.size() != n)
    throw py::value_error(std::string(fn) + ": expected " + std::to_string(n) + " floats");
}

}  // namespace

PYBIND11_MODULE(_cuemu, m) {
  m.doc() = "pydl's CUDA kernels on a CPU emulation of the CUDA execution model";
  pydl::cuda::bind_kernels(m);

  m.def("set_schedule",
        [](const std::string& block_order, const std::string& thread_order, std::uint64_t seed,
           int num_threads) {
          pydl_emu::Schedule s;
          s.block_order = pydl_emu::parse_order(block_order);
          s.thread_order = pydl_emu::parse_order(thread_order);
          s.seed = seed;
          if (num_threads < 0) throw py::value_error("set_schedule: num_threads must be >= 0");
          s.num_threads = num_threads;
          pydl_emu::set_schedule(s);
        },
        py::arg("block_order") = "forward", py::arg("thread_order") = "forward",
        py::arg("seed") = 0, py::arg("num_threads") = 0,
        "Order blocks run in and order a block's threads are resumed in at each barrier: "
        "'forward', 'reverse' or 'random' (seeded); num_threads=0: OpenMP's default");
  m.def("get_schedule", [] {
    const pydl_emu::Schedule s = pydl_emu::get_schedule();
    py::dict d;
    d["block_order"] = pydl_emu::order_name(s.block_order);
    d["thread_order"] = pydl_emu::order_name(s.thread_order);
    d["seed"] = s.seed;
    d["num_threads"] = s.num_threads;
    return d;
  });
  m.def("live_allocations", &pydl_emu::live_allocations,
        "Number of emulated device allocations not yet freed");

  py::module_ p = m.def_submodule("planted", "Deliberately buggy kernels (tests only)");
  p.def("tree_sum", [](int bug, const Array& x) {
    if (x.ndim() != 2 || x.shape(1) != 256) throw py::value_error("tree_sum: x must be (R, 256)");
    const int R = static_cast<int>(x.shape(0));
    return run(x, R, [&](float* dx, float* dy) { pl::tree_sum(bug, dx, dy, R); });
  });
  p.def("early_return_barrier", [](const Array& x, int n) {
    need(x, 64, "early_return_barrier");
    return run(x, 64, [&](float* dx, float* dy) { pl::early_return_barrier(dx, dy, n); });
  });
  p.def("split_barrier", [] {
    Array x(32);
    return run(x, 32, [](float*, float* dy) { pl::split_barrier(dy); });
  });
  p.def("shfl_exited_lane", [](const Array& x) {
    need(x, 32, "shfl_exited_lane");
    return run(x, 32, [](float* dx, float* dy) { pl::shfl_exited_lane(dx, dy); });
  });
  p.def("shfl_mask_without_self", [](const Array& x) {
    need(x, 32, "shfl_mask_without_self");
    return run(x, 32, [](float* dx, float* dy) { pl::shfl_mask_without_self(dx, dy); });
  });
  p.def("shfl_vs_barrier", [](const Array& x) {
    need(x, 32, "shfl_vs_barrier");
    return run(x, 32, [](float* dx, float* dy) { pl::shfl_vs_barrier(dx, dy); });
  });
  p.def("mismatched_collectives", [](const Array& x) {
    need(x, 32, "mismatched_collectives");
    return run(x, 32, [](float* dx, float* dy) { pl::mismatched_collectives(dx, dy); });
  });
  p.def("oob_read", [](const Array& x) {
    const int n = static_cast<int>(x.size());
    // Exactly n floats on the device, so x[n] is in the allocation's padding.
    float* dx = nullptr;
    float* dy = nullptr;
    PYDL_CUDA_CHECK(cudaMalloc(&dx, n * sizeof(float)));
    PYDL_CUDA_CHECK(cudaMalloc(&dy, n * sizeof(float)));
    cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice);
    pl::oob_read(dx, dy, n);
    Array out(n);
    cudaMemcpy(out.mutable_data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(dx);
    cudaFree(dy);
    return out;
  });
  p.def("oob_write", [](const Array& x) {
    const py::ssize_t n = x.size();
    return run(x, n, [&](float* dx, float* dy) { pl::oob_write(dx, dy, static_cast<int>(n)); });
  });
  p.def("smem_overflow", [] {
    Array x(32);
    return run(x, 32, [](float*, float* dy) { pl::smem_overflow(dy); });
  });
}
