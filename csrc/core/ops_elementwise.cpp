// Elementwise op layer: checks, dtype promotion, broadcasting, threading.
#include <cmath>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {

namespace {

bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square:
    case UnaryOp::Relu: case UnaryOp::Clamp: case UnaryOp::ClampMin: case UnaryOp::ClampMax:
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
      return false;
    default:
      return true;
  }
}

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg", "exp", "log", "sqrt", "rsqrt", "abs", "sign", "square",
                                "reciprocal", "sin", "cos", "log1p", "expm1", "sigmoid", "tanh",
                                "relu", "leaky_relu", "elu", "selu", "gelu", "gelu", "silu",
                                "softplus", "clamp", "clamp_min", "clamp_max", "floor", "ceil",
                                "round", "trunc", "pow", "pow"};
  return names[static_cast<int>(op)];
}

// Runs a contiguous unary kernel over x (made contiguous) into out.
template <class T>
void run_unary(UnaryOp op, const Tensor& x, Tensor& out, cpu::UnaryParams p) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  auto L = make_loop<1>({x.numel()}, {Shape{1}});
  auto fn = cpu::typed<T>().unary;
  for_each_run(L, [&](const int64_t* off, int64_t n) { fn(op, px + off[0], po + off[0], n, p); });
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x_in, double p0, double p1) {
  check_cpu(x_in, unary_name(op));
  Tensor x = x_in;
  if (x.dtype == DType::Bool && (op == UnaryOp::Neg)) {
    throw RuntimeError(
        "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert"
        " a mask, use the `~` or `logical_not()` operator instead.");
  }
  if (float_only(op) && !is_floating(x.dtype)) x = to_dtype(x, DType::Float32);
  if (x.dtype == DType::Bool && op != UnaryOp::Abs && op != UnaryOp::Floor && op != UnaryOp::Ceil &&
      op != UnaryOp::Round && op != UnaryOp::Trunc)
    x = to_dtype(x, DType::Int64);
  x = contiguous(x);
  Tensor out = empty(x.shape, x.dtype);
  cpu::UnaryParams p{p0, p1};
  dispatch_dtype(x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    run_unary<T>(op, x, out, p);
  });
  return out;
}

void unary_(UnaryOp op, Tensor& x, double p0, double p1) {
  check_cpu(x, unary_name(op));
  PYDL_CHECK(!float_only(op) || is_floating(x.dtype), RuntimeError, "result type Float can't be cast",
             " to the desired output type ", dtype_name(x.dtype));
  Tensor r = unary(op, x, p0, p1);
  copy_(x, r);
}

Tensor unary_grad(UnaryGradOp op, const Tensor& dy_in, const Tensor& x_in, const Tensor& y_in,
                  double p0, double p1) {
  const Tensor& ref = x_in.storage ? x_in : y_in;
  PYDL_CHECK(ref.storage, ValueError, "unary_grad: needs x or y");
  PYDL_CHECK(dy_in.shape == ref.shape, RuntimeError, "unary_grad: gradient shape ",
             shape_str(dy_in.shape), " does not match ", shape_str(ref.shape));
  PYDL_CHECK(is_floating(ref.dtype), RuntimeError, "unary_grad: expected a floating tensor");
  PYDL_CHECK(!(x_in.storage && y_in.storage) || (x_in.shape == y_in.shape && x_in.dtype == y_in.dtype),
             RuntimeError, "unary_grad: x ", shape_str(x_in.shape), " and y ", shape_str(y_in.shape),
             " must match");
  Tensor dy = contiguous(dy_in.dtype == ref.dtype ? dy_in : to_dtype(dy_in, ref.dtype));
  Tensor x = x_in.storage ? contiguous(x_in) : Tensor();
  Tensor y = y_in.storage ? contiguous(y_in) : Tensor();
  Tensor out = empty(ref.shape, ref.dtype);
  cpu::UnaryParams p{p0, p1};
  dispatch_dtype(ref.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const T* pdy = dy.data<T>();
      const T* px = x.storage ? x.data<T>() : nullptr;
      const T* py = y.storage ? y.data<T>() : nullptr;
      T* po = out.data<T>();
      auto fn = cpu::typed<T>().unary_grad;
      auto L = make_loop<1>({out.numel()}, {Shape{1}});
      for_each_run(L, [&](const int64_t* off, int64_t n) {
        fn(op, pdy + off[0], px ? px + off[0] : nullptr, py ? py + off[0] : nullptr, po + off[0], n, p);
      });
    }
  });
  return out;
}

namespace {

const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2",
                                "remainder", "floor_divide", "logical_and", "logical_or",
                                "logical_xor"};
  return names[static_cast<int>(op)];
}

// The dtype an op computes in, PyTorch's rules: true division and the
// float-only functions promote integers to float32.
DType compute_dtype(BinaryOp op, DType a, DType b) {
  DType t = promote(a, b);
  if (op == BinaryOp::LogicalAnd || op == BinaryOp::LogicalOr || op == BinaryOp::LogicalXor)
    return DType::Bool;
  if ((op == BinaryOp::Div || op == BinaryOp::Atan2) && !is_floating(t)) return DType::Float32;
  if (t == DType::Bool && op != BinaryOp::Add && op != BinaryOp::Mul && op != BinaryOp::Maximum &&
      op != BinaryOp::Minimum)
    return DType::Int64;
  return t;
}

void check_binary_values(BinaryOp op, DType t, const Tensor& a, const Tensor& b) {
  if (op == BinaryOp::Sub && a.dtype == DType::Bool && b.dtype == DType::Bool)
    throw RuntimeError(
        "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or"
        " `logical_xor()` operator instead.");
  if (t != DType::Int64) return;
  if (op == BinaryOp::Remainder || op == BinaryOp::FloorDiv) {
    Tensor zb = compare(CompareOp::Eq, b, scalar_tensor(0, b.dtype));
    Tensor any = reduce(ReduceOp::Max, to_dtype(zb, DType::Int64), {}, false, nullptr, "any");
    PYDL_CHECK(any.numel() == 0 || *any.data<int64_t>() == 0, RuntimeError,
               "ZeroDivisionError");
  }
  if (op == BinaryOp::Pow) {
    Tensor neg = compare(CompareOp::Lt, b, scalar_tensor(0, b.dtype));
    Tensor any = reduce(ReduceOp::Max, to_dtype(neg, DType::Int64), {}, false, nullptr, "any");
    PYDL_CHECK(any.numel() == 0 || *any.data<int64_t>() == 0, RuntimeError,
               "Integers to negative integer powers are not allowed.");
  }
}

// out (contiguous, shape = broadcast) = f(a, b) with a, b already in dtype T.
template <class T, class U, class K>
void run_binary(const Tensor& a, const Tensor& b, Tensor& out, K kernel) {
  auto L = make_loop<3>(out.shape, {out.strides, broadcast_strides(a, out.shape),
                                    broadcast_strides(b, out.shape)});
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  U* po = out.data<U>();
  const int64_t so = L.inner_stride(0), sa = L.inner_stride(1), sb = L.inner_stride(2);
  for_each_run(L, [&](const int64_t* off, int64_t n) {
    if (so == 1) {
      kernel(pa + off[1], sa, pb + off[2], sb, po + off[0], n);
    } else {
      // Strided output (in-place on a view): compute into a small buffer.
      U buf[256];
      for (int64_t s = 0; s < n; s += 256) {
        int64_t m = std::min<int64_t>(256, n - s);
        kernel(pa + off[1] + s * sa, sa, pb + off[2] + s * sb, sb, buf, m);
        for (int64_t j = 0; j < m; ++j) po[off[0] + (s + j) * so] = buf[j];
      }
    }
  });
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  check_same_device(a_in, b_in, binary_name(op));
  check_cpu(a_in, binary_name(op));
  Shape shape = broadcast_shapes(a_in.shape, b_in.shape);
  DType t = compute_dtype(op, a_in.dtype, b_in.dtype);
  check_binary_values(op, t, a_in, b_in);
  Tensor a = a_in.dtype == t ? a_in : to_dtype(a_in, t);
  Tensor b = b_in.dtype == t ? b_in : to_dtype(b_in, t);
  Tensor out = empty(shape, t);
  dispatch_dtype(t, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    auto fn = cpu::typed<T>().binary;
    run_binary<T, T>(a, b, out, [&](const T* x, int64_t sx, const T* y, int64_t sy, T* o, int64_t n) {
      fn(op, x, sx, y, sy, o, n);
    });
  });
  return out;
}

void binary_(BinaryOp op, Tensor& a, const Tensor& b_in) {
  check_same_device(a, b_in, binary_name(op));
  check_cpu(a, binary_name(op));
  check_writable(a, binary_name(op));
  Shape shape = broadcast_shapes(a.shape, b_in.shape);
  PYDL_CHECK(shape == a.shape, RuntimeError, "output with shape ", shape_str(a.shape),
             " doesn't match the broadcast shape ", shape_str(shape));
  DType t = compute_dtype(op, a.dtype, b_in.dtype);
  PYDL_CHECK(promote(t, a.dtype) == a.dtype, RuntimeError, "result type ", dtype_name(t),
             " can't be cast to the desired output type ", dtype_name(a.dtype));
  // Computing into a fresh tensor first keeps a += a.T-style overlaps right.
  bool overlap = a.storage == b_in.storage;
  if (!overlap && t == a.dtype) {
    Tensor b = b_in.dtype == t ? b_in : to_dtype(b_in, t);
    dispatch_dtype(t, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      auto fn = cpu::typed<T>().binary;
      run_binary<T, T>(a, b, a, [&](const T* x, int64_t sx, const T* y, int64_t sy, T* o, int64_t n) {
        fn(op, x, sx, y, sy, o, n);
      });
    });
    return;
  }
  Tensor r = binary(op, a, b_in);
  copy_(a, r);
}

Tensor compare(CompareOp op, const Tensor& a_in, const Tensor& b_in) {
  check_same_device(a_in, b_in, "compare");
  check_cpu(a_in, "compare");
  Shape shape = broadcast_shapes(a_in.shape, b_in.shape);
  DType t = promote(a_in.dtype, b_in.dtype);
  Tensor a = a_in.dtype == t ? a_in : to_dtype(a_in, t);
  Tensor b = b_in.dtype == t ? b_in : to_dtype(b_in, t);
  Tensor out = empty(shape, DType::Bool);
  dispatch_dtype(t, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    auto fn = cpu::typed<T>().compare;
    run_binary<T, bool>(a, b, out,
                        [&](const T* x, int64_t sx, const T* y, int64_t sy, bool* o, int64_t n) {
                          fn(op, x, sx, y, sy, o, n);
                        });
  });
  return out;
}

Tensor where(const Tensor& c_in, const Tensor& a_in, const Tensor& b_in) {
  check_same_device(c_in, a_in, "where");
  check_same_device(a_in, b_in, "where");
  check_cpu(a_in, "where");
  PYDL_CHECK(c_in.dtype == DType::Bool, RuntimeError,
             "where expected condition to be a boolean tensor, but got a tensor with dtype ",
             dtype_name(c_in.dtype));
  Shape shape = broadcast_shapes(broadcast_shapes(c_in.shape, a_in.shape), b_in.shape);
  DType t = promote(a_in.dtype, b_in.dtype);
  Tensor a = a_in.dtype == t ? a_in : to_dtype(a_in, t);
  Tensor b = b_in.dtype == t ? b_in : to_dtype(b_in, t);
  Tensor out = empty(shape, t);
  auto L = make_loop<4>(shape, {out.strides, broadcast_strides(c_in, shape),
                                broadcast_strides(a, shape), broadcast_strides(b, shape)});
  dispatch_dtype(t, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    auto fn = cpu::typed<T>().where;
    const bool* pc = c_in.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    const int64_t sc = L.inner_stride(1), sa = L.inner_stride(2), sb = L.inner_stride(3);
    for_each_run(L, [&](const int64_t* off, int64_t n) {
      fn(pc + off[1], sc, pa + off[2], sa, pb + off[3], sb, po + off[0], n);
    });
  });
  return out;
}

Tensor logical_not(const Tensor& x) {
  return compare(CompareOp::Eq, x, scalar_tensor(0, x.dtype));
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, double value) {
  PYDL_CHECK(mask.dtype == DType::Bool, RuntimeError,
             "masked_fill_ only supports boolean masks, but got mask with dtype ",
             dtype_name(mask.dtype));
  Shape s = broadcast_shapes(t.shape, mask.shape);
  PYDL_CHECK(s == t.shape, RuntimeError, "The size of the mask ", shape_str(mask.shape),
             " must be broadcastable to the tensor ", shape_str(t.shape));
  return where(mask, scalar_tensor(value, t.dtype), t);
}

}  // namespace pydl
