// csrc/cuda/kernels/optim.cu -- fused SGD and Adam/AdamW updates: one pass over p, g and the state
// per step instead of the several elementwise launches an unfused update takes (the update is
// memory bound, so passes are what cost). Grid-stride, a thread per element; formulas as
// torch.optim's (single-tensor, foreach=False).
#include <cmath>

#include "cuda/kernels/common.h"
#include "cuda/kernels/kernels.h"

namespace pydl::cuda::kernels {
namespace {

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ g,
                           float* __restrict__ buf, std::int64_t n, float lr, float momentum,
                           float dampening, float wd, int nesterov, int first) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    float d = g[i];
    if (wd != 0.0f) d += wd * p[i];
    if (momentum != 0.0f) {
      const float b = first ? d : momentum * buf[i] + (1.0f - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
}

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g,
                            float* __restrict__ m, float* __restrict__ v, std::int64_t n, float lr,
                            float beta1, float beta2, float eps, float wd, int decoupled,
                            float bc1, float bc2_sqrt) {
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    float pi = p[i];
    float gi = g[i];
    if (wd != 0.0f) {
      if (decoupled)
        pi *= 1.0f - lr * wd;  // AdamW: decay the weights, not the gradient
      else
        gi += wd * pi;  // Adam: L2 penalty folded into the gradient
    }
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    // torch: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
    pi -= (lr / bc1) * mi / (sqrtf(vi) / bc2_sqrt + eps);
    p[i] = pi;
  }
}

}  // namespace

void sgd_step(float* p, const float* g, float* buf, std::int64_t n, float lr, float momentum,
              float dampening, float weight_decay, bool nesterov, bool first_step) {
  check_size(n, "n", "sgd_step");
  if (n == 0) return;
  PYDL_LAUNCH(sgd_kernel, dim3(grid_for(n, 256)), dim3(256), 0, nullptr, p, g, buf, n, lr,
              momentum, dampening, weight_decay, nesterov ? 1 : 0, first_step ? 1 : 0);
}

void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, float lr, float beta1,
               float beta2, float eps, float weight_decay, bool decoupled, std::int64_t step) {
  check_size(n, "n", "adam_step");
  if (step < 1) throw std::invalid_argument("adam_step: step must be >= 1");
  if (n == 0) return;
  // Bias corrections computed once on the host, in double as torch does for its scalars.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  PYDL_LAUNCH(adam_kernel, dim3(grid_for(n, 256)), dim3(256), 0, nullptr, p, g, m, v, n, lr, beta1,
              beta2, eps, weight_decay, decoupled ? 1 : 0, static_cast<float>(bc1),
              static_cast<float>(std::sqrt(bc2)));
}

}  // namespace pydl::cuda::kernels
