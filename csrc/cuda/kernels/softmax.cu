// csrc/cuda/kernels/softmax.cu -- softmax over the last dim of x (R, C), forward and backward.
//
// Forward is the numerically safe three-pass form: m = max(x), s = sum(exp(x - m)),
// y = exp(x - m) / s. Backward: dx = y * (dy - sum(dy * y)).
//  0 warp per row   for short rows (C up to a few thousand): 4 rows per 128-thread block, each
//                   row's reductions are warp shuffles only -- no shared memory, no barriers.
//  1 block per row  for long rows: 256 threads per row, warp shuffles then 32 floats of shared
//                   memory across warps (common.h: block_max / block_sum).
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kBlockThreads = 256;

__global__ void softmax_warp_fwd(const float* __restrict__ x, float* __restrict__ y, int R,
                                 std::int64_t C) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= R) return;  // the whole warp leaves together: no collective names these lanes
  const float* xr = x + std::int64_t{row} * C;
  float* yr = y + std::int64_t{row} * C;
  float m = -INFINITY;
  for (std::int64_t c = lane; c < C; c += 32) m = fmaxf(m, xr[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (std::int64_t c = lane; c < C; c += 32) s += expf(xr[c] - m);
  s = warp_sum(s);
  const float inv = 1.0f / s;
  for (std::int64_t c = lane; c < C; c += 32) yr[c] = expf(xr[c] - m) * inv;
}

__global__ void softmax_warp_bwd(const float* __restrict__ y, const float* __restrict__ dy,
                                 float* __restrict__ dx, int R, std::int64_t C) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= R) return;
  const std::int64_t off = std::int64_t{row} * C;
  float dot = 0.0f;
  for (std::int64_t c = lane; c < C; c += 32) dot += dy[off + c] * y[off + c];
  dot = warp_sum(dot);
  for (std::int64_t c = lane; c < C; c += 32) dx[off + c] = y[off + c] * (dy[off + c] - dot);
}

__global__ void softmax_block_fwd(const float* __restrict__ x, float* __restrict__ y, int R,
                                  std::int64_t C) {
  __shared__ float scratch[32];
  for (int row = blockIdx.x; row < R; row += gridDim.x) {  // uniform per block
    const float* xr = x + std::int64_t{row} * C;
    float* yr = y + std::int64_t{row} * C;
    float m = -INFINITY;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, xr[c]);
    m = block_max(m, scratch);
    float s = 0.0f;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) s += expf(xr[c] - m);
    s = block_sum(s, scratch);
    const float inv = 1.0f / s;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = expf(xr[c] - m) * inv;
  }
}

__global__ void softmax_block_bwd(const float* __restrict__ y, const float* __restrict__ dy,
                                  float* __restrict__ dx, int R, std::int64_t C) {
  __shared__ float scratch[32];
  for (int row = blockIdx.x; row < R; row += gridDim.x) {
    const std::int64_t off = std::int64_t{row} * C;
    float dot = 0.0f;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += dy[off + c] * y[off + c];
    dot = block_sum(dot, scratch);
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
      dx[off + c] = y[off + c] * (dy[off + c] - dot);
  }
}

void check(int variant, std::int64_t R, std::int64_t C, const char* fn) {
  check_size(R, "R", fn);
  check_size(C, "C", fn);
  check_rows(R, fn);
  if (variant != 0 && variant != 1)
    throw std::invalid_argument(std::string(fn) +
                                ": variant must be 0 (warp per row) or 1 (block per row), got " +
                                std::to_string(variant));
}

}  // namespace

void softmax_forward(int variant, const float* x, float* y, std::int64_t R, std::int64_t C) {
  check(variant, R, C, "softmax_forward");
  if (R == 0 || C == 0) return;
  const int r = static_cast<int>(R);
  if (variant == 0)
    PYDL_LAUNCH(softmax_warp_fwd, dim3(static_cast<unsigned>((R + kWarpsPerBlock - 1) / kWarpsPerBlock)),
                dim3(32 * kWarpsPerBlock), 0, nullptr, x, y, r, C);
  else
    PYDL_LAUNCH(softmax_block_fwd, dim3(static_cast<unsigned>(R < 65535 ? R : 65535)),
                dim3(kBlockThreads), 0, nullptr, x, y, r, C);
}

void softmax_backward(int variant, const float* y, const float* dy, float* dx, std::int64_t R,
                      std::int64_t C) {
  check(variant, R, C, "softmax_backward");
  if (R == 0 || C == 0) return;
  const int r = static_cast<int>(R);
  if (variant == 0)
    PYDL_LAUNCH(softmax_warp_bwd, dim3(static_cast<unsigned>((R + kWarpsPerBlock - 1) / kWarpsPerBlock)),
                dim3(32 * kWarpsPerBlock), 0, nullptr, y, dy, dx, r, C);
  else
    PYDL_LAUNCH(softmax_block_bwd, dim3(static_cast<unsigned>(R < 65535 ? R : 65535)),
                dim3(kBlockThreads), 0, nullptr, y, dy, dx, r, C);
}

}  // namespace pydl::cuda::kernels
