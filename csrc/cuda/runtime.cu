// csrc/cuda/runtime.cu -- the checked CUDA runtime wrapper declared in runtime.h, and one trivial
// kernel (fill_f32) so that the nvcc device-code path and the ptxas gate are exercised by every build.
//
// Every CUDA call goes through PYDL_CUDA_CHECK, which throws; nothing here exits the process.
// The runtime is linked statically (cmake/cuda.cmake), so on a machine without a driver the first
// call fails cleanly with cudaErrorInsufficientDriver/cudaErrorNoDevice instead of the module
// failing to import; device_count_or_reason() turns that into "0 devices, because ...".
#include "cuda/runtime.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace pydl::cuda {

namespace {

// "13.0" from 13000.
std::string version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// __FILE__ is absolute under CMake; keep the part from "csrc/" on so messages are short and stable.
const char* short_path(const char* file) {
  const char* p = std::strstr(file, "csrc/");
  return p ? p : file;
}

// Sets a device for the lifetime of the guard and restores the previous one (as torch's guard does).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    PYDL_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) PYDL_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }  // best effort: a destructor must not throw
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// Throws unless 0 <= device < device count: runtime_error with the reason when there is no device,
// out_of_range (IndexError in Python) for a bad index.
void check_device_index(int device) {
  const DeviceCount dc = device_count_or_reason();
  if (dc.count == 0) throw std::runtime_error("no CUDA device: " + dc.reason);
  if (device < 0 || device >= dc.count)
    throw std::out_of_range("CUDA device index " + std::to_string(device) + " is out of range (" +
                            std::to_string(dc.count) + " device(s))");
}

}  // namespace

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  // Clear the last-error state (for errors that are not sticky) so that the next check,
  // e.g. the cudaGetLastError() after a launch, does not report this failure again.
  cudaGetLastError();
  throw std::runtime_error(std::string("CUDA error: ") + call + " failed: " +
                           cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ") at " +
                           short_path(file) + ":" + std::to_string(line));
}

// -- Devices --------------------------------------------------------------------------------------

DeviceCount device_count_or_reason() {
  DeviceCount result;
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    int driver = 0;  // cudaDriverGetVersion reports 0 when no driver is installed
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    std::string why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err) + " (" +
                      cudaGetErrorName(err) + ")";
    if (driver == 0) {
      result.reason = "no NVIDIA driver found (" + why + ")";
    } else {
      result.reason = why + "; driver supports CUDA " + version_string(driver) +
                      ", this module was built with CUDA " + version_string(CUDART_VERSION);
    }
    return result;
  }
  result.count = n;
  if (n == 0) result.reason = "the NVIDIA driver reports no CUDA devices";
  return result;
}

int device_count() { return device_count_or_reason().count; }

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

int runtime_version() {
  int v = 0;
  PYDL_CUDA_CHECK(cudaRuntimeGetVersion(&v));
  return v;
}

DeviceProperties get_device_properties(int device) {
  check_device_index(device);
  cudaDeviceProp p{};
  PYDL_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  DeviceProperties out;
  out.name = p.name;
  out.major = p.major;
  out.minor = p.minor;
  out.total_memory = p.totalGlobalMem;
  out.multi_processor_count = p.multiProcessorCount;
  out.warp_size = p.warpSize;
  out.max_threads_per_block = p.maxThreadsPerBlock;
  out.max_threads_per_multiprocessor = p.maxThreadsPerMultiProcessor;
  out.shared_memory_per_block = p.sharedMemPerBlock;
  out.shared_memory_per_block_optin = p.sharedMemPerBlockOptin;
  out.shared_memory_per_multiprocessor = p.sharedMemPerMultiprocessor;
  out.regs_per_block = p.regsPerBlock;
  out.l2_cache_size = p.l2CacheSize;
  out.pci_bus_id = p.pciBusID;
  return out;
}

std::string status() {
  try {
    const DeviceCount dc = device_count_or_reason();
    if (dc.count == 0) return "no CUDA device: " + dc.reason;
    std::string s = "CUDA available: " + std::to_string(dc.count) + " device(s):";
    for (int i = 0; i < dc.count; ++i) {
      s += (i ? "; " : " ") + std::to_string(i) + ": ";
      try {
        const DeviceProperties p = get_device_properties(i);
        const double gib = static_cast<double>(p.total_memory) / (1024.0 * 1024.0 * 1024.0);
        char mem[32];
        std::snprintf(mem, sizeof mem, "%.1f GiB", gib);
        s += p.name + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " + mem +
             ", " + std::to_string(p.multi_processor_count) + " SMs)";
      } catch (const std::exception& e) {
        s += std::string("<properties unavailable: ") + e.what() + ">";
      }
    }
    s += "; driver " + version_string(driver_version()) + ", runtime " +
         version_string(CUDART_VERSION);
    return s;
  } catch (const std::exception& e) {  // status() never throws
    return std::string("CUDA status unknown: ") + e.what();
  }
}

void synchronize(int device) {
  if (device < 0) {
    PYDL_CUDA_CHECK(cudaDeviceSynchronize());
    return;
  }
  check_device_index(device);
  DeviceGuard guard(device);
  PYDL_CUDA_CHECK(cudaDeviceSynchronize());
}

// -- Memory ---------------------------------------------------------------------------------------

void* device_malloc(std::size_t nbytes) {
  if (nbytes == 0) return nullptr;
  void* ptr = nullptr;
  PYDL_CUDA_CHECK(cudaMalloc(&ptr, nbytes));
  return ptr;
}

void device_free(void* ptr) {
  if (ptr == nullptr) return;
  PYDL_CUDA_CHECK(cudaFree(ptr));
}

void memcpy_htod(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes == 0) return;
  PYDL_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
}

void memcpy_dtoh(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes == 0) return;
  PYDL_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void memcpy_dtod(void* dst, const void* src, std::size_t nbytes) {
  if (nbytes == 0) return;
  PYDL_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
}

void device_memset(void* ptr, int value, std::size_t nbytes) {
  if (nbytes == 0) return;
  PYDL_CUDA_CHECK(cudaMemset(ptr, value, nbytes));
}

// -- Kernels --------------------------------------------------------------------------------------

// out[i] = value for i in [0, n). A grid-stride loop, so any n runs with a bounded grid; size_t
// indices, so n may exceed 2^31.
__global__ void fill_f32_kernel(float* __restrict__ out, std::size_t n, float value) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride)
    out[i] = value;
}

void fill_f32(float* out, std::size_t n, float value) {
  if (n == 0) return;
  // Checked here because a kernel fault would poison the whole CUDA context.
  if (out == nullptr) throw std::invalid_argument("fill_f32: null pointer with n > 0");
  if (reinterpret_cast<std::uintptr_t>(out) % alignof(float) != 0)
    throw std::invalid_argument("fill_f32: pointer is not 4-byte aligned");
  if (n > std::numeric_limits<std::size_t>::max() / sizeof(float))
    throw std::invalid_argument("fill_f32: n * sizeof(float) overflows");
  constexpr unsigned kThreads = 256;
  constexpr std::size_t kMaxBlocks = 65535;  // the grid-stride loop covers the rest
  const auto blocks = static_cast<unsigned>(std::min<std::size_t>((n + kThreads - 1) / kThreads,
                                                                  kMaxBlocks));
  PYDL_LAUNCH(fill_f32_kernel, dim3(blocks), dim3(kThreads), 0, nullptr, out, n, value);
}

}  // namespace pydl::cuda
