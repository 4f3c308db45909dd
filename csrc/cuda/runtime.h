// csrc/cuda/runtime.h -- a thin, checked wrapper of the CUDA runtime.
//
// Two parts:
//  1. A plain C++ API (no CUDA headers), used by the pybind11 module, which the host compiler builds.
//     Every function checks its CUDA calls and throws std::runtime_error on failure (std::
//     invalid_argument for a bad argument caught before any CUDA call); nothing here exits the
//     process. The one exception to "throw" is device_count_or_reason(): having no driver or no GPU
//     is a normal state, reported as 0 devices and a reason.
//  2. For CUDA sources only: PYDL_CUDA_CHECK(call), which turns a cudaError_t into that exception,
//     and PYDL_LAUNCH(kernel, grid, block, smem, stream, args...), the one way kernels are launched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pydl::cuda {

// -- Devices --------------------------------------------------------------------------------------

struct DeviceCount {
  int count = 0;
  std::string reason;  // why count is 0 ("" when count > 0)
};

// Never throws for a missing driver or GPU: returns 0 and the runtime's explanation.
DeviceCount device_count_or_reason();
int device_count();  // device_count_or_reason().count

// CUDA versions as 1000*major + 10*minor (13000 = 13.0). driver_version() is 0 with no driver.
int driver_version();
int runtime_version();

struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  std::size_t total_memory = 0;  // bytes
  int multi_processor_count = 0;
  int warp_size = 0;
  int max_threads_per_block = 0;
  int max_threads_per_multiprocessor = 0;
  std::size_t shared_memory_per_block = 0;           // bytes, default limit
  std::size_t shared_memory_per_block_optin = 0;     // bytes, with cudaFuncSetAttribute opt-in
  std::size_t shared_memory_per_multiprocessor = 0;  // bytes
  int regs_per_block = 0;
  int l2_cache_size = 0;  // bytes
  int pci_bus_id = 0;
};

DeviceProperties get_device_properties(int device);  // throws std::out_of_range for a bad index

// One line: "CUDA available: N device(s): 0: <name> (sm_XY, G GiB, S SMs); driver A.B, runtime C.D"
// or "no CUDA device: <reason>". Never throws.
std::string status();

// Waits for all work on `device` (-1: the current device) to finish.
void synchronize(int device = -1);

// -- Memory (raw device pointers; the caching allocator comes later) ------------------------------

void* device_malloc(std::size_t nbytes);  // nullptr for nbytes == 0
void device_free(void* ptr);              // nullptr is a no-op
void memcpy_htod(void* dst, const void* src, std::size_t nbytes);
void memcpy_dtoh(void* dst, const void* src, std::size_t nbytes);
void memcpy_dtod(void* dst, const void* src, std::size_t nbytes);
void device_memset(void* ptr, int value, std::size_t nbytes);  // byte value, like std::memset

// -- Kernels --------------------------------------------------------------------------------------

// out[0:n] = value, on the default stream (asynchronous, like every launch).
void fill_f32(float* out, std::size_t n, float value);

}  // namespace pydl::cuda

// -- For CUDA translation units -------------------------------------------------------------------
#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <utility>

namespace pydl::cuda {

// Throws std::runtime_error("CUDA error: <call> failed: <message> (<name>) at <file>:<line>").
// Also clears the runtime's last-error state, so one failure is not reported twice.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

// Implementation of PYDL_LAUNCH; call the macro, which records the kernel name and call site.
template <typename... KernelArgs, typename... Args>
void launch_checked(const char* kernel_name, const char* file, int line,
                    void (*kernel)(KernelArgs...), dim3 grid, dim3 block, std::size_t smem_bytes,
                    cudaStream_t stream, Args&&... args) {
  kernel<<<grid, block, smem_bytes, stream>>>(std::forward<Args>(args)...);
  const cudaError_t err = cudaGetLastError();  // bad configuration, missing kernel image, ...
  if (err != cudaSuccess) throw_cuda_error(err, kernel_name, file, line);
}

}  // namespace pydl::cuda

// PYDL_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
#define PYDL_CUDA_CHECK(call)                                                    \
  do {                                                                           \
    const cudaError_t pydl_cuda_err_ = (call);                                   \
    if (pydl_cuda_err_ != cudaSuccess)                                           \
      ::pydl::cuda::throw_cuda_error(pydl_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// PYDL_LAUNCH(kernel, grid, block, smem_bytes, stream, args...): the one way to launch a kernel.
// Under nvcc: kernel<<<grid, block, smem_bytes, stream>>>(args...), then a check of the launch that
// throws naming the kernel and this call site. The CPU emulation (DESIGN.md) defines the same
// macro under g++. A template kernel whose name has commas goes in parentheses: (k<float, 4>).
#define PYDL_LAUNCH(kernel, grid, block, smem_bytes, stream, ...)                              \
  ::pydl::cuda::launch_checked("launch of " #kernel, __FILE__, __LINE__, kernel, grid, block, \
                               smem_bytes, stream, ##__VA_ARGS__)

#endif  // __CUDACC__
