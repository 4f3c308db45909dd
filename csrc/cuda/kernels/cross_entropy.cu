// csrc/cuda/kernels/cross_entropy.cu -- cross entropy over logits (N, C) with int64 class targets,
// forward (per-row loss and the row's logsumexp, saved for the backward) and backward.
// A warp per row: the row's max and sum of exp are warp-shuffle reductions, no shared memory.
// Targets are range-checked on the host before launch (bind_kernels.cpp); the kernel trusts them.
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kWarps = 4;

__global__ void ce_fwd_kernel(const float* __restrict__ logits,
                              const std::int64_t* __restrict__ targets, float* __restrict__ loss,
                              float* __restrict__ lse_out, int N, std::int64_t C,
                              std::int64_t ignore_index) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (row >= N) return;  // whole warps only
  const float* x = logits + std::int64_t{row} * C;
  float m = -INFINITY;
  for (std::int64_t c = lane; c < C; c += 32) m = fmaxf(m, x[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (std::int64_t c = lane; c < C; c += 32) s += expf(x[c] - m);
  s = warp_sum(s);
  if (lane == 0) {
    const float lse = m + logf(s);
    const std::int64_t t = targets[row];
    lse_out[row] = lse;
    loss[row] = (t == ignore_index) ? 0.0f : lse - x[t];
  }
}

// A thread per logit (grid-stride): softmax from the saved lse, minus the one-hot target.
__global__ void ce_bwd_kernel(const float* __restrict__ logits,
                              const std::int64_t* __restrict__ targets,
                              const float* __restrict__ lse, const float* __restrict__ dloss,
                              float* __restrict__ dlogits, std::int64_t N, std::int64_t C,
                              std::int64_t ignore_index) {
  const std::int64_t total = N * C;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t r = i / C, c = i % C;
    const std::int64_t t = targets[r];
    if (t == ignore_index) {
      dlogits[i] = 0.0f;
      continue;
    }
    const float p = expf(logits[i] - lse[r]);
    dlogits[i] = dloss[r] * (p - (c == t ? 1.0f : 0.0f));
  }
}

}  // namespace

void cross_entropy_forward(const float* logits, const std::int64_t* targets, float* loss,
                           float* lse, std::int64_t N, std::int64_t C, std::int64_t ignore_index) {
  check_size(N, "N", "cross_entropy_forward");
  check_size(C, "C", "cross_entropy_forward");
  check_rows(N, "cross_entropy_forward");
  if (N == 0) return;
  if (C == 0) throw std::invalid_argument("cross_entropy_forward: no classes (C == 0)");
  PYDL_LAUNCH(ce_fwd_kernel, dim3(static_cast<unsigned>((N + kWarps - 1) / kWarps)),
              dim3(32 * kWarps), 0, nullptr, logits, targets, loss, lse, static_cast<int>(N), C,
              ignore_index);
}

void cross_entropy_backward(const float* logits, const std::int64_t* targets, const float* lse,
                            const float* dloss, float* dlogits, std::int64_t N, std::int64_t C,
                            std::int64_t ignore_index) {
  check_size(N, "N", "cross_entropy_backward");
  check_size(C, "C", "cross_entropy_backward");
  if (N == 0 || C == 0) return;
  PYDL_LAUNCH(ce_bwd_kernel, dim3(grid_for(N * C, 256)), dim3(256), 0, nullptr, logits, targets,
              lse, dloss, dlogits, N, C, ignore_index);
}

}  // namespace pydl::cuda::kernels
