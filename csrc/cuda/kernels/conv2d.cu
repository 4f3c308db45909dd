// csrc/cuda/kernels/conv2d.cu -- 2-D convolution as im2col + GEMM, forward and backward.
//
// With P = N * Ho * Wo output positions and CK = Cin * kh * kw taps:
//   cols (CK, P)   = im2col(x)                 each column holds the receptive field of one output
//   Y    (Cout, P) = w (Cout, CK) @ cols        gemm.cu's register-blocked kernel
//   y    (N, Cout, Ho, Wo) = Y rearranged, + bias
// Backward: dY = dy rearranged to (Cout, P); dbias = sum over P (reduce.cu's row sum);
//   dw = dY @ cols^T; dcols = w^T @ dY; dx = col2im(dcols). col2im is written as a gather (a
//   thread per x element sums the taps that read it), so it needs no atomics and is deterministic.
#include <memory>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

constexpr int kThreads = 256;

// Owned device workspace, freed on every path (a launch can throw).
struct Workspace {
  float* p = nullptr;
  explicit Workspace(std::int64_t n) {
    if (n > 0) PYDL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float)));
  }
  ~Workspace() { cudaFree(p); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

// A thread per cols element: row r = (ci, ki, kj), column p = (n, oh, ow).
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ cols,
                              Conv2dShape s, std::int64_t Ho, std::int64_t Wo) {
  const std::int64_t P = s.N * Ho * Wo, total = s.Cin * s.kh * s.kw * P;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t r = i / P, p = i % P;
    const std::int64_t kj = r % s.kw, ki = (r / s.kw) % s.kh, ci = r / (s.kw * s.kh);
    const std::int64_t ow = p % Wo, oh = (p / Wo) % Ho, n = p / (Wo * Ho);
    const std::int64_t ih = oh * s.sh - s.ph + ki * s.dh, iw = ow * s.sw - s.pw + kj * s.dw;
    cols[i] = (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
                  ? x[((n * s.Cin + ci) * s.H + ih) * s.W + iw]
                  : 0.0f;
  }
}

// y[n, co, oh, ow] = Y[co, (n, oh, ow)] + bias[co].
__global__ void cp_to_nchw_kernel(const float* __restrict__ Y, const float* __restrict__ bias,
                                  float* __restrict__ y, std::int64_t N, std::int64_t Cout,
                                  std::int64_t HW) {
  const std::int64_t total = N * Cout * HW;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t hw = i % HW, co = (i / HW) % Cout, n = i / (HW * Cout);
    y[i] = Y[co * (N * HW) + n * HW + hw] + (bias ? bias[co] : 0.0f);
  }
}

// dY[co, (n, hw)] = dy[n, co, hw].
__global__ void nchw_to_cp_kernel(const float* __restrict__ dy, float* __restrict__ dY,
                                  std::int64_t N, std::int64_t Cout, std::int64_t HW) {
  const std::int64_t total = N * Cout * HW;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t hw = i % HW, co = (i / HW) % Cout, n = i / (HW * Cout);
    dY[co * (N * HW) + n * HW + hw] = dy[i];
  }
}

// A thread per x element: the sum of dcols over the taps (ki, kj) whose output position (oh, ow)
// reads this element: ih = oh*sh - ph + ki*dh must hold with an integer, in-range oh.
__global__ void col2im_kernel(const float* __restrict__ dcols, float* __restrict__ dx,
                              Conv2dShape s, std::int64_t Ho, std::int64_t Wo) {
  const std::int64_t P = s.N * Ho * Wo, total = s.N * s.Cin * s.H * s.W;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < total;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t iw = i % s.W, ih = (i / s.W) % s.H, ci = (i / (s.W * s.H)) % s.Cin,
                       n = i / (s.W * s.H * s.Cin);
    float acc = 0.0f;
    for (std::int64_t ki = 0; ki < s.kh; ++ki) {
      const std::int64_t th = ih + s.ph - ki * s.dh;
      if (th < 0 || th % s.sh) continue;
      const std::int64_t oh = th / s.sh;
      if (oh >= Ho) continue;
      for (std::int64_t kj = 0; kj < s.kw; ++kj) {
        const std::int64_t tw = iw + s.pw - kj * s.dw;
        if (tw < 0 || tw % s.sw) continue;
        const std::int64_t ow = tw / s.sw;
        if (ow >= Wo) continue;
        const std::int64_t r = (ci * s.kh + ki) * s.kw + kj;
        acc += dcols[r * P + (n * Ho + oh) * Wo + ow];
      }
    }
    dx[i] = acc;
  }
}

// 32x32 tile through shared memory (33 columns: a column read hits 32 different banks), so both
// the global read and the global write are coalesced. Block (32, 8): each thread moves 4 elements.
__global__ void transpose_kernel(const float* __restrict__ in, float* __restrict__ out,
                                 std::int64_t R, std::int64_t C) {
  __shared__ float tile[32][33];
  const std::int64_t c0 = std::int64_t{blockIdx.x} * 32, r0 = std::int64_t{blockIdx.y} * 32;
  for (int j = threadIdx.y; j < 32; j += 8) {
    const std::int64_t r = r0 + j, c = c0 + threadIdx.x;
    if (r < R && c < C) tile[j][threadIdx.x] = in[r * C + c];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < 32; j += 8) {
    const std::int64_t c = c0 + j, r = r0 + threadIdx.x;  // out row c, column r
    if (r < R && c < C) out[c * R + r] = tile[threadIdx.x][j];
  }
}

void check(const Conv2dShape& s, const char* fn) {
  const std::int64_t v[] = {s.N, s.Cin, s.H, s.W, s.Cout, s.kh, s.kw};
  for (std::int64_t x : v) check_size(x, "size", fn);
  if (s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1 || s.ph < 0 || s.pw < 0)
    throw std::invalid_argument(std::string(fn) +
                                ": kernel, stride and dilation must be >= 1, padding >= 0");
  if (s.Ho() < 1 || s.Wo() < 1)
    throw std::invalid_argument(std::string(fn) + ": the kernel is larger than the padded input");
  if (s.Cin * s.kh * s.kw > 2147483647LL || s.N * s.Ho() * s.Wo() > 2147483647LL)
    throw std::invalid_argument(std::string(fn) + ": too large for the int32 GEMM");
}

}  // namespace

void transpose(const float* in, float* out, std::int64_t R, std::int64_t C) {
  check_size(R, "R", "transpose");
  check_size(C, "C", "transpose");
  if (R == 0 || C == 0) return;
  if ((R + 31) / 32 > 65535) throw std::invalid_argument("transpose: too many rows");
  PYDL_LAUNCH(transpose_kernel, dim3(static_cast<unsigned>((C + 31) / 32), static_cast<unsigned>((R + 31) / 32)),
              dim3(32, 8), 0, nullptr, in, out, R, C);
}

void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dShape& s) {
  check(s, "conv2d_forward");
  const std::int64_t Ho = s.Ho(), Wo = s.Wo(), P = s.N * Ho * Wo, CK = s.Cin * s.kh * s.kw;
  if (P == 0 || s.Cout == 0) return;
  Workspace cols(CK * P), Y(s.Cout * P);
  if (CK > 0)
    PYDL_LAUNCH(im2col_kernel, dim3(grid_for(CK * P, kThreads)), dim3(kThreads), 0, nullptr, x,
                cols.p, s, Ho, Wo);
  gemm(2, w, cols.p, Y.p, s.Cout, P, CK);
  PYDL_LAUNCH(cp_to_nchw_kernel, dim3(grid_for(s.Cout * P, kThreads)), dim3(kThreads), 0, nullptr,
              Y.p, bias, y, s.N, s.Cout, Ho * Wo);
}

void conv2d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* dbias, const Conv2dShape& s) {
  check(s, "conv2d_backward");
  const std::int64_t Ho = s.Ho(), Wo = s.Wo(), P = s.N * Ho * Wo, CK = s.Cin * s.kh * s.kw;
  Workspace dY(s.Cout * P), cols(CK * P), colsT(CK * P), wT(s.Cout * CK), dcols(CK * P);
  if (s.Cout * P > 0)
    PYDL_LAUNCH(nchw_to_cp_kernel, dim3(grid_for(s.Cout * P, kThreads)), dim3(kThreads), 0,
                nullptr, dy, dY.p, s.N, s.Cout, Ho * Wo);
  if (dbias && s.Cout > 0) sum_lastdim_forward(dY.p, dbias, s.Cout, P);
  if (CK * P > 0)
    PYDL_LAUNCH(im2col_kernel, dim3(grid_for(CK * P, kThreads)), dim3(kThreads), 0, nullptr, x,
                cols.p, s, Ho, Wo);
  transpose(cols.p, colsT.p, CK, P);
  gemm(2, dY.p, colsT.p, dw, s.Cout, CK, P);  // dw (Cout, CK) = dY (Cout, P) @ cols^T (P, CK)
  transpose(w, wT.p, s.Cout, CK);
  gemm(2, wT.p, dY.p, dcols.p, CK, P, s.Cout);  // dcols (CK, P) = w^T (CK, Cout) @ dY (Cout, P)
  const std::int64_t nx = s.N * s.Cin * s.H * s.W;
  if (nx > 0)
    PYDL_LAUNCH(col2im_kernel, dim3(grid_for(nx, kThreads)), dim3(kThreads), 0, nullptr, dcols.p,
                dx, s, Ho, Wo);
}

}  // namespace pydl::cuda::kernels
