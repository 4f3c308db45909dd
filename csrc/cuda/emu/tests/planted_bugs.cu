// csrc/cuda/emu/tests/planted_bugs.cu -- deliberately wrong kernels (see planted_bugs.h). Only the
// emulator build (pydl._cuemu) compiles this file; each bug is marked "BUG:".
#include "cuda/emu/tests/planted_bugs.h"

#include "cuda/shim.h"

namespace pydl::cuda::planted {
namespace {

constexpr int kT = 256;

__device__ void tree_sum_tail(float* s, float* y, int row) {
  const int t = threadIdx.x;
  for (int stride = kT / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) y[row] = s[0];
}

__global__ void tree_sum_static(const float* x, float* y, int bug) {
  __shared__ float s[kT];
  s[threadIdx.x] = x[blockIdx.x * kT + threadIdx.x];
  if (!bug) __syncthreads();  // BUG (bug=1): without it, s[t + 128] may not be written yet
  tree_sum_tail(s, y, blockIdx.x);
}

__global__ void tree_sum_dynamic(const float* x, float* y) {
  PYDL_DYNAMIC_SHARED(float, s);
  s[threadIdx.x] = x[blockIdx.x * kT + threadIdx.x];
  // BUG: no __syncthreads() here.
  tree_sum_tail(s, y, blockIdx.x);
}

__global__ void early_return_kernel(const float* x, float* y, int n) {
  __shared__ float s[64];
  if (static_cast<int>(threadIdx.x) >= n) return;  // BUG: these threads never reach the barrier
  s[threadIdx.x] = x[threadIdx.x];
  __syncthreads();  // MARK:early_return_barrier
  y[threadIdx.x] = s[n - 1 - threadIdx.x];
}

__global__ void split_barrier_kernel(float* y) {
  if (threadIdx.x < 16) {
    __syncthreads();  // BUG: two different barriers  MARK:split_a
  } else {
    __syncthreads();  // MARK:split_b
  }
  y[threadIdx.x] = 1.0f;
}

__global__ void shfl_exited_kernel(const float* x, float* y) {
  const int lane = threadIdx.x & 31;
  float v = x[lane];
  if (lane >= 16) return;  // BUG: the full mask below names lanes 16-31
  v += __shfl_down_sync(0xffffffffu, v, 8);  // MARK:shfl_exited
  y[lane] = v;
}

__global__ void shfl_mask_self_kernel(const float* x, float* y) {
  const int lane = threadIdx.x & 31;
  // BUG: lane 31 is not in the mask it passes.
  y[lane] = __shfl_sync(0x7fffffffu, x[lane], 0);  // MARK:shfl_self
}

__global__ void shfl_vs_barrier_kernel(const float* x, float* y) {
  const int lane = threadIdx.x & 31;
  float v = x[lane];
  if (lane < 8) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);  // BUG: lanes 8-31 are at the barrier  MARK:shfl_vs_barrier
  }
  __syncthreads();
  y[lane] = v;
}

__global__ void mismatched_collectives_kernel(const float* x, float* y) {
  const int lane = threadIdx.x & 31;
  float v = x[lane];
  if (lane & 1)
    v = __shfl_down_sync(0xffffffffu, v, 1);  // BUG: odd lanes shuffle down ...
  else
    v = static_cast<float>(__ballot_sync(0xffffffffu, v > 0.0f));  // ... even lanes vote
  y[lane] = v;
}

__global__ void oob_read_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + x[i + 1];  // BUG: x[n] is read
}

__global__ void oob_write_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i + 1] = x[i];  // BUG: y[n] is written
}

__global__ void smem_overflow_kernel(float* y) {
  PYDL_DYNAMIC_SHARED(float, s);
  s[threadIdx.x + 1] = 1.0f;  // BUG: blockDim.x floats were requested; the last thread overflows
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}

}  // namespace

void tree_sum(int bug, const float* x, float* y, int R) {
  if (bug == 2)
    PYDL_LAUNCH(tree_sum_dynamic, dim3(R), dim3(kT), kT * sizeof(float), nullptr, x, y);
  else
    PYDL_LAUNCH(tree_sum_static, dim3(R), dim3(kT), 0, nullptr, x, y, bug);
}
void early_return_barrier(const float* x, float* y, int n) {
  PYDL_LAUNCH(early_return_kernel, dim3(1), dim3(64), 0, nullptr, x, y, n);
}
void split_barrier(float* y) { PYDL_LAUNCH(split_barrier_kernel, dim3(1), dim3(32), 0, nullptr, y); }
void shfl_exited_lane(const float* x, float* y) {
  PYDL_LAUNCH(shfl_exited_kernel, dim3(1), dim3(32), 0, nullptr, x, y);
}
void shfl_mask_without_self(const float* x, float* y) {
  PYDL_LAUNCH(shfl_mask_self_kernel, dim3(1), dim3(32), 0, nullptr, x, y);
}
void shfl_vs_barrier(const float* x, float* y) {
  PYDL_LAUNCH(shfl_vs_barrier_kernel, dim3(1), dim3(32), 0, nullptr, x, y);
}
void mismatched_collectives(const float* x, float* y) {
  PYDL_LAUNCH(mismatched_collectives_kernel, dim3(1), dim3(32), 0, nullptr, x, y);
}
void oob_read(const float* x, float* y, int n) {
  PYDL_LAUNCH(oob_read_kernel, dim3((n + 63) / 64), dim3(64), 0, nullptr, x, y, n);
}
void oob_write(const float* x, float* y, int n) {
  PYDL_LAUNCH(oob_write_kernel, dim3((n + 63) / 64), dim3(64), 0, nullptr, x, y, n);
}
void smem_overflow(float* y) {
  PYDL_LAUNCH(smem_overflow_kernel, dim3(1), dim3(32), 32 * sizeof(float), nullptr, y);
}

}  // namespace pydl::cuda::planted
