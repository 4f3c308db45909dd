// csrc/cuda/kernels/kernels.h -- host launchers of the CUDA kernels (one family per .cu file).
//
// Plain C++ (no CUDA headers), so host code built by either compiler can call them. Every pointer is
// a device pointer (emulated device memory in pydl._cuemu, real device memory in pydl._C_cuda);
// tensors are contiguous float32, shapes are named in each comment. Each launcher validates its
// sizes (std::invalid_argument) and launches on the default stream; errors of the launch itself are
// std::runtime_error naming the kernel and the call site.
#pragma once

#include <cstdint>

namespace pydl::cuda::kernels {

// -- elementwise.cu: y[i] = f(x[i]) and its backward dx[i] = dy[i] * f'(x[i]); n elements -------
void relu_forward(const float* x, float* y, std::int64_t n);
void relu_backward(const float* x, const float* dy, float* dx, std::int64_t n);
void gelu_forward(const float* x, float* y, std::int64_t n);  // exact (erf) GELU
void gelu_backward(const float* x, const float* dy, float* dx, std::int64_t n);
void add_forward(const float* a, const float* b, float* y, std::int64_t n);

// -- reduce.cu: y[r] = sum_c x[r, c]; x is (R, C). Backward: dx[r, c] = dy[r] ---------------------
void sum_lastdim_forward(const float* x, float* y, std::int64_t R, std::int64_t C);
void sum_lastdim_backward(const float* dy, float* dx, std::int64_t R, std::int64_t C);

// -- gemm.cu: C (M, N) = A (M, K) @ B (K, N), row-major ------------------------------------------
// variant 0: naive (one thread per output), 1: shared-memory tiled (16x16),
// 2: 64x64 block tile, 4x4 outputs per thread in registers, float4 loads where aligned.
void gemm(int variant, const float* A, const float* B, float* C, std::int64_t M, std::int64_t N,
          std::int64_t K);

// -- softmax.cu: y = softmax(x) over the last dim of x (R, C); variant 0: a warp per row,
// 1: a block per row. Backward: dx = y * (dy - sum(dy * y)) -----------------------------------------
void softmax_forward(int variant, const float* x, float* y, std::int64_t R, std::int64_t C);
void softmax_backward(int variant, const float* y, const float* dy, float* dx, std::int64_t R,
                      std::int64_t C);

// -- layer_norm.cu: over the last dim of x (R, C); gamma, beta (C); mean, rstd (R) ---------------
void layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* rstd, std::int64_t R, std::int64_t C, float eps);
// dx (R, C); dgamma, dbeta (C).
void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dgamma, float* dbeta, std::int64_t R,
                         std::int64_t C);

}  // namespace pydl::cuda::kernels
