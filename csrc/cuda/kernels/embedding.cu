// csrc/cuda/kernels/embedding.cu -- embedding lookup out[n, :] = weight[idx[n], :] and its backward.
// Forward: a thread per output element (coalesced along D). Backward: the same threads scatter-add
// into dweight with atomicAdd, since several n may share an index (float atomics: the summation
// order, and so the last bits, vary between runs). Indices are range-checked on the host.
#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

__global__ void embedding_fwd_kernel(const float* __restrict__ weight,
                                     const std::int64_t* __restrict__ idx, float* __restrict__ out,
                                     std::int64_t N, std::int64_t D) {
  const std::int64_t total = N * D;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x)
    out[i] = weight[idx[i / D] * D + i % D];
}

__global__ void embedding_bwd_kernel(const float* __restrict__ dout,
                                     const std::int64_t* __restrict__ idx,
                                     float* __restrict__ dweight, std::int64_t N, std::int64_t D) {
  const std::int64_t total = N * D;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x)
    atomicAdd(&dweight[idx[i / D] * D + i % D], dout[i]);
}

__global__ void fill_zero_kernel(float* __restrict__ p, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    p[i] = 0.0f;
}

}  // namespace

void embedding_forward(const float* weight, const std::int64_t* idx, float* out, std::int64_t N,
                       std::int64_t V, std::int64_t D) {
  check_size(N, "N", "embedding_forward");
  check_size(V, "V", "embedding_forward");
  check_size(D, "D", "embedding_forward");
  if (N == 0 || D == 0) return;
  PYDL_LAUNCH(embedding_fwd_kernel, dim3(grid_for(N * D, 256)), dim3(256), 0, nullptr, weight, idx,
              out, N, D);
}

void embedding_backward(const float* dout, const std::int64_t* idx, float* dweight, std::int64_t N,
                        std::int64_t V, std::int64_t D) {
  check_size(N, "N", "embedding_backward");
  check_size(V, "V", "embedding_backward");
  check_size(D, "D", "embedding_backward");
  if (V == 0 || D == 0) return;
  PYDL_LAUNCH(fill_zero_kernel, dim3(grid_for(V * D, 256)), dim3(256), 0, nullptr, dweight, V * D);
  if (N == 0) return;
  PYDL_LAUNCH(embedding_bwd_kernel, dim3(grid_for(N * D, 256)), dim3(256), 0, nullptr, dout, idx,
              dweight, N, D);
}

}  // namespace pydl::cuda::kernels
