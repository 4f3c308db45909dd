// Elementwise kernels: unary maps, their gradients, binary ops, comparisons
// and where, for float32 / float64 / int64 / bool.
//
// Compiled once per ISA (see kernels.h): the loops are plain C++ under
// `#pragma omp simd`, and the transcendental functions come from vmath.h,
// written branch-free so that the same source vectorises to 16 floats per
// instruction under AVX-512, 8 under AVX2, and 4 with baseline SSE2.
//
// Each kernel handles one contiguous run; binary ops get a stride per
// operand so broadcasting (stride 0) needs no copy. The op layer
// (core/ops_elementwise.cpp) validates arguments and splits work over threads.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/vmath.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {

namespace vm = ::pydl::vmath;

// ---------------------------------------------------------------------------
// Loop shapes
// ---------------------------------------------------------------------------
template <class T, class U, class F>
static inline void map1(const T* x, U* y, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T, class U, class F>
static inline void map2(const T* a, int64_t sa, const T* b, int64_t sb, U* o, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const T bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const T av = *a;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i * sa], b[i * sb]);
  }
}

// Gradient loops read dy plus x and/or y.
template <class T, class F>
static inline void grad_x(const T* dy, const T* x, T* dx, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = f(dy[i], x[i]);
}

// ---------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------
// SELU constants (Klambauer et al. 2017), as in PyTorch.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt1_2 = 0.70710678118654752440;      // 1/sqrt(2)
constexpr double kSqrt2_Pi = 0.79788456080286535588;     // sqrt(2/pi)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1/sqrt(2*pi)
constexpr double kGeluKappa = 0.044715;

template <class T>
static void unary_float(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) {
  const T p0 = static_cast<T>(p.p0), p1 = static_cast<T>(p.p1);
  switch (op) {
    case UnaryOp::Neg: map1(x, y, n, [](T v) { return -v; }); break;
    case UnaryOp::Exp: map1(x, y, n, [](T v) { return vm::exp(v); }); break;
    case UnaryOp::Log: map1(x, y, n, [](T v) { return vm::log(v); }); break;
    case UnaryOp::Sqrt: map1(x, y, n, [](T v) { return std::sqrt(v); }); break;
    case UnaryOp::Rsqrt: map1(x, y, n, [](T v) { return T(1) / std::sqrt(v); }); break;
    case UnaryOp::Abs: map1(x, y, n, [](T v) { return std::fabs(v); }); break;
    case UnaryOp::Sign:  // sign(nan) = nan? PyTorch gives 0 for nan: (0 < v) - (v < 0)
      map1(x, y, n, [](T v) { return static_cast<T>((T(0) < v) - (v < T(0))); });
      break;
    case UnaryOp::Square: map1(x, y, n, [](T v) { return v * v; }); break;
    case UnaryOp::Reciprocal: map1(x, y, n, [](T v) { return T(1) / v; }); break;
    case UnaryOp::Sin: for (int64_t i = 0; i < n; ++i) y[i] = std::sin(x[i]); break;
    case UnaryOp::Cos: for (int64_t i = 0; i < n; ++i) y[i] = std::cos(x[i]); break;
    case UnaryOp::Log1p: map1(x, y, n, [](T v) { return vm::log1p(v); }); break;
    case UnaryOp::Expm1: map1(x, y, n, [](T v) { return vm::expm1(v); }); break;
    case UnaryOp::Sigmoid: map1(x, y, n, [](T v) { return vm::sigmoid(v); }); break;
    case UnaryOp::Tanh: map1(x, y, n, [](T v) { return vm::tanh(v); }); break;
    // x < 0 ? 0 : x keeps NaN (PyTorch's relu propagates it).
    case UnaryOp::Relu: map1(x, y, n, [](T v) { return v < T(0) ? T(0) : v; }); break;
    case UnaryOp::LeakyRelu: map1(x, y, n, [=](T v) { return v > T(0) ? v : v * p0; }); break;
    case UnaryOp::Elu:
      map1(x, y, n, [=](T v) { return v > T(0) ? v : p0 * vm::expm1(v); });
      break;
    case UnaryOp::Selu:
      map1(x, y, n, [](T v) {
        return T(kSeluScale) * (v > T(0) ? v : T(kSeluAlpha) * vm::expm1(v));
      });
      break;
    case UnaryOp::GeluErf:
      map1(x, y, n, [](T v) { return T(0.5) * v * (T(1) + vm::erf(v * T(kSqrt1_2))); });
      break;
    case UnaryOp::GeluTanh:
      map1(x, y, n, [](T v) {
        T inner = T(kSqrt2_Pi) * (v + T(kGeluKappa) * v * v * v);
        return T(0.5) * v * (T(1) + vm::tanh(inner));
      });
      break;
    case UnaryOp::Silu: map1(x, y, n, [](T v) { return v * vm::sigmoid(v); }); break;
    case UnaryOp::Softplus:  // p0 = beta, p1 = threshold
      map1(x, y, n, [=](T v) {
        T z = v * p0;
        return z > p1 ? v : vm::log1p(vm::exp(z)) / p0;
      });
      break;
    case UnaryOp::Clamp:  // NaN passes through both comparisons
      map1(x, y, n, [=](T v) {
        T t = v < p0 ? p0 : v;
        return t > p1 ? p1 : t;
      });
      break;
    case UnaryOp::ClampMin: map1(x, y, n, [=](T v) { return v < p0 ? p0 : v; }); break;
    case UnaryOp::ClampMax: map1(x, y, n, [=](T v) { return v > p0 ? p0 : v; }); break;
    case UnaryOp::Floor: map1(x, y, n, [](T v) { return std::floor(v); }); break;
    case UnaryOp::Ceil: map1(x, y, n, [](T v) { return std::ceil(v); }); break;
    case UnaryOp::Round: map1(x, y, n, [](T v) { return std::nearbyint(v); }); break;  // half to even
    case UnaryOp::Trunc: map1(x, y, n, [](T v) { return std::trunc(v); }); break;
    case UnaryOp::PowScalar:
      if (p.p0 == 2) map1(x, y, n, [](T v) { return v * v; });
      else if (p.p0 == 1) map1(x, y, n, [](T v) { return v; });
      else if (p.p0 == 0.5) map1(x, y, n, [](T v) { return std::sqrt(v); });
      else if (p.p0 == -1) map1(x, y, n, [](T v) { return T(1) / v; });
      else if (p.p0 == 3) map1(x, y, n, [](T v) { return v * v * v; });
      else for (int64_t i = 0; i < n; ++i) y[i] = std::pow(x[i], p0);
      break;
    case UnaryOp::RPowScalar:
      for (int64_t i = 0; i < n; ++i) y[i] = std::pow(p0, x[i]);
      break;
    default: break;  // the op layer never sends an unknown op
  }
}

// Integer and bool tensors support the ops that keep their type.
template <class T>
static void unary_int(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) {
  if constexpr (std::is_same_v<T, int64_t>) {
    const int64_t lo = static_cast<int64_t>(p.p0), hi = static_cast<int64_t>(p.p1);
    switch (op) {
      case UnaryOp::Neg: map1(x, y, n, [](T v) { return -v; }); break;
      case UnaryOp::Abs: map1(x, y, n, [](T v) { return v < 0 ? -v : v; }); break;
      case UnaryOp::Sign: map1(x, y, n, [](T v) { return static_cast<T>((0 < v) - (v < 0)); }); break;
      case UnaryOp::Square: map1(x, y, n, [](T v) { return v * v; }); break;
      case UnaryOp::Relu: map1(x, y, n, [](T v) { return v < 0 ? T(0) : v; }); break;
      case UnaryOp::Clamp:
        map1(x, y, n, [=](T v) { T t = v < lo ? lo : v; return t > hi ? hi : t; });
        break;
      case UnaryOp::ClampMin: map1(x, y, n, [=](T v) { return v < lo ? lo : v; }); break;
      case UnaryOp::ClampMax: map1(x, y, n, [=](T v) { return v > lo ? lo : v; }); break;
      case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
        map1(x, y, n, [](T v) { return v; });
        break;
      default: break;
    }
  } else {
    (void)p;
    if (op == UnaryOp::Abs || op == UnaryOp::Floor || op == UnaryOp::Ceil ||
        op == UnaryOp::Round || op == UnaryOp::Trunc)
      map1(x, y, n, [](T v) { return v; });
  }
}

// ---------------------------------------------------------------------------
// Unary gradients: dx = dy * f'(x)
// ---------------------------------------------------------------------------
template <class T>
static void unary_grad_float(UnaryGradOp op, const T* dy, const T* x, const T* y, T* dx,
                             int64_t n, UnaryParams p) {
  const T p0 = static_cast<T>(p.p0), p1 = static_cast<T>(p.p1);
  switch (op) {
    case UnaryGradOp::Exp: grad_x(dy, y, dx, n, [](T g, T e) { return g * e; }); break;
    case UnaryGradOp::Log: grad_x(dy, x, dx, n, [](T g, T v) { return g / v; }); break;
    case UnaryGradOp::Sqrt: grad_x(dy, y, dx, n, [](T g, T r) { return g / (T(2) * r); }); break;
    case UnaryGradOp::Rsqrt:
      grad_x(dy, y, dx, n, [](T g, T r) { return T(-0.5) * g * r * r * r; });
      break;
    case UnaryGradOp::Abs:
      grad_x(dy, x, dx, n, [](T g, T v) { return g * static_cast<T>((T(0) < v) - (v < T(0))); });
      break;
    case UnaryGradOp::Reciprocal: grad_x(dy, y, dx, n, [](T g, T r) { return -g * r * r; }); break;
    case UnaryGradOp::Sin: for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * std::cos(x[i]); break;
    case UnaryGradOp::Cos: for (int64_t i = 0; i < n; ++i) dx[i] = -dy[i] * std::sin(x[i]); break;
    case UnaryGradOp::Log1p: grad_x(dy, x, dx, n, [](T g, T v) { return g / (T(1) + v); }); break;
    case UnaryGradOp::Expm1: grad_x(dy, y, dx, n, [](T g, T e) { return g * (e + T(1)); }); break;
    case UnaryGradOp::Sigmoid:
      grad_x(dy, y, dx, n, [](T g, T s) { return g * (T(1) - s) * s; });
      break;
    case UnaryGradOp::Tanh: grad_x(dy, y, dx, n, [](T g, T t) { return g * (T(1) - t * t); }); break;
    // PyTorch's threshold_backward on the result: gradient where y > 0.
    case UnaryGradOp::Relu: grad_x(dy, y, dx, n, [](T g, T r) { return r > T(0) ? g : T(0); }); break;
    case UnaryGradOp::LeakyRelu:
      grad_x(dy, x, dx, n, [=](T g, T v) { return v > T(0) ? g : g * p0; });
      break;
    case UnaryGradOp::Elu:
      grad_x(dy, x, dx, n, [=](T g, T v) { return v > T(0) ? g : g * p0 * vm::exp(v); });
      break;
    case UnaryGradOp::Selu:
      grad_x(dy, x, dx, n, [](T g, T v) {
        return v > T(0) ? g * T(kSeluScale) : g * T(kSeluScale * kSeluAlpha) * vm::exp(v);
      });
      break;
    case UnaryGradOp::GeluErf:
      grad_x(dy, x, dx, n, [](T g, T v) {
        T cdf = T(0.5) * (T(1) + vm::erf(v * T(kSqrt1_2)));
        T pdf = T(kInvSqrt2Pi) * vm::exp(T(-0.5) * v * v);
        return g * (cdf + v * pdf);
      });
      break;
    case UnaryGradOp::GeluTanh:
      grad_x(dy, x, dx, n, [](T g, T v) {
        T v2 = v * v;
        T inner = T(kSqrt2_Pi) * (v + T(kGeluKappa) * v2 * v);
        T t = vm::tanh(inner);
        T left = T(0.5) * v, right = T(1) + t;
        T d_inner = T(kSqrt2_Pi) * (T(1) + T(3 * kGeluKappa) * v2);
        return g * (T(0.5) * right + left * (T(1) - t * t) * d_inner);
      });
      break;
    case UnaryGradOp::Silu:
      grad_x(dy, x, dx, n, [](T g, T v) {
        T s = vm::sigmoid(v);
        return g * s * (T(1) + v * (T(1) - s));
      });
      break;
    case UnaryGradOp::Softplus:  // p0 = beta, p1 = threshold
      grad_x(dy, x, dx, n, [=](T g, T v) {
        T z = vm::exp(v * p0);
        return v * p0 > p1 ? g : g * z / (z + T(1));
      });
      break;
    case UnaryGradOp::Clamp:  // p0 = min, p1 = max (±inf when absent)
      grad_x(dy, x, dx, n, [=](T g, T v) { return (v >= p0 && v <= p1) ? g : T(0); });
      break;
    case UnaryGradOp::PowScalar:
      if (p.p0 == 0) {
        for (int64_t i = 0; i < n; ++i) dx[i] = T(0);
      } else if (p.p0 == 2) {
        grad_x(dy, x, dx, n, [](T g, T v) { return g * T(2) * v; });
      } else {
        for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * p0 * std::pow(x[i], p0 - T(1));
      }
      break;
    case UnaryGradOp::RPowScalar: {  // d/dx base**x = base**x * log(base)
      const T lb = std::log(p0);
      if (p.p0 == 0) {
        for (int64_t i = 0; i < n; ++i) dx[i] = x[i] >= T(0) ? T(0) : dy[i] * y[i] * lb;
      } else {
        for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * lb;
      }
      break;
    }
    default: break;
  }
}

// ---------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------
// max/min that propagate NaN, as PyTorch's maximum/minimum do.
template <class T> static inline T nan_max(T a, T b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
template <class T> static inline T nan_min(T a, T b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }

template <class T>
static void binary_float(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* o, int64_t n) {
  switch (op) {
    case BinaryOp::Add: map2(a, sa, b, sb, o, n, [](T x, T y) { return x + y; }); break;
    case BinaryOp::Sub: map2(a, sa, b, sb, o, n, [](T x, T y) { return x - y; }); break;
    case BinaryOp::Mul: map2(a, sa, b, sb, o, n, [](T x, T y) { return x * y; }); break;
    case BinaryOp::Div: map2(a, sa, b, sb, o, n, [](T x, T y) { return x / y; }); break;
    case BinaryOp::Pow:
      for (int64_t i = 0; i < n; ++i) o[i] = std::pow(a[i * sa], b[i * sb]);
      break;
    case BinaryOp::Maximum: map2(a, sa, b, sb, o, n, [](T x, T y) { return nan_max(x, y); }); break;
    case BinaryOp::Minimum: map2(a, sa, b, sb, o, n, [](T x, T y) { return nan_min(x, y); }); break;
    case BinaryOp::Atan2:
      for (int64_t i = 0; i < n; ++i) o[i] = std::atan2(a[i * sa], b[i * sb]);
      break;
    case BinaryOp::Remainder:  // Python's %: the result takes the divisor's sign
      map2(a, sa, b, sb, o, n, [](T x, T y) {
        T r = std::fmod(x, y);
        return (r != T(0) && ((r < T(0)) != (y < T(0)))) ? r + y : r;
      });
      break;
    case BinaryOp::FloorDiv: map2(a, sa, b, sb, o, n, [](T x, T y) { return std::floor(x / y); }); break;
    default: break;
  }
}

template <class T>
static void binary_int(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* o, int64_t n) {
  if constexpr (std::is_same_v<T, int64_t>) {
    switch (op) {
      case BinaryOp::Add: map2(a, sa, b, sb, o, n, [](T x, T y) { return x + y; }); break;
      case BinaryOp::Sub: map2(a, sa, b, sb, o, n, [](T x, T y) { return x - y; }); break;
      case BinaryOp::Mul: map2(a, sa, b, sb, o, n, [](T x, T y) { return x * y; }); break;
      case BinaryOp::Maximum: map2(a, sa, b, sb, o, n, [](T x, T y) { return x > y ? x : y; }); break;
      case BinaryOp::Minimum: map2(a, sa, b, sb, o, n, [](T x, T y) { return x < y ? x : y; }); break;
      case BinaryOp::Pow:  // exponent >= 0 is checked by the op layer
        for (int64_t i = 0; i < n; ++i) {
          int64_t base = a[i * sa], e = b[i * sb], r = 1;
          while (e > 0) {
            if (e & 1) r *= base;
            base *= base;
            e >>= 1;
          }
          o[i] = r;
        }
        break;
      case BinaryOp::Remainder:  // divisor != 0 is checked by the op layer
        for (int64_t i = 0; i < n; ++i) {
          int64_t x = a[i * sa], y = b[i * sb], r = x % y;
          o[i] = (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
        }
        break;
      case BinaryOp::FloorDiv:
        for (int64_t i = 0; i < n; ++i) {
          int64_t x = a[i * sa], y = b[i * sb], q = x / y;
          o[i] = (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
        }
        break;
      default: break;
    }
  } else {  // bool: add is or, mul is and, as in PyTorch
    switch (op) {
      case BinaryOp::Add: case BinaryOp::LogicalOr: case BinaryOp::Maximum:
        map2(a, sa, b, sb, o, n, [](T x, T y) { return x || y; });
        break;
      case BinaryOp::Mul: case BinaryOp::LogicalAnd: case BinaryOp::Minimum:
        map2(a, sa, b, sb, o, n, [](T x, T y) { return x && y; });
        break;
      case BinaryOp::LogicalXor: map2(a, sa, b, sb, o, n, [](T x, T y) { return x != y; }); break;
      default: break;
    }
  }
}

template <class T>
static void binary(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* o, int64_t n) {
  if constexpr (std::is_floating_point_v<T>) binary_float(op, a, sa, b, sb, o, n);
  else binary_int(op, a, sa, b, sb, o, n);
}

template <class T>
static void compare(CompareOp op, const T* a, int64_t sa, const T* b, int64_t sb, bool* o, int64_t n) {
  switch (op) {
    case CompareOp::Eq: map2(a, sa, b, sb, o, n, [](T x, T y) { return x == y; }); break;
    case CompareOp::Ne: map2(a, sa, b, sb, o, n, [](T x, T y) { return x != y; }); break;
    case CompareOp::Lt: map2(a, sa, b, sb, o, n, [](T x, T y) { return x < y; }); break;
    case CompareOp::Le: map2(a, sa, b, sb, o, n, [](T x, T y) { return x <= y; }); break;
    case CompareOp::Gt: map2(a, sa, b, sb, o, n, [](T x, T y) { return x > y; }); break;
    case CompareOp::Ge: map2(a, sa, b, sb, o, n, [](T x, T y) { return x >= y; }); break;
    default: break;
  }
}

template <class T>
static void where(const bool* c, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb, T* o,
                  int64_t n) {
  if (sc == 1 && sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? a[i] : b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = c[i * sc] ? a[i * sa] : b[i * sb];
  }
}

template <class T>
static void unary(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) {
  if constexpr (std::is_floating_point_v<T>) unary_float(op, x, y, n, p);
  else unary_int(op, x, y, n, p);
}

template <class T>
static void unary_grad(UnaryGradOp op, const T* dy, const T* x, const T* y, T* dx, int64_t n,
                       UnaryParams p) {
  if constexpr (std::is_floating_point_v<T>) unary_grad_float(op, dy, x, y, dx, n, p);
}

template <class T>
static void fill_typed(TypedKernels<T>& k) {
  k.unary = &unary<T>;
  k.unary_grad = &unary_grad<T>;
  k.binary = &binary<T>;
  k.compare = &compare<T>;
  k.where = &where<T>;
}

void fill_elementwise(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
  fill_typed(k.i64);
  fill_typed(k.b8);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
