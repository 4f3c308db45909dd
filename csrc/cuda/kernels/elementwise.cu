// csrc/cuda/kernels/elementwise.cu -- elementwise activations and add on contiguous float32,
// forward and backward. Grid-stride loops (one thread per element per pass): memory bound, so the
// point is coalesced access -- consecutive threads touch consecutive elements.
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void relu_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : (v == v ? 0.0f : v);  // NaN propagates, as torch.relu does
  }
}

__global__ void relu_bwd_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                float* __restrict__ dx, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;  // torch: grad is 0 at x == 0
}

// GELU(x) = x * Phi(x), Phi(x) = 0.5 * (1 + erf(x / sqrt(2))).
__global__ void gelu_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  }
}

// d/dx x*Phi(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi).
__global__ void gelu_bwd_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                float* __restrict__ dx, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    const float pdf = expf(-0.5f * v * v) * 0.39894228040143268f;
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

__global__ void add_kernel(const float* __restrict__ a, const float* __restrict__ b,
                           float* __restrict__ y, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    y[i] = a[i] + b[i];
}

}  // namespace

void relu_forward(const float* x, float* y, std::int64_t n) {
  check_size(n, "n", "relu_forward");
  if (n == 0) return;
  PYDL_LAUNCH(relu_fwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, y, n);
}
void relu_backward(const float* x, const float* dy, float* dx, std::int64_t n) {
  check_size(n, "n", "relu_backward");
  if (n == 0) return;
  PYDL_LAUNCH(relu_bwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, dy, dx,
              n);
}
void gelu_forward(const float* x, float* y, std::int64_t n) {
  check_size(n, "n", "gelu_forward");
  if (n == 0) return;
  PYDL_LAUNCH(gelu_fwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, y, n);
}
void gelu_backward(const float* x, const float* dy, float* dx, std::int64_t n) {
  check_size(n, "n", "gelu_backward");
  if (n == 0) return;
  PYDL_LAUNCH(gelu_bwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, dy, dx,
              n);
}
void add_forward(const float* a, const float* b, float* y, std::int64_t n) {
  check_size(n, "n", "add_forward");
  if (n == 0) return;
  PYDL_LAUNCH(add_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, a, b, y, n);
}

}  // namespace pydl::cuda::kernels
