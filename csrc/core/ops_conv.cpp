// conv2d op layer: torch.nn.functional.conv2d's argument checks (same exception types and,
// where reasonable, the same messages), output-size arithmetic, and the choice of kernel
// variant (cpu/conv2d.cpp). The kernels get contiguous NCHW tensors and a promise that every
// size is consistent.
#include <atomic>

#include "core/ops.h"

namespace pydl {

namespace {
std::atomic<int> g_conv_variant{-1};  // -1: auto (per shape)

template <class T>
const cpu::ConvVariants<T>& conv_table();
template <>
const cpu::ConvVariants<float>& conv_table<float>() { return cpu::kernels().conv_f32; }
template <>
const cpu::ConvVariants<double>& conv_table<double>() { return cpu::kernels().conv_f64; }

template <class T>
cpu::GemmFn<T> fastest_gemm();
template <>
cpu::GemmFn<float> fastest_gemm<float>() {
  const auto& t = cpu::kernels().gemm_f32;
  return t.fns[t.count - 1];
}
template <>
cpu::GemmFn<double> fastest_gemm<double>() {
  const auto& t = cpu::kernels().gemm_f64;
  return t.fns[t.count - 1];
}

int variant_index(const char* name) {
  const auto& t = cpu::kernels().conv_f32;
  for (int i = 0; i < t.count; ++i)
    if (std::string(name) == t.names[i]) return i;
  return -1;
}

// Auto, per shape:
//   depthwise-style groups (one input and one output channel each): direct, whose loops
//     vectorise along a row (a GEMM with M = 1 would waste its register tile);
//   3x3 / stride 1 / dilation 1 / groups 1 with at least kWinogradMinChannels input and output
//     channels: winograd (2.25x fewer multiplies; it also takes the gradients). Below that the
//     GEMMs over channels are too thin for the transforms to pay (a first RGB layer);
//   everything else: im2col + GEMM.
constexpr int64_t kWinogradMinChannels = 16;

template <class T>
const cpu::ConvFns<T>& pick_conv(const cpu::ConvShape& s) {
  const auto& t = conv_table<T>();
  int v = g_conv_variant.load();
  if (v < 0 || v >= t.count) {
    const char* name = "im2col";
    if (s.C == s.groups && s.OC == s.groups) {
      name = "direct";
    } else if (s.KH == 3 && s.KW == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 &&
               s.groups == 1 && s.C >= kWinogradMinChannels && s.OC >= kWinogradMinChannels) {
      name = "winograd";
    }
    v = variant_index(name);
    if (v < 0) v = t.count - 1;
  }
  return t.fns[v];
}

const char* torch_type_name(DType d) {
  switch (d) {
    case DType::Float32: return "torch.FloatTensor";
    case DType::Float64: return "torch.DoubleTensor";
    case DType::Int64: return "torch.LongTensor";
    case DType::Bool: default: return "torch.BoolTensor";
  }
}

std::string list_str(const Shape& v) { return shape_str(v); }

// Checks stride / padding / dilation / groups and the weight against the input (4-D, batched).
// padding: [top, bottom, left, right]. Returns the kernel shape description.
cpu::ConvShape make_shape(const Shape& in, const Shape& wt, const Shape& stride,
                          const Shape& padding, const Shape& dilation, int64_t groups) {
  PYDL_CHECK(groups > 0, RuntimeError, "non-positive groups is not supported");
  PYDL_CHECK(stride.size() == 2, RuntimeError,
             "expected stride to be a single integer value or a list of 2 values to match the "
             "convolution dimensions, but got stride=", list_str(stride));
  PYDL_CHECK(dilation.size() == 2, RuntimeError,
             "expected dilation to be a single integer value or a list of 2 values to match the "
             "convolution dimensions, but got dilation=", list_str(dilation));
  PYDL_CHECK(padding.size() == 4, RuntimeError,
             "expected padding to be a single integer value or a list of 2 values to match the "
             "convolution dimensions, but got padding=", list_str(padding));
  for (int64_t p : padding) PYDL_CHECK(p >= 0, RuntimeError, "negative padding is not supported");
  for (int64_t v : stride) PYDL_CHECK(v > 0, RuntimeError, "non-positive stride is not supported");
  for (int64_t v : dilation)
    PYDL_CHECK(v > 0, RuntimeError, "non-positive dilation is not supported");
  PYDL_CHECK(wt[0] % groups == 0, RuntimeError, "Given groups=", groups,
             ", expected weight to be divisible by ", groups,
             " at dimension 0, but got weight of size [", shape_str(wt), "] instead");
  PYDL_CHECK(in[1] == wt[1] * groups, RuntimeError, "Given groups=", groups, ", weight of size ",
             shape_str(wt), ", expected input", shape_str(in), " to have ", wt[1] * groups,
             " channels, but got ", in[1], " channels instead");
  cpu::ConvShape s;
  s.N = in[0]; s.C = in[1]; s.H = in[2]; s.W = in[3];
  s.OC = wt[0]; s.KH = wt[2]; s.KW = wt[3];
  s.sh = stride[0]; s.sw = stride[1];
  s.ph = padding[0]; s.pw = padding[2];
  s.dh = dilation[0]; s.dw = dilation[1];
  s.groups = groups;
  const int64_t Hp = s.H + padding[0] + padding[1], Wp = s.W + padding[2] + padding[3];
  const int64_t ekh = s.dh * (s.KH - 1) + 1, ekw = s.dw * (s.KW - 1) + 1;
  PYDL_CHECK(Hp >= ekh && Wp >= ekw, RuntimeError, "Calculated padded input size per channel: (",
             Hp, " x ", Wp, "). Kernel size: (", ekh, " x ", ekw,
             "). Kernel size can't be greater than actual input size");
  s.OH = (Hp - ekh) / s.sh + 1;
  s.OW = (Wp - ekw) / s.sw + 1;
  return s;
}

void check_float(const Tensor& t, const char* what) {
  PYDL_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, RuntimeError, "\"", what,
             "\" not implemented for '", dtype_name(t.dtype), "'");
}

void check_weight(const Tensor& w) {
  PYDL_CHECK(w.dim() == 4, RuntimeError,
             "Expected 4-dimensional weight for conv2d, but got ", w.dim(),
             "-dimensional weight of size ", shape_str(w.shape));
}
}  // namespace

std::vector<std::string> conv_variants(DType dtype) {
  std::vector<std::string> r;
  const auto& k = cpu::kernels();
  if (dtype == DType::Float64)
    for (int i = 0; i < k.conv_f64.count; ++i) r.push_back(k.conv_f64.names[i]);
  else
    for (int i = 0; i < k.conv_f32.count; ++i) r.push_back(k.conv_f32.names[i]);
  return r;
}

void set_conv_variant(const std::string& name) {
  if (name.empty() || name == "auto") { g_conv_variant = -1; return; }
  const int v = variant_index(name.c_str());
  if (v < 0) throw ValueError(str("unknown conv2d variant '", name, "'"));
  g_conv_variant = v;
}

std::string conv_variant() {
  const int v = g_conv_variant.load();
  const auto& t = cpu::kernels().conv_f32;
  if (v < 0 || v >= t.count) return "auto";
  return t.names[v];
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
              const Shape& stride, const Shape& padding, const Shape& dilation, int64_t groups) {
  check_same_device(input, weight, "conv2d");
  if (bias) check_same_device(input, *bias, "conv2d");
  check_cpu(input, "conv2d");
  PYDL_CHECK(input.dim() == 3 || input.dim() == 4, RuntimeError,
             "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: ",
             shape_str(input.shape));
  check_weight(weight);
  PYDL_CHECK(input.dtype == weight.dtype, RuntimeError, "Input type (",
             torch_type_name(input.dtype), ") and weight type (", torch_type_name(weight.dtype),
             ") should be the same");
  check_float(input, "conv2d");
  const bool unbatched = input.dim() == 3;
  Tensor x = unbatched ? unsqueeze(input, 0) : input;
  cpu::ConvShape s = make_shape(x.shape, weight.shape, stride, padding, dilation, groups);
  if (bias) {
    PYDL_CHECK(bias->dim() == 1 && bias->shape[0] == s.OC, RuntimeError, "Given weight of size ",
               shape_str(weight.shape), ", expected bias to be 1-dimensional with ", s.OC,
               " elements, but got bias of size ", shape_str(bias->shape), " instead");
    PYDL_CHECK(bias->dtype == input.dtype, RuntimeError, "Input type (",
               torch_type_name(input.dtype), ") and bias type (", torch_type_name(bias->dtype),
               ") should be the same");
  }
  Tensor y = empty({s.N, s.OC, s.OH, s.OW}, x.dtype);
  if (y.numel() > 0) {
    Tensor xc = contiguous(x), wc = contiguous(weight);
    Tensor bc = bias ? contiguous(*bias) : Tensor();
    dispatch_dtype(x.dtype, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      if constexpr (std::is_floating_point_v<T>) {
        pick_conv<T>(s).forward(s, xc.data<T>(), wc.data<T>(), bias ? bc.data<T>() : nullptr,
                                y.data<T>(), fastest_gemm<T>());
      }
    });
  }
  return unbatched ? squeeze(y, {0}) : y;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Shape& stride, const Shape& padding, const Shape& dilation,
                             int64_t groups) {
  check_same_device(grad_out, weight, "conv2d_backward");
  check_cpu(grad_out, "conv2d_backward");
  check_weight(weight);
  PYDL_CHECK(input_shape.size() == 4 && grad_out.dim() == 4, RuntimeError,
             "conv2d_backward: expected 4-D input shape and gradient");
  PYDL_CHECK(grad_out.dtype == weight.dtype, RuntimeError, "conv2d_backward: dtype mismatch");
  check_float(grad_out, "conv2d_backward");
  cpu::ConvShape s = make_shape(input_shape, weight.shape, stride, padding, dilation, groups);
  PYDL_CHECK(grad_out.shape == Shape({s.N, s.OC, s.OH, s.OW}), RuntimeError,
             "conv2d_backward: gradient of size ", shape_str(grad_out.shape), ", expected ",
             shape_str(Shape({s.N, s.OC, s.OH, s.OW})));
  Tensor dx = empty(input_shape, grad_out.dtype);
  if (dx.numel() > 0) {
    Tensor dyc = contiguous(grad_out), wc = contiguous(weight);
    dispatch_dtype(dx.dtype, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      if constexpr (std::is_floating_point_v<T>) {
        if (s.OC == 0 || s.OH * s.OW == 0) {
          T* p = dx.data<T>();
          for (int64_t i = 0; i < dx.numel(); ++i) p[i] = T(0);
        } else {
          pick_conv<T>(s).backward_input(s, dyc.data<T>(), wc.data<T>(), dx.data<T>(),
                                         fastest_gemm<T>());
        }
      }
    });
  }
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                              const Shape& stride, const Shape& padding, const Shape& dilation,
                              int64_t groups) {
  check_same_device(grad_out, input, "conv2d_backward");
  check_cpu(grad_out, "conv2d_backward");
  PYDL_CHECK(weight_shape.size() == 4 && grad_out.dim() == 4 && input.dim() == 4, RuntimeError,
             "conv2d_backward: expected 4-D input, weight shape and gradient");
  PYDL_CHECK(grad_out.dtype == input.dtype, RuntimeError, "conv2d_backward: dtype mismatch");
  check_float(grad_out, "conv2d_backward");
  cpu::ConvShape s = make_shape(input.shape, weight_shape, stride, padding, dilation, groups);
  PYDL_CHECK(grad_out.shape == Shape({s.N, s.OC, s.OH, s.OW}), RuntimeError,
             "conv2d_backward: gradient of size ", shape_str(grad_out.shape), ", expected ",
             shape_str(Shape({s.N, s.OC, s.OH, s.OW})));
  Tensor dw = empty(weight_shape, grad_out.dtype);
  if (dw.numel() > 0) {
    Tensor dyc = contiguous(grad_out), xc = contiguous(input);
    dispatch_dtype(dw.dtype, [&](auto* tp) {
      using T = std::remove_pointer_t<decltype(tp)>;
      if constexpr (std::is_floating_point_v<T>) {
        if (s.N == 0 || s.OH * s.OW == 0) {
          T* p = dw.data<T>();
          for (int64_t i = 0; i < dw.numel(); ++i) p[i] = T(0);
        } else {
          pick_conv<T>(s).backward_weight(s, xc.data<T>(), dyc.data<T>(), dw.data<T>(),
                                          fastest_gemm<T>());
        }
      }
    });
  }
  return dw;
}

}  // namespace pydl
