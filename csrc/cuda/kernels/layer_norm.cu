// csrc/cuda/kernels/layer_norm.cu -- layer norm over the last dim of x (R, C), forward and backward.
//
// Forward, a block per row: each thread runs Welford's update over its strided elements (one pass,
// no catastrophic cancellation of E[x^2] - E[x]^2), then the (count, mean, M2) triples are merged
// with Chan's formula -- across the warp by shuffles, across warps through shared memory. Saves
// mean and rstd = 1/sqrt(var + eps) (biased variance, as torch) for the backward.
// Backward: with g = gamma * dy and xhat = (x - mean) * rstd,
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))          (a block per row)
//   dgamma[c] = sum_r dy * xhat, dbeta[c] = sum_r dy                 (a thread per column)
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kThreads = 256;

struct Welford {
  float n, mean, m2;
};

__device__ __forceinline__ Welford welford_merge(Welford a, Welford b) {
  const float n = a.n + b.n;
  if (n == 0.0f) return a;
  const float delta = b.mean - a.mean;
  const float fb = b.n / n;
  return Welford{n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb};
}

__device__ __forceinline__ Welford warp_welford(Welford w) {
  PYDL_UNROLL
  for (int o = 16; o > 0; o >>= 1) {
    Welford other;
    other.n = __shfl_xor_sync(0xffffffffu, w.n, o);
    other.mean = __shfl_xor_sync(0xffffffffu, w.mean, o);
    other.m2 = __shfl_xor_sync(0xffffffffu, w.m2, o);
    w = welford_merge(w, other);
  }
  return w;
}

__global__ void layer_norm_fwd_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                      const float* __restrict__ beta, float* __restrict__ y,
                                      float* __restrict__ mean_out, float* __restrict__ rstd_out,
                                      int R, std::int64_t C, float eps) {
  __shared__ float sn[32], smean[32], sm2[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int row = blockIdx.x; row < R; row += gridDim.x) {  // uniform per block
    const float* xr = x + std::int64_t{row} * C;
    Welford w{0.0f, 0.0f, 0.0f};
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float v = xr[c];
      w.n += 1.0f;
      const float d = v - w.mean;
      w.mean += d / w.n;
      w.m2 += d * (v - w.mean);
    }
    w = warp_welford(w);
    if (lane == 0) {
      sn[warp] = w.n;
      smean[warp] = w.mean;
      sm2[warp] = w.m2;
    }
    __syncthreads();
    Welford t{0.0f, 0.0f, 0.0f};
    if (lane < nwarps) t = Welford{sn[lane], smean[lane], sm2[lane]};
    t = warp_welford(t);  // every warp merges the same partials: all threads get the row's stats
    __syncthreads();      // shared partials are read before the next row overwrites them
    const float mean = t.mean;
    const float rstd = rsqrtf(t.m2 / static_cast<float>(C) + eps);
    float* yr = y + std::int64_t{row} * C;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
      yr[c] = (xr[c] - mean) * rstd * gamma[c] + beta[c];
    if (threadIdx.x == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
  }
}

__global__ void layer_norm_bwd_dx_kernel(const float* __restrict__ x,
                                         const float* __restrict__ gamma,
                                         const float* __restrict__ mean,
                                         const float* __restrict__ rstd,
                                         const float* __restrict__ dy, float* __restrict__ dx,
                                         int R, std::int64_t C) {
  __shared__ float scratch[32];
  for (int row = blockIdx.x; row < R; row += gridDim.x) {
    const std::int64_t off = std::int64_t{row} * C;
    const float mu = mean[row], rs = rstd[row];
    float s1 = 0.0f, s2 = 0.0f;
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float g = gamma[c] * dy[off + c];
      s1 += g;
      s2 += g * (x[off + c] - mu) * rs;
    }
    s1 = block_sum(s1, scratch);
    s2 = block_sum(s2, scratch);
    const float invC = 1.0f / static_cast<float>(C);
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      const float g = gamma[c] * dy[off + c];
      const float xhat = (x[off + c] - mu) * rs;
      dx[off + c] = rs * (g - s1 * invC - xhat * s2 * invC);
    }
  }
}

// A thread per column; consecutive threads read consecutive columns of each row (coalesced).
__global__ void layer_norm_bwd_params_kernel(const float* __restrict__ x,
                                             const float* __restrict__ mean,
                                             const float* __restrict__ rstd,
                                             const float* __restrict__ dy,
                                             float* __restrict__ dgamma, float* __restrict__ dbeta,
                                             int R, std::int64_t C) {
  for (std::int64_t c = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; c < C;
       c += std::int64_t{gridDim.x} * blockDim.x) {
    float sg = 0.0f, sb = 0.0f;
    for (int r = 0; r < R; ++r) {
      const std::int64_t i = std::int64_t{r} * C + c;
      sg += dy[i] * (x[i] - mean[r]) * rstd[r];
      sb += dy[i];
    }
    dgamma[c] = sg;
    dbeta[c] = sb;
  }
}

void check(std::int64_t R, std::int64_t C, const char* fn) {
  check_size(R, "R", fn);
  check_size(C, "C", fn);
  check_rows(R, fn);
}

}  // namespace

void layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, std::int64_t R, std::int64_t C, float eps) {
  check(R, C, "layer_norm_forward");
  if (!(eps >= 0.0f)) throw std::invalid_argument("layer_norm_forward: eps must be >= 0");
  if (R == 0) return;
  if (C == 0) throw std::invalid_argument("layer_norm_forward: normalized dim is empty (C == 0)");
  PYDL_LAUNCH(layer_norm_fwd_kernel, dim3(static_cast<unsigned>(R < 65535 ? R : 65535)),
              dim3(kThreads), 0, nullptr, x, gamma, beta, y, mean, rstd, static_cast<int>(R), C,
              eps);
}

void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dgamma, float* dbeta, std::int64_t R,
                         std::int64_t C) {
  check(R, C, "layer_norm_backward");
  if (C == 0) return;
  const int r = static_cast<int>(R);
  if (R > 0)
    PYDL_LAUNCH(layer_norm_bwd_dx_kernel, dim3(static_cast<unsigned>(R < 65535 ? R : 65535)),
                dim3(kThreads), 0, nullptr, x, gamma, mean, rstd, dy, dx, r, C);
  PYDL_LAUNCH(layer_norm_bwd_params_kernel, dim3(grid_for(C, kThreads)), dim3(kThreads), 0,
              nullptr, x, mean, rstd, dy, dgamma, dbeta, r, C);
}

}  // namespace pydl::cuda::kernels
