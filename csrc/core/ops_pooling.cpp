// Pooling op layer: max_pool2d / avg_pool2d / adaptive_{avg,max}_pool2d and
// their backwards, on [N, C, H, W] or unbatched [C, H, W] inputs.
//
// Every argument is checked here, in PyTorch's order and with its messages
// (aten/src/ATen/native/Pool.h: pooling_output_shape, pool2d_shape_check), so
// the kernels (cpu/pooling.cpp) only ever see geometry they were promised:
// positive kernel/stride/dilation, 0 <= pad <= half the effective kernel, and
// an output of at least one element per plane. The input is made contiguous
// and seen as N*C planes of [H, W]; planes are split over OpenMP threads.
//
// Variants (pydl.kernels.variants("pooling")): "reference" runs the plain
// per-element kernels, "simd" (default) the row-vectorised ones, and sends
// adaptive pooling whose windows tile the input exactly (H % OH == 0 and
// W % OW == 0, e.g. global 1x1) to the fixed-window kernels / a row sum.
#include <omp.h>

#include <algorithm>
#include <atomic>

#include "core/iter.h"
#include "core/ops.h"

namespace pydl {

namespace {

std::atomic<int> g_variant{1};  // 0: reference, 1: simd
const char* const kVariantNames[] = {"reference", "simd"};

using cpu::Pool2dParams;

// One (H, W) plane geometry of a checked input.
struct PoolInput {
  Tensor x;          // contiguous
  int64_t planes = 0;
  Shape out_shape;   // input shape with the last two dims replaced
};

void check_float(const Tensor& x, const char* name) {
  check_cpu(x, name);
  PYDL_CHECK(is_floating(x.dtype), NotImplementedError, "\"", name, "\" not implemented for '",
             x.dtype == DType::Int64 ? "Long" : "Bool", "'");
}

// kernel_size / stride / padding / dilation as two ints (torch's tuple rules).
void pair_arg(const Shape& v, bool may_be_empty, const char* name, const char* what,
              const char* rule, int64_t* a, int64_t* b, int64_t dflt_a, int64_t dflt_b) {
  PYDL_CHECK(v.size() == 1 || v.size() == 2 || (may_be_empty && v.empty()), RuntimeError, name, ": ",
             what, rule);
  if (v.empty()) { *a = dflt_a; *b = dflt_b; return; }
  *a = v[0];
  *b = v.size() == 2 ? v[1] : v[0];
}

// torch's pooling_output_shape (with its argument checks).
int64_t output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  PYDL_CHECK(stride != 0, RuntimeError, "stride should not be zero");
  PYDL_CHECK(pad >= 0, RuntimeError, "pad must be non-negative, but got pad: ", pad);
  PYDL_CHECK(pad <= ((k - 1) * dil + 1) / 2, RuntimeError,
             "pad should be at most half of effective kernel size, but got pad=", pad,
             ", kernel_size=", k, " and dilation=", dil);
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // floor division (num may be negative)
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  // ceil_mode: the last window must start inside the input or the left padding
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Shape checks of pool2d_shape_check; fills p.OH/OW. `name` prefixes the tuple messages.
PoolInput check_pool2d(const Shape& shape, const char* name, const Shape& kernel, const Shape& stride,
                       const Shape& padding, const Shape& dilation, bool ceil_mode, Pool2dParams& p,
                       bool is_avg) {
  pair_arg(kernel, false, name, "kernel_size", " must either be a single int, or a tuple of two ints",
           &p.kh, &p.kw, 0, 0);
  pair_arg(stride, true, name, "stride", " must either be omitted, a single int, or a tuple of two ints",
           &p.sh, &p.sw, p.kh, p.kw);
  pair_arg(padding, false, name, "padding", " must either be a single int, or a tuple of two ints",
           &p.ph, &p.pw, 0, 0);
  if (!is_avg)
    pair_arg(dilation, false, name, "dilation", " must be either a single int, or a tuple of two ints",
             &p.dh, &p.dw, 1, 1);
  const int64_t nd = (int64_t)shape.size();
  if (is_avg && nd < 3)
    throw IndexError(str("Dimension out of range (expected to be in range of [", -std::max<int64_t>(nd, 1),
                         ", ", std::max<int64_t>(nd, 1) - 1, "], but got -3)"));
  PYDL_CHECK(is_avg || nd == 3 || nd == 4, RuntimeError,
             "non-empty 3D or 4D (batch mode) tensor expected for input");
  PYDL_CHECK(p.sh != 0 && p.sw != 0, RuntimeError, "stride should not be zero");
  PYDL_CHECK(p.kh > 0 && p.kw > 0, RuntimeError, "kernel size should be greater than zero, but got kH: ",
             p.kh, " kW: ", p.kw);
  PYDL_CHECK(p.sh > 0 && p.sw > 0, RuntimeError, "stride should be greater than zero, but got dH: ", p.sh,
             " dW: ", p.sw);
  PYDL_CHECK(p.dh > 0 && p.dw > 0, RuntimeError, "dilation should be greater than zero, but got dilationH: ",
             p.dh, " dilationW: ", p.dw);
  bool ok_dims = nd == 3 || nd == 4;
  for (int64_t d = nd == 4 ? 1 : 0; ok_dims && d < nd; ++d) ok_dims = shape[d] != 0;
  PYDL_CHECK(ok_dims, RuntimeError,
             "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:",
             shape_str(shape));
  p.H = shape[nd - 2];
  p.W = shape[nd - 1];
  p.OH = output_size(p.H, p.kh, p.ph, p.sh, p.dh, ceil_mode);
  p.OW = output_size(p.W, p.kw, p.pw, p.sw, p.dw, ceil_mode);
  PYDL_CHECK(p.kw / 2 >= p.pw && p.kh / 2 >= p.ph, RuntimeError,
             "pad should be smaller than or equal to half of kernel size, but got padW = ", p.pw,
             ", padH = ", p.ph, ", kW = ", p.kw, ", kH = ", p.kh);
  const int64_t C = shape[nd - 3];
  PYDL_CHECK(p.OH >= 1 && p.OW >= 1, RuntimeError, "Given input size: (", C, "x", p.H, "x", p.W,
             "). Calculated output size: (", C, "x", p.OH, "x", p.OW, "). Output size is too small");
  // The kernels track argmax offsets within a plane in int32 lanes.
  PYDL_CHECK(p.H * p.W < (int64_t(1) << 31), RuntimeError, name, ": an input plane of ", p.H, "x", p.W,
             " elements is larger than supported (2^31)");
  PoolInput in;  // in.x is left to the caller
  in.planes = nd == 4 ? shape[0] * C : C;
  in.out_shape = shape;
  in.out_shape[nd - 2] = p.OH;
  in.out_shape[nd - 1] = p.OW;
  return in;
}

// Runs f(c) for each plane c, over threads when the work is large.
template <class F>
void for_planes(int64_t planes, int64_t work_per_plane, F&& f) {
  const bool parallel = planes > 1 && planes * work_per_plane >= kParallelGrain && omp_get_max_threads() > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < planes; ++c) f(c);
}

template <class F>
void dispatch_float(DType t, F&& f) {
  if (t == DType::Float32) f(static_cast<float*>(nullptr));
  else f(static_cast<double*>(nullptr));
}

// Adaptive pooling geometry; windows tile exactly when the sizes divide.
PoolInput check_adaptive(const Tensor& x_in, const char* name, const Shape& output_size, Pool2dParams& p,
                         bool is_avg) {
  check_float(x_in, is_avg ? "adaptive_avg_pool2d" : "adaptive_max_pool2d");
  const int64_t nd = x_in.dim();
  if (is_avg) {
    PYDL_CHECK(output_size.size() == 2, RuntimeError, "adaptive_avg_pool2d: output_size must be 2");
    PYDL_CHECK(output_size[0] >= 0 && output_size[1] >= 0, RuntimeError,
               "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but "
               "received {", output_size[0], ", ", output_size[1], "}");
    PYDL_CHECK(nd == 3 || nd == 4, RuntimeError, name, "(): Expected 3D or 4D tensor, but got ",
               shape_str(x_in.shape));
  } else {
    PYDL_CHECK(nd == 3 || nd == 4, RuntimeError, name, "(): Expected 3D or 4D tensor, but got: ",
               shape_str(x_in.shape));
    PYDL_CHECK(output_size.size() == 2, RuntimeError,
               "adaptive_max_pool2d(): internal error: output_size.size() must be 2");
    PYDL_CHECK(output_size[0] >= 0 && output_size[1] >= 0, RuntimeError,
               "adaptive_max_pool2d(): elements of output_size must be greater than or equal to 0");
  }
  for (int64_t d = 1; d < nd; ++d)
    PYDL_CHECK(x_in.shape[d] > 0, RuntimeError, name,
               "(): Expected input to have non-zero size for non-batch dimensions, but input has sizes ",
               shape_str(x_in.shape), " with dimension ", d, " being empty");
  p.H = x_in.shape[nd - 2];
  p.W = x_in.shape[nd - 1];
  p.OH = output_size[0];
  p.OW = output_size[1];
  PoolInput in;
  in.x = contiguous(x_in);
  in.planes = nd == 4 ? x_in.shape[0] * x_in.shape[1] : x_in.shape[0];
  in.out_shape = x_in.shape;
  in.out_shape[nd - 2] = p.OH;
  in.out_shape[nd - 1] = p.OW;
  return in;
}

// Adaptive windows that tile the input are a plain pooling with kernel = stride.
bool tiles_exactly(const Pool2dParams& p) {
  return p.OH > 0 && p.OW > 0 && p.H % p.OH == 0 && p.W % p.OW == 0;
}
Pool2dParams as_fixed_window(Pool2dParams p) {
  p.kh = p.sh = p.H / p.OH;
  p.kw = p.sw = p.W / p.OW;
  return p;
}

void check_grad_shape(const Tensor& dy, const Shape& want, const char* name) {
  PYDL_CHECK(dy.shape == want, RuntimeError, name, ": grad_output has shape ", shape_str(dy.shape),
             ", expected ", shape_str(want));
}

}  // namespace

// Max pooling ---------------------------------------------------------------
Tensor max_pool2d(const Tensor& x_in, const Shape& kernel, const Shape& stride, const Shape& padding,
                  const Shape& dilation, bool ceil_mode, Tensor* indices) {
  Pool2dParams p;
  check_float(x_in, "max_pool2d");
  PoolInput in = check_pool2d(x_in.shape, "max_pool2d", kernel, stride, padding, dilation, ceil_mode, p, false);
  in.x = contiguous(x_in);
  Tensor y = empty(in.out_shape, in.x.dtype);
  Tensor idx;
  if (indices) idx = empty(in.out_shape, DType::Int64);
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  const int variant = g_variant.load();
  dispatch_float(in.x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    auto fn = variant == 0 ? k.max_pool2d_reference : k.max_pool2d;
    const T* x = in.x.data<T>();
    T* py = y.data<T>();
    int64_t* pi = indices ? idx.data<int64_t>() : nullptr;
    for_planes(in.planes, ip + op * p.kh * p.kw, [&](int64_t c) {
      fn(x + c * ip, 1, p, py + c * op, pi ? pi + c * op : nullptr);
    });
  });
  if (indices) *indices = idx;
  return y;
}

// dx of max pooling (and adaptive max pooling): dy scattered to the argmax positions.
Tensor max_pool2d_backward(const Tensor& dy_in, const Tensor& indices_in, const Shape& in_shape) {
  check_float(dy_in, "max_pool2d_backward");
  PYDL_CHECK(indices_in.dtype == DType::Int64 && indices_in.shape == dy_in.shape &&
                 (in_shape.size() == 3 || in_shape.size() == 4) && dy_in.dim() == (int64_t)in_shape.size(),
             RuntimeError, "max_pool2d_backward: grad_output ", shape_str(dy_in.shape), " and indices ",
             shape_str(indices_in.shape), " do not match the input ", shape_str(in_shape));
  const int64_t nd = (int64_t)in_shape.size();
  const int64_t ip = in_shape[nd - 2] * in_shape[nd - 1];
  const int64_t op = dy_in.shape[nd - 2] * dy_in.shape[nd - 1];
  const int64_t planes = nd == 4 ? in_shape[0] * in_shape[1] : in_shape[0];
  Tensor dy = contiguous(dy_in), idx = contiguous(indices_in);
  // Indices come from our own forward, but a user may pass any: check the range.
  const int64_t* pi = idx.data<int64_t>();
  for (int64_t i = 0, n = idx.numel(); i < n; ++i)
    PYDL_CHECK(pi[i] >= 0 && pi[i] < ip, RuntimeError, "max_pool2d_backward: index ", pi[i],
               " out of range for an input plane of ", ip, " elements");
  Tensor dx = empty(in_shape, dy.dtype);
  dispatch_float(dy.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    const T* g = dy.data<T>();
    T* d = dx.data<T>();
    for_planes(planes, ip + op, [&](int64_t c) {
      k.max_pool2d_backward(g + c * op, pi + c * op, 1, ip, op, d + c * ip);
    });
  });
  return dx;
}

// Average pooling -----------------------------------------------------------
namespace {
Pool2dParams avg_params(const Shape& shape, const Shape& kernel, const Shape& stride, const Shape& padding,
                        bool ceil_mode, bool count_include_pad, int64_t divisor_override,
                        bool has_divisor, PoolInput* in) {
  Pool2dParams p;
  p.count_include_pad = count_include_pad;
  PYDL_CHECK(!has_divisor || divisor_override != 0, RuntimeError, "divisor must be not zero");
  p.divisor_override = has_divisor ? divisor_override : 0;
  *in = check_pool2d(shape, "avg_pool2d", kernel, stride, padding, {1}, ceil_mode, p, true);
  return p;
}
}  // namespace

Tensor avg_pool2d(const Tensor& x_in, const Shape& kernel, const Shape& stride, const Shape& padding,
                  bool ceil_mode, bool count_include_pad, int64_t divisor_override, bool has_divisor) {
  check_float(x_in, "avg_pool2d");
  PoolInput in;
  Pool2dParams p = avg_params(x_in.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, has_divisor, &in);
  in.x = contiguous(x_in);
  Tensor y = empty(in.out_shape, in.x.dtype);
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  const int variant = g_variant.load();
  dispatch_float(in.x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    auto fn = variant == 0 ? k.avg_pool2d_reference : k.avg_pool2d;
    const T* x = in.x.data<T>();
    T* py = y.data<T>();
    for_planes(in.planes, ip + op * p.kh * p.kw, [&](int64_t c) { fn(x + c * ip, 1, p, py + c * op); });
  });
  return y;
}

Tensor avg_pool2d_backward(const Tensor& dy_in, const Shape& in_shape, const Shape& kernel,
                           const Shape& stride, const Shape& padding, bool ceil_mode,
                           bool count_include_pad, int64_t divisor_override, bool has_divisor) {
  check_float(dy_in, "avg_pool2d_backward");
  PoolInput in;
  Pool2dParams p = avg_params(in_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, has_divisor, &in);
  check_grad_shape(dy_in, in.out_shape, "avg_pool2d_backward");
  Tensor dy = contiguous(dy_in);
  Tensor dx = empty(in_shape, dy.dtype);
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  const int variant = g_variant.load();
  dispatch_float(dy.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    auto fn = variant == 0 ? k.avg_pool2d_backward_reference : k.avg_pool2d_backward;
    const T* g = dy.data<T>();
    T* d = dx.data<T>();
    for_planes(in.planes, ip + op * p.kh * p.kw, [&](int64_t c) { fn(g + c * op, 1, p, d + c * ip); });
  });
  return dx;
}

// Adaptive pooling ----------------------------------------------------------
Tensor adaptive_avg_pool2d(const Tensor& x_in, const Shape& output_size) {
  Pool2dParams p;
  PoolInput in = check_adaptive(x_in, "adaptive_avg_pool2d", output_size, p, true);
  Tensor y = empty(in.out_shape, in.x.dtype);
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  if (y.numel() == 0) return y;
  const bool fast = g_variant.load() == 1;
  dispatch_float(in.x.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    const T* x = in.x.data<T>();
    T* py = y.data<T>();
    if (fast && p.OH == 1 && p.OW == 1) {
      // Global average: a row sum per plane (lane-parallel, f32 accumulated in double).
      for_planes(in.planes, ip, [&](int64_t c) {
        k.reduce_rows(cpu::ReduceOp::Sum, x + c * ip, 1, ip, py + c, nullptr);
        py[c] = py[c] / T(p.H) / T(p.W);
      });
    } else if (fast && tiles_exactly(p)) {
      const Pool2dParams q = as_fixed_window(p);
      for_planes(in.planes, ip, [&](int64_t c) { k.avg_pool2d(x + c * ip, 1, q, py + c * op); });
    } else {
      for_planes(in.planes, ip, [&](int64_t c) { k.adaptive_avg_pool2d(x + c * ip, 1, p, py + c * op); });
    }
  });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& dy_in, const Shape& in_shape) {
  check_float(dy_in, "adaptive_avg_pool2d_backward");
  const int64_t nd = (int64_t)in_shape.size();
  PYDL_CHECK((nd == 3 || nd == 4) && dy_in.dim() == nd, RuntimeError,
             "adaptive_avg_pool2d_backward: grad_output ", shape_str(dy_in.shape), " does not match the input ",
             shape_str(in_shape));
  for (int64_t d = 0; d < nd - 2; ++d)
    PYDL_CHECK(dy_in.shape[d] == in_shape[d], RuntimeError, "adaptive_avg_pool2d_backward: grad_output ",
               shape_str(dy_in.shape), " does not match the input ", shape_str(in_shape));
  Pool2dParams p;
  p.H = in_shape[nd - 2];
  p.W = in_shape[nd - 1];
  p.OH = dy_in.shape[nd - 2];
  p.OW = dy_in.shape[nd - 1];
  Tensor dx = full(in_shape, 0.0, dy_in.dtype);
  if (dy_in.numel() == 0 || dx.numel() == 0) return dx;
  const int64_t planes = nd == 4 ? in_shape[0] * in_shape[1] : in_shape[0];
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  Tensor dy = contiguous(dy_in);
  const bool fast = g_variant.load() == 1;
  dispatch_float(dy.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    const auto& k = cpu::typed<T>();
    const T* g = dy.data<T>();
    T* d = dx.data<T>();
    if (fast && tiles_exactly(p)) {
      Pool2dParams q = as_fixed_window(p);
      q.divisor_override = q.kh * q.kw;
      for_planes(planes, ip, [&](int64_t c) { k.avg_pool2d_backward(g + c * op, 1, q, d + c * ip); });
    } else {
      for_planes(planes, ip, [&](int64_t c) { k.adaptive_avg_pool2d_backward(g + c * op, 1, p, d + c * ip); });
    }
  });
  return dx;
}

Tensor adaptive_max_pool2d(const Tensor& x_in, const Shape& output_size, Tensor* indices) {
  Pool2dParams p;
  PoolInput in = check_adaptive(x_in, "adaptive_max_pool2d", output_size, p, false);
  Tensor y = empty(in.out_shape, in.x.dtype);
  Tensor idx = empty(in.out_shape, DType::Int64);
  const int64_t ip = p.H * p.W, op = p.OH * p.OW;
  if (y.numel() > 0) {
    const bool fast = g_variant.load() == 1;
    dispatch_float(in.x.dtype, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      const auto& k = cpu::typed<T>();
      const T* x = in.x.data<T>();
      T* py = y.data<T>();
      int64_t* pi = idx.data<int64_t>();
      if (fast && tiles_exactly(p)) {
        const Pool2dParams q = as_fixed_window(p);
        for_planes(in.planes, ip, [&](int64_t c) { k.max_pool2d(x + c * ip, 1, q, py + c * op, pi + c * op); });
      } else {
        for_planes(in.planes, ip, [&](int64_t c) {
          k.adaptive_max_pool2d(x + c * ip, 1, p, py + c * op, pi + c * op);
        });
      }
    });
  }
  if (indices) *indices = idx;
  return y;
}

std::vector<std::string> pool_variants(DType) { return {kVariantNames[0], kVariantNames[1]}; }

void set_pool_variant(const std::string& name) {
  if (name.empty()) { g_variant = 1; return; }
  for (int i = 0; i < 2; ++i)
    if (name == kVariantNames[i]) { g_variant = i; return; }
  throw ValueError(str("unknown pooling variant '", name, "'; variants: reference, simd"));
}

std::string pool_variant() { return kVariantNames[g_variant.load()]; }

}  // namespace pydl
