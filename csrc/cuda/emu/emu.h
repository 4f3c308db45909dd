// csrc/cuda/emu/emu.h -- a CPU emulation of the CUDA execution model, for the host compiler.
//
// Why: CI has no GPU, but the kernels in csrc/cuda/kernels/*.cu must still be run and checked
// against torch on every commit. This header lets g++ compile those very same .cu sources (as C++)
// and run them on the CPU with CUDA's semantics (DESIGN.md, "CUDA and how we test it without a GPU"):
//
//  - threadIdx/blockIdx/blockDim/gridDim are thread-local variables the scheduler sets.
//  - Each block's threads are fibers (emu.cpp: a hand-written x86-64 context switch, ucontext
//    elsewhere) that switch ONLY at __syncthreads, __syncwarp and the warp collectives. Between two
//    such points a thread runs alone, so a missing __syncthreads shows up as a read of a value the
//    producer thread has not written yet -- deterministically, in forward or in reverse thread order.
//  - Blocks are spread over OpenMP threads; block order and the order in which a block's threads
//    are resumed are forward / reverse / random (pydl_emu::set_schedule or PYDL_CUEMU_BLOCK_ORDER,
//    PYDL_CUEMU_THREAD_ORDER, PYDL_CUEMU_SEED).
//  - Misuse is an exception (std::runtime_error naming the file:line of the barrier or collective,
//    the kernel and the launch site): a divergent __syncthreads (some threads exited, or threads wait
//    at different barriers), a warp collective whose mask names a lane that exited, does not exist
//    or waits elsewhere, a lane calling a collective whose mask omits itself, a write past the end
//    of the dynamic shared memory or of a cudaMalloc allocation (canaries, checked after each block
//    and each launch).
//  - cudaMalloc'd memory is filled with 0xFF bytes (NaN as float/double), so reading memory no
//    kernel wrote yields NaN; the padding after each allocation is NaN too (another pattern, so a
//    write into it is seen), so an out-of-bounds read yields NaN, and under ASan the padding is
//    poisoned so the read is reported at its source line.
//
// Not emulated (kernels that need them keep a plain path): inline PTX, tensor cores, cp.async/TMA,
// clusters, grid sync, textures, streams (everything is synchronous), __constant__ as a separate
// memory space. Static __shared__ arrays are `static thread_local`: one copy per OpenMP thread,
// i.e. per running block; like a GPU's, they start with whatever the previous block left there.
//
// Rules this imposes on kernel sources (all also good CUDA practice): launch only through
// PYDL_LAUNCH; declare dynamic shared memory with PYDL_DYNAMIC_SHARED; only *_sync warp intrinsics
// with exact masks; every thread reaches every __syncthreads; no __CUDA_ARCH__ branches.
#pragma once

#if defined(__CUDACC__)
#error "cuda/emu/emu.h is for the host compiler; CUDA sources include cuda/shim.h"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

// -- Vector and index types -----------------------------------------------------------------------

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) double2 { double x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// -- Qualifiers ------------------------------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// __noinline__ is not defined: libstdc++ spells __attribute__((__noinline__)).
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
// One copy per OS thread = per running block (a block runs start to end on one OpenMP thread).
#define __shared__ static thread_local
constexpr int warpSize = 32;

// The scheduler sets these before resuming a fiber. __thread (not thread_local): plain TLS,
// no wrapper call. A fiber never moves to another OS thread, so caching their address is safe,
// and every switch point is an opaque call, so their values are re-read after it.
extern __thread uint3 threadIdx;
extern __thread uint3 blockIdx;
extern __thread dim3 blockDim;
extern __thread dim3 gridDim;

namespace pydl_emu {

// -- Barriers and warp collectives (emu.cpp) ------------------------------------------------------

enum WarpOp : int { kSyncWarp, kShflIdx, kShflUp, kShflDown, kShflXor, kBallot, kAny, kAll };

void syncthreads(const char* file, int line);
// Blocks until every lane in `mask` reaches a collective of the same kind and mask; returns this
// lane's result (the shuffled raw bits, or the ballot/any/all value).
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                              const char* file, int line);

template <typename T>
inline T shfl(WarpOp op, const char* file, int line, unsigned mask, T var, int arg,
              int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                "__shfl_*_sync: a value of at most 8 bytes");
  std::uint64_t raw = 0;
  std::memcpy(&raw, &var, sizeof(T));
  raw = warp_collective(op, mask, raw, arg, width, file, line);
  T out;
  std::memcpy(&out, &raw, sizeof(T));
  return out;
}
inline void syncwarp(const char* file, int line, unsigned mask = 0xffffffffu) {
  warp_collective(kSyncWarp, mask, 0, 0, 32, file, line);
}
inline unsigned vote(WarpOp op, const char* file, int line, unsigned mask, int pred) {
  return static_cast<unsigned>(warp_collective(op, mask, pred != 0, 0, 32, file, line));
}

// Dynamic shared memory of the running block (PYDL_DYNAMIC_SHARED), 0xFF-filled at block start.
unsigned char* dynamic_shared();

// -- Launch ---------------------------------------------------------------------------------------

struct LaunchSite {
  const char* kernel;  // "launch of <name>"
  const char* file;
  int line;
};
// Runs body(ctx) as every thread of every block. Throws std::runtime_error on a bad configuration
// or a detected fault.
void launch_impl(const LaunchSite& site, dim3 grid, dim3 block, std::size_t smem_bytes,
                 void (*body)(void*), void* ctx);

template <typename... KernelArgs, typename... Args>
void launch(const char* kernel_name, const char* file, int line, void (*kernel)(KernelArgs...),
            dim3 grid, dim3 block, std::size_t smem_bytes, const void* /*stream*/,
            Args&&... args) {
  // Converted to the kernel's parameter types once, like the argument copy of <<<...>>>; each
  // thread then gets its own by-value copies when the kernel is called.
  using Params = std::tuple<std::decay_t<KernelArgs>...>;
  struct Ctx {
    void (*kernel)(KernelArgs...);
    Params params;
  } ctx{kernel, Params(std::forward<Args>(args)...)};
  launch_impl(LaunchSite{kernel_name, file, line}, grid, block, smem_bytes,
              [](void* p) {
                Ctx* c = static_cast<Ctx*>(p);
                std::apply(c->kernel, c->params);
              },
              &ctx);
}

// -- Schedule --------------------------------------------------------------------------------------

enum Order : int { kForward = 0, kReverse = 1, kRandom = 2 };
struct Schedule {
  Order block_order = kForward;
  Order thread_order = kForward;
  std::uint64_t seed = 0;
  int num_threads = 0;  // OpenMP threads for blocks; 0 = OpenMP's default
};
void set_schedule(const Schedule& s);
Schedule get_schedule();
Order parse_order(const std::string& name);  // "forward" | "reverse" | "random"; throws otherwise
const char* order_name(Order o);

// Number of live cudaMalloc allocations (for leak tests).
std::size_t live_allocations();

}  // namespace pydl_emu

// -- Device intrinsics -----------------------------------------------------------------------------

#define __syncthreads() ::pydl_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::pydl_emu::syncwarp(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(...) ::pydl_emu::shfl(::pydl_emu::kShflIdx, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::pydl_emu::shfl(::pydl_emu::kShflUp, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) \
  ::pydl_emu::shfl(::pydl_emu::kShflDown, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::pydl_emu::shfl(::pydl_emu::kShflXor, __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
  ::pydl_emu::vote(::pydl_emu::kBallot, __FILE__, __LINE__, mask, pred)
#define __any_sync(mask, pred) \
  static_cast<int>(::pydl_emu::vote(::pydl_emu::kAny, __FILE__, __LINE__, mask, pred))
#define __all_sync(mask, pred) \
  static_cast<int>(::pydl_emu::vote(::pydl_emu::kAll, __FILE__, __LINE__, mask, pred))

// Atomics: blocks run concurrently on OpenMP threads, so these are real atomic operations.
inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* a, unsigned v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
template <typename F, typename U>
inline F pydl_emu_atomic_float_op(F* a, F v, F (*op)(F, F)) {
  static_assert(sizeof(F) == sizeof(U), "");
  U* ua = reinterpret_cast<U*>(a);
  U old = __atomic_load_n(ua, __ATOMIC_RELAXED);
  for (;;) {
    F f;
    std::memcpy(&f, &old, sizeof f);
    const F n = op(f, v);
    U un;
    std::memcpy(&un, &n, sizeof un);
    if (__atomic_compare_exchange_n(ua, &old, un, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      return f;
  }
}
inline float atomicAdd(float* a, float v) {
  return pydl_emu_atomic_float_op<float, std::uint32_t>(a, v, [](float x, float y) { return x + y; });
}
inline double atomicAdd(double* a, double v) {
  return pydl_emu_atomic_float_op<double, std::uint64_t>(a, v,
                                                         [](double x, double y) { return x + y; });
}
template <typename T, typename Op>
inline T pydl_emu_atomic_rmw(T* a, T v, Op op) {
  T old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(a, &old, op(old, v), true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMax(int* a, int v) {
  return pydl_emu_atomic_rmw(a, v, [](int x, int y) { return x > y ? x : y; });
}
inline unsigned atomicMax(unsigned* a, unsigned v) {
  return pydl_emu_atomic_rmw(a, v, [](unsigned x, unsigned y) { return x > y ? x : y; });
}
inline int atomicMin(int* a, int v) {
  return pydl_emu_atomic_rmw(a, v, [](int x, int y) { return x < y ? x : y; });
}
inline unsigned atomicMin(unsigned* a, unsigned v) {
  return pydl_emu_atomic_rmw(a, v, [](unsigned x, unsigned y) { return x < y ? x : y; });
}
template <typename T>
inline T pydl_emu_atomic_cas(T* a, T compare, T val) {
  __atomic_compare_exchange_n(a, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // the old value either way
}
inline int atomicCAS(int* a, int c, int v) { return pydl_emu_atomic_cas(a, c, v); }
inline unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) {
  return pydl_emu_atomic_cas(a, c, v);
}
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long c,
                                    unsigned long long v) {
  return pydl_emu_atomic_cas(a, c, v);
}
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
inline float atomicExch(float* a, float v) {
  return pydl_emu_atomic_float_op<float, std::uint32_t>(a, v, [](float, float y) { return y; });
}

// Math: CUDA's fast-math intrinsics map to the exact functions (tolerances cover the GPU's).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float normcdff(float x) { return 0.5f * std::erfc(-x * 0.70710678118654752f); }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int max(int a, int b) { return a > b ? a : b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline float max(float a, float b) { return std::fmax(a, b); }
inline float min(float a, float b) { return std::fmin(a, b); }
template <typename T>
inline T __ldg(const T* p) { return *p; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }

// -- The cuda* runtime subset host code uses (emu.cpp) ---------------------------------------------

enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
using cudaStream_t = void*;

// Device memory is host memory: 256-byte aligned, filled with 0xFF, followed by NaN-patterned
// padding that each launch checks (and ASan poisons).
cudaError_t cudaMalloc(void** ptr, std::size_t nbytes);
template <typename T>
inline cudaError_t cudaMalloc(T** ptr, std::size_t nbytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), nbytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t nbytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* ptr, int value, std::size_t nbytes);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaDeviceSynchronize();
const char* cudaGetErrorString(cudaError_t err);
const char* cudaGetErrorName(cudaError_t err);

// -- Host-side macros, the same names as runtime.h's for nvcc --------------------------------------

namespace pydl_emu {
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
}

#define PYDL_CUDA_CHECK(call)                                                  \
  do {                                                                         \
    const cudaError_t pydl_cuda_err_ = (call);                                 \
    if (pydl_cuda_err_ != cudaSuccess)                                         \
      ::pydl_emu::throw_cuda_error(pydl_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// PYDL_LAUNCH(kernel, grid, block, smem_bytes, stream, args...): runs the kernel to completion.
#define PYDL_LAUNCH(kernel, grid, block, smem_bytes, stream, ...)                               \
  ::pydl_emu::launch("launch of " #kernel, __FILE__, __LINE__, kernel, grid, block, smem_bytes, \
                     stream, ##__VA_ARGS__)

// T* name = the block's dynamic shared memory (the launch's smem_bytes).
#define PYDL_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::pydl_emu::dynamic_shared())
