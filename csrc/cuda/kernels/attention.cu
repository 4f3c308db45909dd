// csrc/cuda/kernels/attention.cu -- scaled dot-product attention, forward and backward, in the
// flash-attention manner: scores are never stored; each query row keeps a running max m, a running
// sum l and an output accumulator rescaled by exp(m_old - m_new) as keys stream past (the "online
// softmax"), and the backward recomputes probabilities from the saved row logsumexp.
//
// Layout: Q (BH, T, d), K/V (BH, S, d), contiguous, d <= 128. A warp owns a row: lane l holds the
// elements l, l+32, l+64, l+96 of its q / accumulator in registers (unrolled, so no local memory),
// and a dot product is a lane-local partial plus a warp_sum.
//  forward   4 query rows per block; the block stages 32 keys (K and V rows) at a time in shared
//            memory, so each K/V element is read from global memory once per 4 queries.
//  backward  two kernels, no atomics: dQ with a warp per query row (also writes
//            delta_t = dO_t . O_t), then dK/dV with a warp per key row.
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kMaxD = 128, kPer = kMaxD / 32, kRows = 4, kKeys = 32;

// Lane-strided row element j*32 + lane of a length-d row, 0 beyond d.
__device__ __forceinline__ void load_row(const float* __restrict__ row, int d, int lane,
                                         float (&r)[kPer]) {
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j) r[j] = (j * 32 + lane < d) ? row[j * 32 + lane] : 0.0f;
}
__device__ __forceinline__ float row_dot(const float (&a)[kPer], const float* __restrict__ row,
                                         int d, int lane) {
  float s = 0.0f;
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j)
    if (j * 32 + lane < d) s += a[j] * row[j * 32 + lane];
  return warp_sum(s);
}

// grid (ceil(T / 4), BH), block 128.
__global__ void sdpa_fwd_kernel(const float* __restrict__ Q, const float* __restrict__ K,
                                const float* __restrict__ V, float* __restrict__ O,
                                float* __restrict__ lse, int T, int S, int d, float scale,
                                int causal) {
  __shared__ float Ks[kKeys][kMaxD];
  __shared__ float Vs[kKeys][kMaxD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const std::int64_t bh = blockIdx.y;
  const int t = blockIdx.x * kRows + warp;
  const bool valid = t < T;  // out-of-range warps still load tiles and meet every barrier
  float q[kPer], acc[kPer];
  load_row(Q + (bh * T + (valid ? t : 0)) * d, d, lane, q);
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j) acc[j] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  // Causal: no query of this block sees keys beyond its last row.
  const int last_t = min(static_cast<int>(blockIdx.x) * kRows + kRows - 1, T - 1);
  const int s_end = causal ? min(S, last_t + 1) : S;
  for (int s0 = 0; s0 < s_end; s0 += kKeys) {
    const int n = min(kKeys, s_end - s0);
    for (int i = threadIdx.x; i < n * d; i += blockDim.x) {
      const int r = i / d, c = i % d;
      Ks[r][c] = K[(bh * S + s0 + r) * d + c];
      Vs[r][c] = V[(bh * S + s0 + r) * d + c];
    }
    __syncthreads();
    if (valid) {  // warp-uniform
      const int n_row = causal ? min(n, t - s0 + 1) : n;
      for (int r = 0; r < n_row; ++r) {
        const float sc = row_dot(q, Ks[r], d, lane) * scale;
        const float m_new = fmaxf(m, sc);
        const float corr = expf(m - m_new);  // 0 on the first key (m = -inf)
        const float p = expf(sc - m_new);
        l = l * corr + p;
        PYDL_UNROLL
        for (int j = 0; j < kPer; ++j)
          acc[j] = acc[j] * corr + (j * 32 + lane < d ? p * Vs[r][j * 32 + lane] : 0.0f);
        m = m_new;
      }
    }
    __syncthreads();  // the tile is consumed before the next one overwrites it
  }
  if (!valid) return;
  const float inv = 1.0f / l;
  float* o = O + (bh * T + t) * d;
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j)
    if (j * 32 + lane < d) o[j * 32 + lane] = acc[j] * inv;
  if (lane == 0) lse[bh * T + t] = m + logf(l);
}

// A warp per query row (grid (ceil(T/4), BH), block 128): dQ_t = scale * sum_s ds_ts k_s with
// p_ts = exp(scale q_t.k_s - lse_t), ds_ts = p_ts (dO_t.v_s - delta_t).
__global__ void sdpa_bwd_dq_kernel(const float* __restrict__ Q, const float* __restrict__ K,
                                   const float* __restrict__ V, const float* __restrict__ O,
                                   const float* __restrict__ dO, const float* __restrict__ lse,
                                   float* __restrict__ delta, float* __restrict__ dQ, int T, int S,
                                   int d, float scale, int causal) {
  const int lane = threadIdx.x & 31;
  const std::int64_t bh = blockIdx.y;
  const int t = blockIdx.x * kRows + (threadIdx.x >> 5);
  if (t >= T) return;  // whole warps; no block barriers in this kernel
  const std::int64_t row = bh * T + t;
  float q[kPer], go[kPer], dq[kPer];
  load_row(Q + row * d, d, lane, q);
  load_row(dO + row * d, d, lane, go);
  const float dt = row_dot(go, O + row * d, d, lane);
  if (lane == 0) delta[row] = dt;
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j) dq[j] = 0.0f;
  const float L = lse[row];
  const int s_end = causal ? min(S, t + 1) : S;
  for (int s = 0; s < s_end; ++s) {
    const float* k = K + (bh * S + s) * d;
    const float p = expf(row_dot(q, k, d, lane) * scale - L);
    const float ds = p * (row_dot(go, V + (bh * S + s) * d, d, lane) - dt);
    PYDL_UNROLL
    for (int j = 0; j < kPer; ++j)
      if (j * 32 + lane < d) dq[j] += ds * k[j * 32 + lane];
  }
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j)
    if (j * 32 + lane < d) dQ[row * d + j * 32 + lane] = dq[j] * scale;
}

// A warp per key row (grid (ceil(S/4), BH), block 128): dV_s = sum_t p_ts dO_t,
// dK_s = scale * sum_t ds_ts q_t. Needs delta from sdpa_bwd_dq_kernel.
__global__ void sdpa_bwd_dkdv_kernel(const float* __restrict__ Q, const float* __restrict__ K,
                                     const float* __restrict__ V, const float* __restrict__ dO,
                                     const float* __restrict__ lse,
                                     const float* __restrict__ delta, float* __restrict__ dK,
                                     float* __restrict__ dV, int T, int S, int d, float scale,
                                     int causal) {
  const int lane = threadIdx.x & 31;
  const std::int64_t bh = blockIdx.y;
  const int s = blockIdx.x * kRows + (threadIdx.x >> 5);
  if (s >= S) return;
  const std::int64_t krow = bh * S + s;
  float k[kPer], v[kPer], dk[kPer], dv[kPer];
  load_row(K + krow * d, d, lane, k);
  load_row(V + krow * d, d, lane, v);
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j) dk[j] = dv[j] = 0.0f;
  for (int t = causal ? s : 0; t < T; ++t) {
    const std::int64_t row = bh * T + t;
    const float* q = Q + row * d;
    const float* go = dO + row * d;
    const float p = expf(row_dot(k, q, d, lane) * scale - lse[row]);
    const float ds = p * (row_dot(v, go, d, lane) - delta[row]);
    PYDL_UNROLL
    for (int j = 0; j < kPer; ++j) {
      if (j * 32 + lane < d) {
        dv[j] += p * go[j * 32 + lane];
        dk[j] += ds * q[j * 32 + lane];
      }
    }
  }
  PYDL_UNROLL
  for (int j = 0; j < kPer; ++j) {
    if (j * 32 + lane < d) {
      dK[krow * d + j * 32 + lane] = dk[j] * scale;
      dV[krow * d + j * 32 + lane] = dv[j];
    }
  }
}

void check(std::int64_t BH, std::int64_t T, std::int64_t S, std::int64_t d, const char* fn) {
  check_size(BH, "batch*heads", fn);
  check_size(T, "T", fn);
  check_size(S, "S", fn);
  check_size(d, "head dim", fn);
  if (d > kMaxD)
    throw std::invalid_argument(std::string(fn) + ": head dim " + std::to_string(d) +
                                " > 128 is not supported");
  if (BH > 65535) throw std::invalid_argument(std::string(fn) + ": batch*heads > 65535");
  if (T > (1LL << 30) || S > (1LL << 30))
    throw std::invalid_argument(std::string(fn) + ": sequence too long");
}

}  // namespace

void sdpa_forward(const float* Q, const float* K, const float* V, float* O, float* lse,
                  std::int64_t BH, std::int64_t T, std::int64_t S, std::int64_t d, float scale,
                  bool causal) {
  check(BH, T, S, d, "sdpa_forward");
  if (d == 0) throw std::invalid_argument("sdpa_forward: head dim is 0");
  if (BH == 0 || T == 0) return;
  if (S == 0) throw std::invalid_argument("sdpa_forward: no keys (S == 0)");
  PYDL_LAUNCH(sdpa_fwd_kernel, dim3(static_cast<unsigned>((T + kRows - 1) / kRows),
                                    static_cast<unsigned>(BH)),
              dim3(32 * kRows), 0, nullptr, Q, K, V, O, lse, static_cast<int>(T),
              static_cast<int>(S), static_cast<int>(d), scale, causal ? 1 : 0);
}

void sdpa_backward(const float* Q, const float* K, const float* V, const float* O, const float* dO,
                   const float* lse, float* delta, float* dQ, float* dK, float* dV,
                   std::int64_t BH, std::int64_t T, std::int64_t S, std::int64_t d, float scale,
                   bool causal) {
  check(BH, T, S, d, "sdpa_backward");
  if (BH == 0 || d == 0) return;
  const int t = static_cast<int>(T), s = static_cast<int>(S), dd = static_cast<int>(d);
  if (T > 0)
    PYDL_LAUNCH(sdpa_bwd_dq_kernel, dim3(static_cast<unsigned>((T + kRows - 1) / kRows),
                                         static_cast<unsigned>(BH)),
                dim3(32 * kRows), 0, nullptr, Q, K, V, O, dO, lse, delta, dQ, t, s, dd, scale,
                causal ? 1 : 0);
  if (S > 0)
    PYDL_LAUNCH(sdpa_bwd_dkdv_kernel, dim3(static_cast<unsigned>((S + kRows - 1) / kRows),
                                           static_cast<unsigned>(BH)),
                dim3(32 * kRows), 0, nullptr, Q, K, V, dO, lse, delta, dK, dV, t, s, dd, scale,
                causal ? 1 : 0);
}

}  // namespace pydl::cuda::kernels
