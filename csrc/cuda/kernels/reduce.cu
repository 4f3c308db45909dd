// csrc/cuda/kernels/reduce.cu -- sum over the last dim of x (R, C) -> y (R), and its backward.
//
// Forward: a block per row. Each thread sums a strided slice (coalesced: thread t reads t, t+256,
// ...), then the 256 partials are combined by warp shuffles (no shared memory, no barriers inside a
// warp) and the 8 warp totals through 32 floats of shared memory (common.h: block_sum).
#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kThreads = 256;

// grid.x = rows handled per pass; rows are visited grid-stride so any R fits.
__global__ void sum_lastdim_kernel(const float* __restrict__ x, float* __restrict__ y,
                                   std::int64_t R, std::int64_t C) {
  __shared__ float scratch[32];
  for (std::int64_t r = blockIdx.x; r < R; r += gridDim.x) {  // uniform per block: no divergence
    const float* row = x + r * C;
    float acc = 0.0f;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) acc += row[c];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) y[r] = acc;
  }
}

// dx[r, c] = dy[r]: a grid-stride broadcast.
__global__ void sum_lastdim_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx,
                                       std::int64_t R, std::int64_t C) {
  const std::int64_t n = R * C;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    dx[i] = dy[i / C];
}

}  // namespace

void sum_lastdim_forward(const float* x, float* y, std::int64_t R, std::int64_t C) {
  check_size(R, "R", "sum_lastdim_forward");
  check_size(C, "C", "sum_lastdim_forward");
  if (R == 0) return;
  PYDL_LAUNCH(sum_lastdim_kernel, dim3(static_cast<unsigned>(R < 65535 ? R : 65535)),
              dim3(kThreads), 0, nullptr, x, y, R, C);
}

void sum_lastdim_backward(const float* dy, float* dx, std::int64_t R, std::int64_t C) {
  check_size(R, "R", "sum_lastdim_backward");
  check_size(C, "C", "sum_lastdim_backward");
  if (R == 0 || C == 0) return;
  PYDL_LAUNCH(sum_lastdim_bwd_kernel, dim3(grid_for(R * C, kThreads)), dim3(kThreads), 0, nullptr,
              dy, dx, R, C);
}

}  // namespace pydl::cuda::kernels
