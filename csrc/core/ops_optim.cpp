// Optimizer op layer: checks and threading in front of the fused update
// kernels in cpu/optim.cpp.
//
// Each entry updates one parameter tensor p in place from its gradient g and
// the optimizer's state tensors for p. Before a kernel runs:
//   - every tensor is on the CPU and p is float32 or float64;
//   - g and each state tensor have p's shape and dtype (RuntimeError naming both);
//   - state tensors are contiguous (they are ours: created contiguous by
//     pydl.optim, so a strided one means a caller bug, not a layout to support);
//   - g may be strided (e.g. an expanded gradient from sum's backward): it is
//     made contiguous; a strided p is updated through a contiguous copy that
//     is written back.
// The elementwise update then splits into 16K-element chunks over OpenMP
// threads when the tensor is long enough to pay for the team.
#include <omp.h>

#include <algorithm>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {

namespace {

void check_param(const Tensor& p, const Tensor& g, const char* op) {
  check_cpu(p, op);
  check_same_device(p, g, op);
  PYDL_CHECK(is_floating(p.dtype), RuntimeError, op, ": expected a floating point parameter, but got ",
             dtype_name(p.dtype));
  PYDL_CHECK(g.shape == p.shape, RuntimeError, op, ": the gradient has shape ", shape_str(g.shape),
             " but the parameter has shape ", shape_str(p.shape));
  PYDL_CHECK(g.dtype == p.dtype, RuntimeError, op, ": the gradient has dtype ", dtype_name(g.dtype),
             " but the parameter has dtype ", dtype_name(p.dtype));
}

void check_state(const Tensor& p, const Tensor& s, const char* name, const char* op) {
  PYDL_CHECK(s.storage, RuntimeError, op, ": state '", name, "' is missing");
  check_same_device(p, s, op);
  PYDL_CHECK(s.shape == p.shape, RuntimeError, op, ": state '", name, "' has shape ",
             shape_str(s.shape), " but the parameter has shape ", shape_str(p.shape));
  PYDL_CHECK(s.dtype == p.dtype, RuntimeError, op, ": state '", name, "' has dtype ",
             dtype_name(s.dtype), " but the parameter has dtype ", dtype_name(p.dtype));
  PYDL_CHECK(s.is_contiguous(), RuntimeError, op, ": state '", name, "' must be contiguous");
}

// Calls f(start, count) over [0, n): one call on one thread for small n,
// else 16K-element chunks (64-byte aligned starts) spread over the threads.
template <class F>
void for_chunks(int64_t n, F&& f) {
  constexpr int64_t kChunk = 16384;
  if (n < kParallelGrain || omp_get_max_threads() == 1) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk;
    f(s, std::min(kChunk, n - s));
  }
}

// Runs body(T* p, const T* g) on contiguous views of p and g, writing a
// strided p back afterwards.
template <class Body>
void with_contiguous(Tensor& p, const Tensor& g, Body&& body) {
  Tensor pc = p.is_contiguous() ? p : contiguous(p);
  Tensor gc = contiguous(g);
  dispatch_dtype(p.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) body(pc.data<T>(), static_cast<const T*>(gc.data<T>()));
  });
  if (!p.is_contiguous()) copy_(p, pc);
}

template <class T>
T* ptr(Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

}  // namespace

void sgd_step(Tensor& p, const Tensor& g, Tensor* buf, const cpu::SgdParams& o) {
  const char* op = "sgd_step";
  check_param(p, g, op);
  if (buf) check_state(p, *buf, "momentum_buffer", op);
  with_contiguous(p, g, [&](auto* pp, const auto* pg) {
    using T = std::remove_pointer_t<decltype(pp)>;
    T* pb = ptr<T>(buf);
    auto fn = cpu::typed<T>().sgd_step;
    for_chunks(p.numel(), [&](int64_t s, int64_t n) { fn(pp + s, pg + s, pb ? pb + s : nullptr, n, o); });
  });
}

void adam_step(Tensor& p, const Tensor& g, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor* max_exp_avg_sq,
               const cpu::AdamParams& o) {
  const char* op = "adam_step";
  check_param(p, g, op);
  check_state(p, exp_avg, "exp_avg", op);
  check_state(p, exp_avg_sq, "exp_avg_sq", op);
  PYDL_CHECK(!o.amsgrad || max_exp_avg_sq, RuntimeError, op, ": amsgrad needs state 'max_exp_avg_sq'");
  if (o.amsgrad) check_state(p, *max_exp_avg_sq, "max_exp_avg_sq", op);
  PYDL_CHECK(o.step >= 1, ValueError, op, ": step must be >= 1, got ", o.step);
  with_contiguous(p, g, [&](auto* pp, const auto* pg) {
    using T = std::remove_pointer_t<decltype(pp)>;
    T *m = exp_avg.data<T>(), *v = exp_avg_sq.data<T>(), *vmax = o.amsgrad ? ptr<T>(max_exp_avg_sq) : nullptr;
    auto fn = cpu::typed<T>().adam_step;
    for_chunks(p.numel(), [&](int64_t s, int64_t n) {
      fn(pp + s, pg + s, m + s, v + s, vmax ? vmax + s : nullptr, n, o);
    });
  });
}

void adagrad_step(Tensor& p, const Tensor& g, Tensor& sum, const cpu::AdagradParams& o) {
  const char* op = "adagrad_step";
  check_param(p, g, op);
  check_state(p, sum, "sum", op);
  with_contiguous(p, g, [&](auto* pp, const auto* pg) {
    using T = std::remove_pointer_t<decltype(pp)>;
    T* ps = sum.data<T>();
    auto fn = cpu::typed<T>().adagrad_step;
    for_chunks(p.numel(), [&](int64_t s, int64_t n) { fn(pp + s, pg + s, ps + s, n, o); });
  });
}

void rmsprop_step(Tensor& p, const Tensor& g, Tensor& square_avg, Tensor* grad_avg, Tensor* buf,
                  const cpu::RmspropParams& o) {
  const char* op = "rmsprop_step";
  check_param(p, g, op);
  check_state(p, square_avg, "square_avg", op);
  if (grad_avg) check_state(p, *grad_avg, "grad_avg", op);
  if (buf) check_state(p, *buf, "momentum_buffer", op);
  with_contiguous(p, g, [&](auto* pp, const auto* pg) {
    using T = std::remove_pointer_t<decltype(pp)>;
    T *sq = square_avg.data<T>(), *ga = ptr<T>(grad_avg), *pb = ptr<T>(buf);
    auto fn = cpu::typed<T>().rmsprop_step;
    for_chunks(p.numel(), [&](int64_t s, int64_t n) {
      fn(pp + s, pg + s, sq + s, ga ? ga + s : nullptr, pb ? pb + s : nullptr, n, o);
    });
  });
}

void adadelta_step(Tensor& p, const Tensor& g, Tensor& square_avg, Tensor& acc_delta,
                   const cpu::AdadeltaParams& o) {
  const char* op = "adadelta_step";
  check_param(p, g, op);
  check_state(p, square_avg, "square_avg", op);
  check_state(p, acc_delta, "acc_delta", op);
  with_contiguous(p, g, [&](auto* pp, const auto* pg) {
    using T = std::remove_pointer_t<decltype(pp)>;
    T *sq = square_avg.data<T>(), *acc = acc_delta.data<T>();
    auto fn = cpu::typed<T>().adadelta_step;
    for_chunks(p.numel(), [&](int64_t s, int64_t n) { fn(pp + s, pg + s, sq + s, acc + s, n, o); });
  });
}

}  // namespace pydl
