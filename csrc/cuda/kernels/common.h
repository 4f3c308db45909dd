// csrc/cuda/kernels/common.h -- small helpers shared by the kernel sources (host and device side).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/shim.h"

namespace pydl::cuda::kernels {

// Grid size for a grid-stride loop over n items: enough blocks to cover n, at most `cap`
// (more blocks than the GPU can hold at once only adds scheduling overhead).
inline unsigned grid_for(std::int64_t n, int threads, std::int64_t cap = 65535) {
  std::int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

inline void check_size(std::int64_t v, const char* what, const char* fn) {
  if (v < 0)
    throw std::invalid_argument(std::string(fn) + ": " + what + " must be >= 0, got " +
                                std::to_string(v));
}

inline void check_rows(std::int64_t R, const char* fn) {
  if (R > 2147483647LL)
    throw std::invalid_argument(std::string(fn) + ": more than 2^31-1 rows");
}

// Full-warp butterfly reductions: after the loop every lane holds the result.
__device__ __forceinline__ float warp_sum(float v) {
  PYDL_UNROLL
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  PYDL_UNROLL
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the
// total. `scratch` is 32 floats of shared memory, free on entry and on return.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nwarps ? scratch[lane] : 0.0f;
  t = warp_sum(t);
  __syncthreads();  // everyone has read scratch before it is reused
  return t;
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nwarps ? scratch[lane] : -INFINITY;
  t = warp_max(t);
  __syncthreads();
  return t;
}

}  // namespace pydl::cuda::kernels
