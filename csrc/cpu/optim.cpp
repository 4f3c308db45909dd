// Optimizer kernels: one fused pass per parameter tensor for SGD, Adam/AdamW,
// Adagrad, RMSprop and Adadelta, in float32 and float64.
//
// PyTorch's single-tensor optimizers (torch/optim/<name>.py) run each update
// as a chain of tensor ops (grad.add(param), buf.mul_().add_(), sqrt, div,
// addcdiv_), so every element is read and written several times. Here each
// element is loaded once, the whole chain runs in registers, and the
// parameter and state are stored once: a memory-bound update at roughly the
// cost of one copy.
//
// Numerics follow PyTorch's op sequence element by element, in the tensor's
// own precision (torch's "opmath" for float32 is float32): the same operations
// in the same order (e.g. Adam's denominator is sqrt(v) / sqrt(bias_correction2)
// + eps, not sqrt(v / bias_correction2) + eps; lerp with PyTorch's two-sided
// formula), with scalar hyperparameters combined in double, as Python does,
// and cast to T once. The compiler may fuse a multiply-add where torch rounds
// twice (ATen's vectorised kernels fuse some too), so a step agrees with torch
// to an ulp or so, and N steps stay within float32 tolerance of it.
//
// Compiled once per ISA (see kernels.h); the loops run under `#pragma omp simd`
// and vectorise to 16 floats per instruction under AVX-512. Options that change
// a loop body are hoisted out of it (as template parameters where GCC's
// vectoriser needs that). The op layer (core/ops_optim.cpp) checks arguments
// and splits long tensors over threads.
#include <cmath>
#include <cstdint>

#include "cpu/kernels.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {

// PyTorch's lerp (ATen/native/Lerp.h): exact at both ends of the weight range.
template <class T>
static inline T lerp(T self, T end, T w) {
  return std::fabs(w) < T(0.5) ? self + w * (end - self) : end - (end - self) * (T(1) - w);
}

// ---------------------------------------------------------------------------
// SGD (torch/optim/sgd.py, _single_tensor_sgd)
//   g = maximize ? -grad : grad;  g += weight_decay * p
//   buf = first ? g : momentum * buf + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf;  p -= lr * g
// momentum_buf is null when momentum == 0.
// ---------------------------------------------------------------------------
template <class T>
static void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SgdParams& o) {
  const T sign = o.maximize ? T(-1) : T(1);
  const T wd = T(o.weight_decay), mom = T(o.momentum), damp1 = T(1 - o.dampening);
  const T neg_lr = T(-o.lr);
  const bool use_wd = o.weight_decay != 0;
  if (buf == nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T g = sign * grad[i];
      if (use_wd) g = g + wd * p[i];
      p[i] = p[i] + neg_lr * g;
    }
    return;
  }
  const bool first = o.first_step, nesterov = o.nesterov;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if (use_wd) g = g + wd * p[i];
    T b = first ? g : buf[i] * mom + damp1 * g;
    buf[i] = b;
    T d = nesterov ? g + mom * b : b;
    p[i] = p[i] + neg_lr * d;
  }
}

// ---------------------------------------------------------------------------
// Adam / AdamW (torch/optim/adam.py, _single_tensor_adam; AdamW is Adam with
// decoupled weight decay). `step` is the step count after this update.
//   g = maximize ? -grad : grad
//   decoupled: p *= 1 - lr * wd     else: g += wd * p
//   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
//   vmax = max(vmax, v) (amsgrad)
//   denom = sqrt(v or vmax) / sqrt(1 - beta2^step) + eps
//   p += -(lr / (1 - beta1^step)) * (m / denom)
// max_exp_avg_sq is null unless amsgrad.
// ---------------------------------------------------------------------------
// The options that change the loop body are template parameters: GCC's
// vectoriser gives up on these loops when the body branches on run-time flags.
enum AdamDecay { kNoDecay, kL2Decay, kDecoupledDecay };

template <class T>
struct AdamConsts { T sign, w1, b2, w2, neg_step_size, bc2_sqrt, eps, wd, shrink; };

template <class T, int Decay, bool Amsgrad>
static void adam_loop(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, const AdamConsts<T> c) {
  const T sign = c.sign, w1 = c.w1, b2 = c.b2, w2 = c.w2, neg_step_size = c.neg_step_size;
  const T bc2_sqrt = c.bc2_sqrt, eps = c.eps, wd = c.wd, shrink = c.shrink;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    T pi = p[i];
    if constexpr (Decay == kDecoupledDecay) pi = pi * shrink;
    if constexpr (Decay == kL2Decay) g = g + wd * pi;
    T mi = lerp(m[i], g, w1);
    T vi = v[i] * b2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    if constexpr (Amsgrad) {
      const T old = vmax[i];
      vi = (vi != vi || old < vi) ? vi : old;  // torch.maximum: NaN propagates
      vmax[i] = vi;
    }
    T denom = std::sqrt(vi) / bc2_sqrt + eps;
    p[i] = pi + neg_step_size * (mi / denom);
  }
}

template <class T>
static void adam_step(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, const AdamParams& o) {
  const double bc1 = 1 - std::pow(o.beta1, o.step);
  const double bc2 = 1 - std::pow(o.beta2, o.step);
  const AdamConsts<T> c{o.maximize ? T(-1) : T(1), T(1 - o.beta1), T(o.beta2), T(1 - o.beta2),
                        T(-(o.lr / bc1)), T(std::sqrt(bc2)), T(o.eps), T(o.weight_decay),
                        T(1 - o.lr * o.weight_decay)};
  const int decay = o.weight_decay == 0 ? kNoDecay : (o.decoupled ? kDecoupledDecay : kL2Decay);
  if (o.amsgrad) {
    if (decay == kNoDecay) adam_loop<T, kNoDecay, true>(p, grad, m, v, vmax, n, c);
    else if (decay == kL2Decay) adam_loop<T, kL2Decay, true>(p, grad, m, v, vmax, n, c);
    else adam_loop<T, kDecoupledDecay, true>(p, grad, m, v, vmax, n, c);
  } else {
    if (decay == kNoDecay) adam_loop<T, kNoDecay, false>(p, grad, m, v, vmax, n, c);
    else if (decay == kL2Decay) adam_loop<T, kL2Decay, false>(p, grad, m, v, vmax, n, c);
    else adam_loop<T, kDecoupledDecay, false>(p, grad, m, v, vmax, n, c);
  }
}

// ---------------------------------------------------------------------------
// Adagrad (torch/optim/adagrad.py); clr = lr / (1 + (step - 1) * lr_decay)
// is computed by the caller.
//   g = maximize ? -grad : grad;  g += wd * p
//   sum += g * g;  p += -clr * (g / (sqrt(sum) + eps))
// ---------------------------------------------------------------------------
template <class T>
static void adagrad_step(T* p, const T* grad, T* sum, int64_t n, const AdagradParams& o) {
  const T sign = o.maximize ? T(-1) : T(1);
  const T wd = T(o.weight_decay), neg_clr = T(-o.clr), eps = T(o.eps);
  const bool use_wd = o.weight_decay != 0;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if (use_wd) g = g + wd * p[i];
    T s = sum[i] + T(1) * g * g;
    sum[i] = s;
    p[i] = p[i] + neg_clr * (g / (std::sqrt(s) + eps));
  }
}

// ---------------------------------------------------------------------------
// RMSprop (torch/optim/rmsprop.py)
//   g = maximize ? -grad : grad;  g += wd * p
//   sq = sq * alpha + (1 - alpha) * g * g
//   centered: ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga * ga)  else avg = sqrt(sq)
//   avg += eps
//   momentum > 0: buf = buf * momentum + g / avg; p -= lr * buf
//   else:         p += -lr * (g / avg)
// grad_avg is null unless centered, buf null unless momentum > 0.
// ---------------------------------------------------------------------------
template <class T>
struct RmspropConsts { T sign, wd, alpha, w, eps, mom, neg_lr; };

template <class T, bool WeightDecay, bool Centered, bool Momentum>
static void rmsprop_loop(T* p, const T* grad, T* sq, T* ga, T* buf, int64_t n, const RmspropConsts<T> c) {
  const T sign = c.sign, wd = c.wd, alpha = c.alpha, w = c.w, eps = c.eps, mom = c.mom, neg_lr = c.neg_lr;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if constexpr (WeightDecay) g = g + wd * p[i];
    T s = sq[i] * alpha + w * g * g;
    sq[i] = s;
    T avg;
    if constexpr (Centered) {
      T a = lerp(ga[i], g, w);
      ga[i] = a;
      avg = std::sqrt(s + T(-1) * a * a);
    } else {
      avg = std::sqrt(s);
    }
    avg = avg + eps;
    if constexpr (Momentum) {
      T b = buf[i] * mom + g / avg;
      buf[i] = b;
      p[i] = p[i] + neg_lr * b;
    } else {
      p[i] = p[i] + neg_lr * (g / avg);
    }
  }
}

template <class T, bool WeightDecay, bool Centered>
static void rmsprop_momentum(T* p, const T* grad, T* sq, T* ga, T* buf, int64_t n, const RmspropConsts<T>& c) {
  if (buf) rmsprop_loop<T, WeightDecay, Centered, true>(p, grad, sq, ga, buf, n, c);
  else rmsprop_loop<T, WeightDecay, Centered, false>(p, grad, sq, ga, buf, n, c);
}

template <class T>
static void rmsprop_step(T* p, const T* grad, T* sq, T* ga, T* buf, int64_t n, const RmspropParams& o) {
  const RmspropConsts<T> c{o.maximize ? T(-1) : T(1), T(o.weight_decay), T(o.alpha), T(1 - o.alpha), T(o.eps),
                           T(o.momentum), T(-o.lr)};
  const bool wd = o.weight_decay != 0;
  if (wd && ga) rmsprop_momentum<T, true, true>(p, grad, sq, ga, buf, n, c);
  else if (wd) rmsprop_momentum<T, true, false>(p, grad, sq, ga, buf, n, c);
  else if (ga) rmsprop_momentum<T, false, true>(p, grad, sq, ga, buf, n, c);
  else rmsprop_momentum<T, false, false>(p, grad, sq, ga, buf, n, c);
}

// ---------------------------------------------------------------------------
// Adadelta (torch/optim/adadelta.py)
//   g = maximize ? -grad : grad;  g += wd * p
//   sq = sq * rho + (1 - rho) * g * g
//   delta = sqrt(acc + eps) / sqrt(sq + eps) * g
//   acc = acc * rho + (1 - rho) * delta * delta;  p -= lr * delta
// ---------------------------------------------------------------------------
template <class T>
static void adadelta_step(T* p, const T* grad, T* sq, T* acc, int64_t n, const AdadeltaParams& o) {
  const T sign = o.maximize ? T(-1) : T(1);
  const T wd = T(o.weight_decay), rho = T(o.rho), w = T(1 - o.rho), eps = T(o.eps);
  const T neg_lr = T(-o.lr);
  const bool use_wd = o.weight_decay != 0;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T g = sign * grad[i];
    if (use_wd) g = g + wd * p[i];
    T s = sq[i] * rho + w * g * g;
    sq[i] = s;
    T std_ = std::sqrt(s + eps);
    T delta = std::sqrt(acc[i] + eps) / std_ * g;
    acc[i] = acc[i] * rho + w * delta * delta;
    p[i] = p[i] + neg_lr * delta;
  }
}

template <class T>
static void fill_typed(TypedKernels<T>& k) {
  k.sgd_step = sgd_step<T>;
  k.adam_step = adam_step<T>;
  k.adagrad_step = adagrad_step<T>;
  k.rmsprop_step = rmsprop_step<T>;
  k.adadelta_step = adadelta_step<T>;
}

void fill_optim(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
