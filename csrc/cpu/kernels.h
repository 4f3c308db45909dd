// The CPU kernel table: every SIMD kernel pydl has, as function pointers.
//
// The kernel sources (elementwise.cpp, reduce.cpp, matmul.cpp) are compiled
// once per instruction set (scalar, AVX2+FMA, AVX-512) into namespaces
// pydl::cpu::<isa>; each copy fills a CpuKernels table. dispatch.cpp reads
// cpuid once and hands out the best table (PYDL_ISA=scalar|avx2|avx512
// overrides it, for tests and benchmarks).
//
// Kernels are single-threaded inner loops over contiguous runs; the op layer
// (csrc/core/ops_*.cpp) checks arguments, handles broadcasting and strides,
// and splits the work over OpenMP threads. The exception is GEMM, whose
// blocking decides its own parallel split.
#pragma once
#include <cstdint>

namespace pydl {
namespace cpu {

// y = f(x); p0/p1 are the op's parameters (slope, alpha, clamp bounds).
enum class UnaryOp : int {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Square, Reciprocal, Sin, Cos, Log1p, Expm1,
  Sigmoid, Tanh, Relu, LeakyRelu, Elu, Selu, GeluErf, GeluTanh, Silu, Softplus,
  Clamp, ClampMin, ClampMax, Floor, Ceil, Round, Trunc,
  PowScalar,    // x ** p0
  RPowScalar,   // p0 ** x
  Count
};

// dx = dy * f'(x): each op reads x and/or y = f(x), whichever is cheaper.
enum class UnaryGradOp : int {
  Exp /*y*/, Log /*x*/, Sqrt /*y*/, Rsqrt /*y*/, Abs /*x*/, Reciprocal /*y*/, Sin, Cos,
  Log1p, Expm1 /*y*/, Sigmoid /*y*/, Tanh /*y*/, Relu /*y*/, LeakyRelu /*x*/, Elu /*x,y*/,
  Selu /*x,y*/, GeluErf /*x*/, GeluTanh /*x*/, Silu /*x*/, Softplus /*x*/,
  Clamp /*x*/, PowScalar /*x*/, RPowScalar /*y*/,
  Count
};

enum class BinaryOp : int {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum, Atan2, Remainder, FloorDiv,
  LogicalAnd, LogicalOr, LogicalXor,
  Count
};

enum class CompareOp : int { Eq, Ne, Lt, Le, Gt, Ge, Count };

enum class ReduceOp : int { Sum, Max, Min, Prod, Count };

struct UnaryParams { double p0 = 0, p1 = 0; };

template <class T>
struct TypedKernels {
  // y[i] = f(x[i]), i < n
  void (*unary)(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) = nullptr;
  // dx[i] = dy[i] * f'(x[i]) (x or y may be null when the op does not read it)
  void (*unary_grad)(UnaryGradOp op, const T* dy, const T* x, const T* y, T* dx, int64_t n,
                     UnaryParams p) = nullptr;
  // out[i] = a[i*sa] (op) b[i*sb], sa, sb in {0, 1} or any stride
  void (*binary)(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out,
                 int64_t n) = nullptr;
  void (*compare)(CompareOp op, const T* a, int64_t sa, const T* b, int64_t sb, bool* out,
                  int64_t n) = nullptr;
  // out[i] = c[i*sc] ? a[i*sa] : b[i*sb]
  void (*where)(const bool* c, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb,
                T* out, int64_t n) = nullptr;
  // Reduction of `rows` contiguous rows of length R: out[r] = reduce(x[r*R .. r*R+R)).
  // For Max/Min, idx (may be null) receives the position of the first extreme
  // (NaN wins, as in PyTorch).
  void (*reduce_rows)(ReduceOp op, const T* x, int64_t rows, int64_t R, T* out,
                      int64_t* idx) = nullptr;
  // Column reduction of one [R, inner] block: out[j] = reduce_r x[r*inner + j].
  void (*reduce_cols)(ReduceOp op, const T* x, int64_t R, int64_t inner, T* out,
                      int64_t* idx) = nullptr;
  // Sum of squared deviations from mean[.]: the second pass of a two-pass
  // variance (numerically safe where E[x^2]-E[x]^2 cancels).
  void (*sq_dev_rows)(const T* x, int64_t rows, int64_t R, const T* mean, T* out) = nullptr;
  void (*sq_dev_cols)(const T* x, int64_t R, int64_t inner, const T* mean, T* out) = nullptr;
};

// C[M,N] = alpha * A[M,K] @ B[K,N] + beta * C. A and B are strided (rs = row
// stride, cs = column stride, in elements), so transposed operands need no
// copy; C is row-major with leading dimension ldc.
template <class T>
using GemmFn = void (*)(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t rsA,
                        int64_t csA, const T* B, int64_t rsB, int64_t csB, T beta, T* C,
                        int64_t ldc);

constexpr int kMaxGemmVariants = 8;
template <class T>
struct GemmVariants {
  int count = 0;
  const char* names[kMaxGemmVariants] = {};
  GemmFn<T> fns[kMaxGemmVariants] = {};
  void add(const char* name, GemmFn<T> fn) {
    if (count < kMaxGemmVariants) { names[count] = name; fns[count] = fn; ++count; }
  }
};

struct CpuKernels {
  const char* isa = "none";
  TypedKernels<float> f32;
  TypedKernels<double> f64;
  TypedKernels<int64_t> i64;
  TypedKernels<bool> b8;
  GemmVariants<float> gemm_f32;   // ordered from the reference to the fastest
  GemmVariants<double> gemm_f64;
};

// The table for the running CPU.
const CpuKernels& kernels();
// Names of the ISAs this build has and this CPU can run, best first.
const char* const* available_isas(int* count);
// Forces an ISA ("scalar", "avx2", "avx512"); throws ValueError if unavailable.
void set_isa(const char* name);

template <class T> const TypedKernels<T>& typed();
template <> inline const TypedKernels<float>& typed<float>() { return kernels().f32; }
template <> inline const TypedKernels<double>& typed<double>() { return kernels().f64; }
template <> inline const TypedKernels<int64_t>& typed<int64_t>() { return kernels().i64; }
template <> inline const TypedKernels<bool>& typed<bool>() { return kernels().b8; }

// Each ISA translation unit defines fill_<isa>(CpuKernels&) in its namespace.
namespace scalar { void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); }
namespace avx2 { void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); }
namespace avx512 { void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); }

}  // namespace cpu
}  // namespace pydl
