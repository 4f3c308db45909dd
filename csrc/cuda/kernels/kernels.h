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

namespace pydl::cuda::kernels {

// -- cross_entropy.cu: logits (N, C), targets (N) int64 in [0, C) or == ignore_index ---------------
// loss[n] = logsumexp(logits[n]) - logits[n, targets[n]] (0 for ignored rows); lse[n] saved.
// Backward: dlogits[n, c] = dloss[n] * (softmax(logits[n])[c] - (c == targets[n])). A warp per row.
void cross_entropy_forward(const float* logits, const std::int64_t* targets, float* loss,
                           float* lse, std::int64_t N, std::int64_t C, std::int64_t ignore_index);
void cross_entropy_backward(const float* logits, const std::int64_t* targets, const float* lse,
                            const float* dloss, float* dlogits, std::int64_t N, std::int64_t C,
                            std::int64_t ignore_index);

// -- embedding.cu: weight (V, D), idx (N) int64 in [0, V) -> out (N, D) ------------------------------
// Backward: dweight (V, D) = 0, then dweight[idx[n]] += dout[n] by atomicAdd (repeated indices).
void embedding_forward(const float* weight, const std::int64_t* idx, float* out, std::int64_t N,
                       std::int64_t V, std::int64_t D);
void embedding_backward(const float* dout, const std::int64_t* idx, float* dweight, std::int64_t N,
                        std::int64_t V, std::int64_t D);

// -- optim.cu: fused in-place parameter updates on n elements, torch.optim semantics --------------
// SGD: g' = g + wd*p; buf = momentum*buf + (1-dampening)*g' (buf = g' on the first step);
// g' = nesterov ? g' + momentum*buf : buf (when momentum != 0); p -= lr*g'.
void sgd_step(float* p, const float* g, float* buf, std::int64_t n, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step);
// Adam / AdamW (decoupled = true): step is the 1-based step count after this update.
void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, float lr, float beta1,
               float beta2, float eps, float weight_decay, bool decoupled, std::int64_t step);

}  // namespace pydl::cuda::kernels

namespace pydl::cuda::kernels {

// -- attention.cu: scaled dot-product attention, flash style (online softmax, no (T, S) matrix) ----
// Q (BH, T, d), K and V (BH, S, d), O (BH, T, d), lse (BH, T) = logsumexp of each score row;
// d <= 128, S >= 1; causal: query t sees keys s <= t (torch's is_causal, top-left aligned).
void sdpa_forward(const float* Q, const float* K, const float* V, float* O, float* lse,
                  std::int64_t BH, std::int64_t T, std::int64_t S, std::int64_t d, float scale,
                  bool causal);
// dQ, dK, dV from dO and the forward's O and lse; `delta` is a (BH, T) workspace.
void sdpa_backward(const float* Q, const float* K, const float* V, const float* O, const float* dO,
                   const float* lse, float* delta, float* dQ, float* dK, float* dV,
                   std::int64_t BH, std::int64_t T, std::int64_t S, std::int64_t d, float scale,
                   bool causal);

}  // namespace pydl::cuda::kernels

namespace pydl::cuda::kernels {

// -- conv2d.cu: 2-D convolution (cross-correlation, as torch) by im2col + the register-blocked GEMM --
// x (N, Cin, H, W), w (Cout, Cin, kh, kw), bias (Cout) or nullptr -> y (N, Cout, Ho, Wo),
// Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 (likewise Wo). Workspaces are allocated inside.
struct Conv2dShape {
  std::int64_t N, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw;
  std::int64_t Ho() const { return (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  std::int64_t Wo() const { return (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
};
void conv2d_forward(const float* x, const float* w, const float* bias, float* y,
                    const Conv2dShape& s);
// dx (like x), dw (like w), dbias (Cout) or nullptr.
void conv2d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* dbias, const Conv2dShape& s);
// out (C, R) = in (R, C)^T, through 32x32 shared-memory tiles.
void transpose(const float* in, float* out, std::int64_t R, std::int64_t C);

}  // namespace pydl::cuda::kernels

namespace pydl::cuda::kernels {

// -- pooling.cu: 2-D max / average pooling over x (N*C planes of H x W), torch semantics with
// ceil_mode=False; avg counts the zero padding (count_include_pad=True). Output planes Ho x Wo.
struct Pool2dShape {
  std::int64_t NC, H, W, kh, kw, sh, sw, ph, pw;
  std::int64_t Ho() const { return (H + 2 * ph - kh) / sh + 1; }
  std::int64_t Wo() const { return (W + 2 * pw - kw) / sw + 1; }
};
// y and argmax (flat h*W + w index within the plane, as torch's indices) of each window.
void max_pool2d_forward(const float* x, float* y, std::int64_t* argmax, const Pool2dShape& s);
// dx[i] = sum of dy over the windows whose argmax is i (a gather: no atomics).
void max_pool2d_backward(const float* dy, const std::int64_t* argmax, float* dx,
                         const Pool2dShape& s);
void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s);
void avg_pool2d_backward(const float* dy, float* dx, const Pool2dShape& s);

}  // namespace pydl::cuda::kernels
