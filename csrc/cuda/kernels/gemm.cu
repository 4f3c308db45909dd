// csrc/cuda/kernels/gemm.cu -- C (M, N) = A (M, K) @ B (K, N), float32, row-major; a ladder of
// three kernels, each a step up in data reuse (the backward of matmul is two more GEMMs,
// dA = dC @ B^T and dB = A^T @ dC, done by the caller with transposed copies).
//
//  0 naive     one thread per C element, reading its row of A and column of B straight from global
//              memory: 2K loads per 2K flops, no reuse beyond what the caches find.
//  1 tiled     16x16 tiles of A and B staged through shared memory: each global element is loaded
//              once per tile and reused 16 times from shared memory.
//  2 regblock  a 64x64 C tile per 256-thread block, 4x4 outputs per thread kept in registers; each
//              k step reads 4 A and 4 B values from shared memory for 16 FMAs. Global loads are
//              float4 when rows are 16-byte aligned (K % 4 == 0, N % 4 == 0), scalar otherwise.
#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kTile = 16;

// grid (ceil(N/16), ceil(M/16)), block (16, 16): thread (tx, ty) computes C[row, col].
__global__ void gemm_naive_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                  float* __restrict__ C, int M, int N, int K) {
  const int col = blockIdx.x * kTile + threadIdx.x;
  const int row = blockIdx.y * kTile + threadIdx.y;
  if (row >= M || col >= N) return;  // no barrier in this kernel, so an early exit is safe
  float acc = 0.0f;
  for (int k = 0; k < K; ++k) acc += A[std::int64_t{row} * K + k] * B[std::int64_t{k} * N + col];
  C[std::int64_t{row} * N + col] = acc;
}

// Same grid as naive. Out-of-range threads still take part in loading (zeros) and in every
// barrier; only the final store is guarded.
__global__ void gemm_tiled_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                  float* __restrict__ C, int M, int N, int K) {
  __shared__ float As[kTile][kTile];
  __shared__ float Bs[kTile][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = blockIdx.x * kTile + tx;
  const int row = blockIdx.y * kTile + ty;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    // Row ty of the A tile and row ty of the B tile; consecutive tx read consecutive addresses.
    As[ty][tx] = (row < M && k0 + tx < K) ? A[std::int64_t{row} * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? B[std::int64_t{k0 + ty} * N + col] : 0.0f;
    __syncthreads();  // the tile is complete before anyone reads it
    PYDL_UNROLL
    for (int k = 0; k < kTile; ++k) acc += As[ty][k] * Bs[k][tx];
    __syncthreads();  // everyone is done reading before the next tile overwrites it
  }
  if (row < M && col < N) C[std::int64_t{row} * N + col] = acc;
}

constexpr int kBM = 64, kBN = 64, kBK = 8, kTM = 4, kTN = 4, kRegThreads = 256;

// grid (ceil(N/64), ceil(M/64)), block 256. Threads 0..127 load the A tile (64 rows x 8 k:
// thread t loads row t/2, k (t%2)*4..+3), threads 128..255 the B tile (8 k x 64 cols: row t'/16,
// cols (t'%16)*4..+3): one 4-wide load each. A is stored transposed (As[k][m]) so that the compute
// loop reads 4 consecutive m values as one float4. Thread (tx = t%16, ty = t/16) owns
// C[m0 + 4ty .. +3, n0 + 4tx .. +3].
__global__ void __launch_bounds__(256) gemm_regblock_kernel(const float* __restrict__ A,
                                                            const float* __restrict__ B,
                                                            float* __restrict__ C, int M, int N,
                                                            int K, int vec) {
  __shared__ __align__(16) float As[kBK][kBM];
  __shared__ __align__(16) float Bs[kBK][kBN];
  const int t = threadIdx.x;
  const int tx = t % 16, ty = t / 16;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  float acc[kTM][kTN];
  PYDL_UNROLL
  for (int i = 0; i < kTM; ++i) {
    PYDL_UNROLL
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;
  }
  for (int k0 = 0; k0 < K; k0 += kBK) {
    float v[4];
    if (t < 128) {  // warps 0-3: A tile (warp-uniform branch)
      const int r = m0 + t / 2, c = k0 + (t % 2) * 4;
      if (vec && r < M && c + 3 < K) {
        const float4 q = *reinterpret_cast<const float4*>(A + std::int64_t{r} * K + c);
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
      } else {
        PYDL_UNROLL
        for (int j = 0; j < 4; ++j) v[j] = (r < M && c + j < K) ? A[std::int64_t{r} * K + c + j] : 0.0f;
      }
      PYDL_UNROLL
      for (int j = 0; j < 4; ++j) As[(t % 2) * 4 + j][t / 2] = v[j];
    } else {  // warps 4-7: B tile
      const int u = t - 128;
      const int r = k0 + u / 16, c = n0 + (u % 16) * 4;
      if (vec && r < K && c + 3 < N) {
        const float4 q = *reinterpret_cast<const float4*>(B + std::int64_t{r} * N + c);
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
      } else {
        PYDL_UNROLL
        for (int j = 0; j < 4; ++j) v[j] = (r < K && c + j < N) ? B[std::int64_t{r} * N + c + j] : 0.0f;
      }
      *reinterpret_cast<float4*>(&Bs[u / 16][(u % 16) * 4]) = make_float4(v[0], v[1], v[2], v[3]);
    }
    __syncthreads();
    PYDL_UNROLL
    for (int k = 0; k < kBK; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(&As[k][ty * kTM]);
      const float4 b = *reinterpret_cast<const float4*>(&Bs[k][tx * kTN]);
      const float av[4] = {a.x, a.y, a.z, a.w};
      const float bv[4] = {b.x, b.y, b.z, b.w};
      PYDL_UNROLL
      for (int i = 0; i < kTM; ++i) {
        PYDL_UNROLL
        for (int j = 0; j < kTN; ++j) acc[i][j] += av[i] * bv[j];
      }
    }
    __syncthreads();
  }
  PYDL_UNROLL
  for (int i = 0; i < kTM; ++i) {
    const int r = m0 + ty * kTM + i;
    const int c = n0 + tx * kTN;
    if (r >= M) continue;
    float* out = C + std::int64_t{r} * N + c;
    if (vec && c + 3 < N) {
      *reinterpret_cast<float4*>(out) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    } else {
      PYDL_UNROLL
      for (int j = 0; j < kTN; ++j)
        if (c + j < N) out[j] = acc[i][j];
    }
  }
}

__global__ void zero_kernel(float* __restrict__ p, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x)
    p[i] = 0.0f;
}

}  // namespace

void gemm(int variant, const float* A, const float* B, float* C, std::int64_t M, std::int64_t N,
          std::int64_t K) {
  check_size(M, "M", "gemm");
  check_size(N, "N", "gemm");
  check_size(K, "K", "gemm");
  if (M > 2147483647LL || N > 2147483647LL || K > 2147483647LL)
    throw std::invalid_argument("gemm: a dimension exceeds 2^31-1");
  if (variant < 0 || variant > 2)
    throw std::invalid_argument("gemm: variant must be 0 (naive), 1 (tiled) or 2 (regblock), got " +
                                std::to_string(variant));
  if (M == 0 || N == 0) return;
  if (K == 0) {  // empty sum: C = 0
    PYDL_LAUNCH(zero_kernel, dim3(grid_for(M * N, 256)), dim3(256), 0, nullptr, C, M * N);
    return;
  }
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  if (variant == 2) {
    if ((M + kBM - 1) / kBM > 65535) throw std::invalid_argument("gemm: M too large for grid.y");
    const int vec = (K % 4 == 0 && N % 4 == 0 && reinterpret_cast<std::uintptr_t>(A) % 16 == 0 &&
                     reinterpret_cast<std::uintptr_t>(B) % 16 == 0 &&
                     reinterpret_cast<std::uintptr_t>(C) % 16 == 0);
    const dim3 grid(static_cast<unsigned>((N + kBN - 1) / kBN),
                    static_cast<unsigned>((M + kBM - 1) / kBM));
    PYDL_LAUNCH(gemm_regblock_kernel, grid, dim3(kRegThreads), 0, nullptr, A, B, C, m, n, k, vec);
    return;
  }
  if ((M + kTile - 1) / kTile > 65535) throw std::invalid_argument("gemm: M too large for grid.y");
  const dim3 grid(static_cast<unsigned>((N + kTile - 1) / kTile),
                  static_cast<unsigned>((M + kTile - 1) / kTile));
  if (variant == 0)
    PYDL_LAUNCH(gemm_naive_kernel, grid, dim3(kTile, kTile), 0, nullptr, A, B, C, m, n, k);
  else
    PYDL_LAUNCH(gemm_tiled_kernel, grid, dim3(kTile, kTile), 0, nullptr, A, B, C, m, n, k);
}

}  // namespace pydl::cuda::kernels
