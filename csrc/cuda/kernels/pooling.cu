// csrc/cuda/kernels/pooling.cu -- 2-D max and average pooling, forward and backward.
// Forward: a thread per output element scans its window. Backward: a thread per INPUT element
// gathers from the (few) output windows that contain it, instead of scattering from each window
// with atomics: deterministic, and no write conflicts between overlapping windows.
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kThreads = 256;

// The output rows oh whose window [oh*sh - ph, oh*sh - ph + kh) contains input row h.
__device__ __forceinline__ void window_range(std::int64_t h, std::int64_t k, std::int64_t st,
                                             std::int64_t p, std::int64_t n_out, std::int64_t& lo,
                                             std::int64_t& hi) {
  // oh*st - p <= h  and  h < oh*st - p + k   <=>   (h + p - k) / st < oh <= (h + p) / st
  const std::int64_t a = h + p - k + 1;
  lo = a <= 0 ? 0 : (a + st - 1) / st;
  hi = (h + p) / st;
  if (hi > n_out - 1) hi = n_out - 1;
}

__global__ void max_pool_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                    std::int64_t* __restrict__ argmax, Pool2dShape s,
                                    std::int64_t Ho, std::int64_t Wo) {
  const std::int64_t total = s.NC * Ho * Wo;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t ow = i % Wo, oh = (i / Wo) % Ho, c = i / (Wo * Ho);
    const float* plane = x + c * s.H * s.W;
    // As torch: start from the window's first in-bounds element, take a strictly larger value or
    // any NaN (so NaN propagates, and ties keep the first index).
    const std::int64_t h0 = oh * s.sh - s.ph, w0 = ow * s.sw - s.pw;
    float best = -INFINITY;
    std::int64_t arg = (h0 > 0 ? h0 : 0) * s.W + (w0 > 0 ? w0 : 0);
    for (std::int64_t ki = 0; ki < s.kh; ++ki) {
      const std::int64_t h = h0 + ki;
      if (h < 0 || h >= s.H) continue;
      for (std::int64_t kj = 0; kj < s.kw; ++kj) {
        const std::int64_t w = w0 + kj;
        if (w < 0 || w >= s.W) continue;
        const float v = plane[h * s.W + w];
        if (v > best || v != v) {
          best = v;
          arg = h * s.W + w;
        }
      }
    }
    y[i] = best;
    argmax[i] = arg;
  }
}

__global__ void max_pool_bwd_kernel(const float* __restrict__ dy,
                                    const std::int64_t* __restrict__ argmax,
                                    float* __restrict__ dx, Pool2dShape s, std::int64_t Ho,
                                    std::int64_t Wo) {
  const std::int64_t total = s.NC * s.H * s.W;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t w = i % s.W, h = (i / s.W) % s.H, c = i / (s.W * s.H);
    std::int64_t oh0, oh1, ow0, ow1;
    window_range(h, s.kh, s.sh, s.ph, Ho, oh0, oh1);
    window_range(w, s.kw, s.sw, s.pw, Wo, ow0, ow1);
    float acc = 0.0f;
    for (std::int64_t oh = oh0; oh <= oh1; ++oh)
      for (std::int64_t ow = ow0; ow <= ow1; ++ow) {
        const std::int64_t o = (c * Ho + oh) * Wo + ow;
        if (argmax[o] == h * s.W + w) acc += dy[o];
      }
    dx[i] = acc;
  }
}

__global__ void avg_pool_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                    Pool2dShape s, std::int64_t Ho, std::int64_t Wo) {
  const std::int64_t total = s.NC * Ho * Wo;
  const float inv = 1.0f / static_cast<float>(s.kh * s.kw);  // padding counts
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t ow = i % Wo, oh = (i / Wo) % Ho, c = i / (Wo * Ho);
    const float* plane = x + c * s.H * s.W;
    float acc = 0.0f;
    for (std::int64_t ki = 0; ki < s.kh; ++ki) {
      const std::int64_t h = oh * s.sh - s.ph + ki;
      if (h < 0 || h >= s.H) continue;
      for (std::int64_t kj = 0; kj < s.kw; ++kj) {
        const std::int64_t w = ow * s.sw - s.pw + kj;
        if (w >= 0 && w < s.W) acc += plane[h * s.W + w];
      }
    }
    y[i] = acc * inv;
  }
}

__global__ void avg_pool_bwd_kernel(const float* __restrict__ dy, float* __restrict__ dx,
                                    Pool2dShape s, std::int64_t Ho, std::int64_t Wo) {
  const std::int64_t total = s.NC * s.H * s.W;
  const float inv = 1.0f / static_cast<float>(s.kh * s.kw);
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t w = i % s.W, h = (i / s.W) % s.H, c = i / (s.W * s.H);
    std::int64_t oh0, oh1, ow0, ow1;
    window_range(h, s.kh, s.sh, s.ph, Ho, oh0, oh1);
    window_range(w, s.kw, s.sw, s.pw, Wo, ow0, ow1);
    float acc = 0.0f;
    for (std::int64_t oh = oh0; oh <= oh1; ++oh)
      for (std::int64_t ow = ow0; ow <= ow1; ++ow) acc += dy[(c * Ho + oh) * Wo + ow];
    dx[i] = acc * inv;
  }
}

void check(const Pool2dShape& s, const char* fn) {
  check_size(s.NC, "N*C", fn);
  check_size(s.H, "H", fn);
  check_size(s.W, "W", fn);
  if (s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.ph < 0 || s.pw < 0)
    throw std::invalid_argument(std::string(fn) + ": kernel and stride must be >= 1, padding >= 0");
  if (2 * s.ph > s.kh || 2 * s.pw > s.kw)
    throw std::invalid_argument(std::string(fn) + ": padding should be at most half of the kernel size");
  if (s.Ho() < 1 || s.Wo() < 1)
    throw std::invalid_argument(std::string(fn) + ": the output would be empty");
}

}  // namespace

void max_pool2d_forward(const float* x, float* y, std::int64_t* argmax, const Pool2dShape& s) {
  check(s, "max_pool2d_forward");
  const std::int64_t n = s.NC * s.Ho() * s.Wo();
  if (n == 0) return;
  PYDL_LAUNCH(max_pool_fwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, y,
              argmax, s, s.Ho(), s.Wo());
}
void max_pool2d_backward(const float* dy, const std::int64_t* argmax, float* dx,
                         const Pool2dShape& s) {
  check(s, "max_pool2d_backward");
  const std::int64_t n = s.NC * s.H * s.W;
  if (n == 0) return;
  PYDL_LAUNCH(max_pool_bwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, dy,
              argmax, dx, s, s.Ho(), s.Wo());
}
void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s) {
  check(s, "avg_pool2d_forward");
  const std::int64_t n = s.NC * s.Ho() * s.Wo();
  if (n == 0) return;
  PYDL_LAUNCH(avg_pool_fwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, x, y,
              s, s.Ho(), s.Wo());
}
void avg_pool2d_backward(const float* dy, float* dx, const Pool2dShape& s) {
  check(s, "avg_pool2d_backward");
  const std::int64_t n = s.NC * s.H * s.W;
  if (n == 0) return;
  PYDL_LAUNCH(avg_pool_bwd_kernel, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, nullptr, dy,
              dx, s, s.Ho(), s.Wo());
}

}  // namespace pydl::cuda::kernels
