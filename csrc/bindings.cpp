// The whole C++ -> Python surface of pydl._C, as one flat table.
//
// Every entry point here takes core Tensors (TensorImpl in Python), checks
// its arguments in the op layer, and releases the GIL while kernels run.
// Autograd, modules and the public API live in Python (pydl/).
#include <omp.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/interop.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "cpu/kernels.h"

namespace py = pybind11;
using namespace pydl;
using nogil = py::call_guard<py::gil_scoped_release>;

static py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

static py::object item_of(const Tensor& t) {
  PYDL_CHECK(t.numel() == 1, RuntimeError, "a Tensor with ", t.numel(),
             " elements cannot be converted to Scalar");
  check_cpu(t, "item");
  switch (t.dtype) {
    case DType::Float32: return py::float_(*t.data<float>());
    case DType::Float64: return py::float_(*t.data<double>());
    case DType::Int64: return py::int_(*t.data<int64_t>());
    case DType::Bool: default: return py::bool_(*t.data<bool>());
  }
}

PYBIND11_MODULE(_C, m) {
  m.doc() = "pydl tensor core: storage, views, and one checked entry point per kernel family";

  // Exceptions: our C++ types -> the Python types PyTorch raises.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pydl::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const pydl::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const pydl::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const pydl::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "out of memory");
    }
  });

  py::enum_<DType>(m, "DType")
      .value("float32", DType::Float32).value("float64", DType::Float64)
      .value("int64", DType::Int64).value("bool", DType::Bool);
  py::enum_<UnaryOp>(m, "UnaryOp")
      .value("neg", UnaryOp::Neg).value("exp", UnaryOp::Exp).value("log", UnaryOp::Log)
      .value("sqrt", UnaryOp::Sqrt).value("rsqrt", UnaryOp::Rsqrt).value("abs", UnaryOp::Abs)
      .value("sign", UnaryOp::Sign).value("square", UnaryOp::Square)
      .value("reciprocal", UnaryOp::Reciprocal).value("sin", UnaryOp::Sin).value("cos", UnaryOp::Cos)
      .value("log1p", UnaryOp::Log1p).value("expm1", UnaryOp::Expm1)
      .value("sigmoid", UnaryOp::Sigmoid).value("tanh", UnaryOp::Tanh).value("relu", UnaryOp::Relu)
      .value("leaky_relu", UnaryOp::LeakyRelu).value("elu", UnaryOp::Elu).value("selu", UnaryOp::Selu)
      .value("gelu_erf", UnaryOp::GeluErf).value("gelu_tanh", UnaryOp::GeluTanh)
      .value("silu", UnaryOp::Silu).value("softplus", UnaryOp::Softplus)
      .value("clamp", UnaryOp::Clamp).value("clamp_min", UnaryOp::ClampMin)
      .value("clamp_max", UnaryOp::ClampMax).value("floor", UnaryOp::Floor)
      .value("ceil", UnaryOp::Ceil).value("round", UnaryOp::Round).value("trunc", UnaryOp::Trunc)
      .value("pow_scalar", UnaryOp::PowScalar).value("rpow_scalar", UnaryOp::RPowScalar);
  py::enum_<UnaryGradOp>(m, "UnaryGradOp")
      .value("exp", UnaryGradOp::Exp).value("log", UnaryGradOp::Log).value("sqrt", UnaryGradOp::Sqrt)
      .value("rsqrt", UnaryGradOp::Rsqrt).value("abs", UnaryGradOp::Abs)
      .value("reciprocal", UnaryGradOp::Reciprocal).value("sin", UnaryGradOp::Sin)
      .value("cos", UnaryGradOp::Cos).value("log1p", UnaryGradOp::Log1p)
      .value("expm1", UnaryGradOp::Expm1).value("sigmoid", UnaryGradOp::Sigmoid)
      .value("tanh", UnaryGradOp::Tanh).value("relu", UnaryGradOp::Relu)
      .value("leaky_relu", UnaryGradOp::LeakyRelu).value("elu", UnaryGradOp::Elu)
      .value("selu", UnaryGradOp::Selu).value("gelu_erf", UnaryGradOp::GeluErf)
      .value("gelu_tanh", UnaryGradOp::GeluTanh).value("silu", UnaryGradOp::Silu)
      .value("softplus", UnaryGradOp::Softplus).value("clamp", UnaryGradOp::Clamp)
      .value("pow_scalar", UnaryGradOp::PowScalar).value("rpow_scalar", UnaryGradOp::RPowScalar);
  py::enum_<BinaryOp>(m, "BinaryOp")
      .value("add", BinaryOp::Add).value("sub", BinaryOp::Sub).value("mul", BinaryOp::Mul)
      .value("div", BinaryOp::Div).value("pow", BinaryOp::Pow).value("maximum", BinaryOp::Maximum)
      .value("minimum", BinaryOp::Minimum).value("atan2", BinaryOp::Atan2)
      .value("remainder", BinaryOp::Remainder).value("floor_divide", BinaryOp::FloorDiv)
      .value("logical_and", BinaryOp::LogicalAnd).value("logical_or", BinaryOp::LogicalOr)
      .value("logical_xor", BinaryOp::LogicalXor);
  py::enum_<CompareOp>(m, "CompareOp")
      .value("eq", CompareOp::Eq).value("ne", CompareOp::Ne).value("lt", CompareOp::Lt)
      .value("le", CompareOp::Le).value("gt", CompareOp::Gt).value("ge", CompareOp::Ge);
  py::enum_<ReduceOp>(m, "ReduceOp")
      .value("sum", ReduceOp::Sum).value("max", ReduceOp::Max).value("min", ReduceOp::Min)
      .value("prod", ReduceOp::Prod);

  py::class_<Tensor>(m, "TensorImpl")
      .def_property_readonly("shape", [](const Tensor& t) { return to_tuple(t.shape); })
      .def_property_readonly("strides", [](const Tensor& t) { return to_tuple(t.strides); })
      .def_property_readonly("offset", [](const Tensor& t) { return t.offset; })
      .def_property_readonly("dtype", [](const Tensor& t) { return t.dtype; })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def_property_readonly("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()); })
      .def("storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage->data); })
      .def("storage_nbytes", [](const Tensor& t) { return t.storage->nbytes; })
      .def("item", &item_of);

  // Creation
  m.def("empty", [](const Shape& s, DType d) { return empty(s, d); });
  m.def("full", [](const Shape& s, double v, DType d) { return full(s, v, d); });
  m.def("full_i64", &full_i64);
  m.def("arange", &arange);
  m.def("arange_i64", &arange_i64);
  m.def("linspace", &linspace);
  m.def("manual_seed", &manual_seed);
  m.def("initial_seed", &initial_seed);
  m.def("get_rng_state", [](){ auto v = get_rng_state(); return py::bytes(reinterpret_cast<const char*>(v.data()), v.size()); });
  m.def("set_rng_state", [](py::bytes b) { std::string s = b; set_rng_state(std::vector<uint8_t>(s.begin(), s.end())); });
  m.def("rand", &pydl::rand, nogil());
  m.def("randn", &randn, nogil());
  m.def("randint", &randint, nogil());
  m.def("randperm", &randperm, nogil());
  m.def("bernoulli", &bernoulli, nogil());
  m.def("uniform_", [](Tensor& t, double a, double b) { uniform_(t, a, b); }, nogil());
  m.def("normal_", [](Tensor& t, double a, double b) { normal_(t, a, b); }, nogil());

  // Views (share storage)
  m.def("as_strided", &as_strided);
  m.def("view", &view);
  m.def("reshape", &reshape, nogil());
  m.def("permute", &permute);
  m.def("transpose", &transpose);
  m.def("expand", &expand);
  m.def("squeeze", &squeeze);
  m.def("unsqueeze", &unsqueeze);
  m.def("slice", &slice);
  m.def("select", &pydl::select);
  m.def("diagonal", &diagonal);

  // Copies and indexing
  m.def("contiguous", &contiguous, nogil());
  m.def("clone", &pydl::clone, nogil());
  m.def("to_dtype", &to_dtype, nogil());
  m.def("copy_", [](Tensor& d, const Tensor& s) { copy_(d, s); }, nogil());
  m.def("cat", &cat, nogil());
  m.def("index_select", &index_select, nogil());
  m.def("index_add", &index_add, nogil());
  m.def("gather", &gather, nogil());
  m.def("scatter_add", &scatter_add, nogil());
  m.def("masked_fill", &masked_fill, nogil());

  // Interop
  m.def("from_numpy", &from_numpy);
  m.def("to_numpy", &to_numpy);
  m.def("to_dlpack", &to_dlpack);
  m.def("from_dlpack", &from_dlpack);

  // Elementwise
  m.def("unary", &unary, nogil(), py::arg("op"), py::arg("x"), py::arg("p0") = 0.0, py::arg("p1") = 0.0);
  m.def("unary_", [](UnaryOp op, Tensor& x, double p0, double p1) { unary_(op, x, p0, p1); }, nogil(),
        py::arg("op"), py::arg("x"), py::arg("p0") = 0.0, py::arg("p1") = 0.0);
  m.def("unary_grad",
        [](UnaryGradOp op, const Tensor& dy, std::optional<Tensor> x, std::optional<Tensor> y,
           double p0, double p1) {
          return unary_grad(op, dy, x ? *x : Tensor(), y ? *y : Tensor(), p0, p1);
        },
        nogil(), py::arg("op"), py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("p0") = 0.0,
        py::arg("p1") = 0.0);
  m.def("binary", &binary, nogil());
  m.def("binary_", [](BinaryOp op, Tensor& a, const Tensor& b) { binary_(op, a, b); }, nogil());
  m.def("compare", &compare, nogil());
  m.def("where", &where, nogil());
  m.def("logical_not", &logical_not, nogil());

  // Reductions
  m.def("reduce",
        [](ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim, bool with_indices) {
          Tensor idx;
          Tensor v = reduce(op, x, dims, keepdim, with_indices ? &idx : nullptr, nullptr);
          return std::make_pair(v, idx);
        },
        nogil());
  m.def("mean", &mean, nogil());
  m.def("var", &var, nogil());
  m.def("sum_to_shape", &sum_to_shape, nogil());
  m.def("argmax", &argmax, nogil());

  // Matmul
  m.def("matmul", &matmul, nogil());
  m.def("gemm_variants", &gemm_variants);
  m.def("set_gemm_variant", &set_gemm_variant);
  m.def("gemm_variant", &gemm_variant);

  // Convolution (padding = [top, bottom, left, right])
  m.def("conv2d", &conv2d, nogil(), py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv2d_backward_input", &conv2d_backward_input, nogil());
  m.def("conv2d_backward_weight", &conv2d_backward_weight, nogil());
  m.def("conv_variants", &conv_variants);
  m.def("set_conv_variant", &set_conv_variant);
  m.def("conv_variant", &conv_variant);

  // Optimizers: one fused in-place update per parameter tensor (state=None: option off)
  using OptT = std::optional<Tensor>;
  m.def("sgd_step",
        [](Tensor& p, const Tensor& g, OptT buf, double lr, double momentum, double dampening,
           double weight_decay, bool nesterov, bool maximize, bool first_step) {
          sgd_step(p, g, buf ? &*buf : nullptr,
                   {lr, momentum, dampening, weight_decay, nesterov, maximize, first_step});
        },
        nogil(), py::arg("p"), py::arg("g"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("momentum"),
        py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
        py::arg("first_step"));
  m.def("adam_step",
        [](Tensor& p, const Tensor& g, Tensor& m1, Tensor& m2, OptT vmax, double lr, double beta1,
           double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize,
           double step) {
          adam_step(p, g, m1, m2, vmax ? &*vmax : nullptr,
                    {lr, beta1, beta2, eps, weight_decay, step, decoupled, amsgrad, maximize});
        },
        nogil(), py::arg("p"), py::arg("g"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("decoupled"), py::arg("amsgrad"), py::arg("maximize"),
        py::arg("step"));
  m.def("adagrad_step",
        [](Tensor& p, const Tensor& g, Tensor& sum, double clr, double eps, double weight_decay,
           bool maximize) { adagrad_step(p, g, sum, {clr, eps, weight_decay, maximize}); },
        nogil(), py::arg("p"), py::arg("g"), py::arg("sum"), py::arg("clr"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("maximize"));
  m.def("rmsprop_step",
        [](Tensor& p, const Tensor& g, Tensor& sq, OptT grad_avg, OptT buf, double lr, double alpha,
           double eps, double weight_decay, double momentum, bool maximize) {
          rmsprop_step(p, g, sq, grad_avg ? &*grad_avg : nullptr, buf ? &*buf : nullptr,
                       {lr, alpha, eps, weight_decay, momentum, maximize});
        },
        nogil(), py::arg("p"), py::arg("g"), py::arg("square_avg"), py::arg("grad_avg"),
        py::arg("momentum_buffer"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("momentum"), py::arg("maximize"));
  m.def("adadelta_step",
        [](Tensor& p, const Tensor& g, Tensor& sq, Tensor& acc, double lr, double rho, double eps,
           double weight_decay, bool maximize) {
          adadelta_step(p, g, sq, acc, {lr, rho, eps, weight_decay, maximize});
        },
        nogil(), py::arg("p"), py::arg("g"), py::arg("square_avg"), py::arg("acc_delta"), py::arg("lr"),
        py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"));

  // Softmax, normalization, losses (None for an optional tensor: absent)
  using OptTensor = std::optional<Tensor>;
  auto opt_ptr = [](const OptTensor& t) -> const Tensor* { return t ? &*t : nullptr; };
  m.def("softmax", &pydl::softmax, nogil(), py::arg("x"), py::arg("dim"), py::arg("log"));
  m.def("softmax_reference", &softmax_reference, nogil(), py::arg("x"), py::arg("dim"), py::arg("log"));
  m.def("softmax_backward", &softmax_backward, nogil(), py::arg("y"), py::arg("dy"), py::arg("dim"),
        py::arg("log"));
  m.def("layer_norm",
        [opt_ptr](const Tensor& x, const Shape& ns, OptTensor w, OptTensor b, double eps, bool reference,
                  bool save_stats) {
          return layer_norm(x, ns, opt_ptr(w), opt_ptr(b), eps, reference, save_stats);
        },
        nogil(), py::arg("x"), py::arg("normalized_shape"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
        py::arg("reference") = false, py::arg("save_stats") = true);
  m.def("layer_norm_backward",
        [opt_ptr](const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd, OptTensor w,
                  bool need_dx, bool need_dw, bool need_db) {
          return layer_norm_backward(dy, x, mean, rstd, opt_ptr(w), need_dx, need_dw, need_db);
        },
        nogil());
  m.def("batch_norm",
        [opt_ptr](const Tensor& x, OptTensor rm, OptTensor rv, OptTensor w, OptTensor b, bool training,
                  double momentum, double eps) {
          return batch_norm(x, rm ? &*rm : nullptr, rv ? &*rv : nullptr, opt_ptr(w), opt_ptr(b), training,
                            momentum, eps);
        },
        nogil());
  m.def("batch_norm_backward",
        [opt_ptr](const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& rstd, OptTensor w,
                  bool training, bool need_dx, bool need_dw, bool need_db) {
          return batch_norm_backward(dy, x, mean, rstd, opt_ptr(w), training, need_dx, need_dw, need_db);
        },
        nogil());
  m.def("cross_entropy",
        [opt_ptr](const Tensor& x, const Tensor& t, OptTensor w, int64_t ignore_index, int64_t reduction,
                  double ls, bool reference) {
          return cross_entropy(x, t, opt_ptr(w), ignore_index, reduction, ls, reference);
        },
        nogil(), py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("ignore_index"),
        py::arg("reduction"), py::arg("label_smoothing"), py::arg("reference") = false);
  m.def("cross_entropy_backward",
        [opt_ptr](const Tensor& g, const Tensor& x, const Tensor& t, OptTensor w, const Tensor& lse,
                  int64_t ignore_index, int64_t reduction, double ls) {
          return cross_entropy_backward(g, x, t, opt_ptr(w), lse, ignore_index, reduction, ls);
        },
        nogil());
  m.def("nll_loss",
        [opt_ptr](const Tensor& x, const Tensor& t, OptTensor w, int64_t ignore_index, int64_t reduction) {
          return nll_loss(x, t, opt_ptr(w), ignore_index, reduction);
        },
        nogil());
  m.def("nll_loss_backward",
        [opt_ptr](const Tensor& g, const Tensor& x, const Tensor& t, OptTensor w, int64_t ignore_index,
                  int64_t reduction) { return nll_loss_backward(g, x, t, opt_ptr(w), ignore_index, reduction); },
        nogil());

  // Pooling: [N, C, H, W] or [C, H, W]; divisor_override None => none
  m.def("max_pool2d",
        [](const Tensor& x, const Shape& k, const Shape& s, const Shape& p, const Shape& d, bool ceil_mode,
           bool with_indices) {
          Tensor idx;
          Tensor y = max_pool2d(x, k, s, p, d, ceil_mode, with_indices ? &idx : nullptr);
          return std::make_pair(y, idx);
        },
        nogil());
  m.def("max_pool2d_backward", &max_pool2d_backward, nogil());
  m.def("avg_pool2d",
        [](const Tensor& x, const Shape& k, const Shape& s, const Shape& p, bool ceil_mode, bool cip,
           std::optional<int64_t> div) { return avg_pool2d(x, k, s, p, ceil_mode, cip, div.value_or(0), div.has_value()); },
        nogil());
  m.def("avg_pool2d_backward",
        [](const Tensor& dy, const Shape& in_shape, const Shape& k, const Shape& s, const Shape& p, bool ceil_mode,
           bool cip, std::optional<int64_t> div) {
          return avg_pool2d_backward(dy, in_shape, k, s, p, ceil_mode, cip, div.value_or(0), div.has_value());
        },
        nogil());
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, nogil());
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, nogil());
  m.def("adaptive_max_pool2d",
        [](const Tensor& x, const Shape& out) {
          Tensor idx;
          Tensor y = adaptive_max_pool2d(x, out, &idx);
          return std::make_pair(y, idx);
        },
        nogil());
  m.def("pool_variants", &pool_variants);
  m.def("set_pool_variant", &set_pool_variant);
  m.def("pool_variant", &pool_variant);

  // --- layers: embedding, dropout, local response norm ---
  m.def("embedding", &pydl::embedding, nogil(), py::arg("weight"), py::arg("indices"),
        py::arg("reference") = false);
  m.def("embedding_backward", &embedding_backward, nogil(), py::arg("grad"), py::arg("indices"),
        py::arg("num_weights"), py::arg("padding_idx"), py::arg("reference") = false);
  m.def("dropout", &pydl::dropout, nogil(), py::arg("x"), py::arg("p"), py::arg("seed"),
        py::arg("reference") = false);
  m.def("local_response_norm", &local_response_norm, nogil(), py::arg("x"), py::arg("size"), py::arg("alpha"),
        py::arg("beta"), py::arg("k"), py::arg("reference") = false);
  m.def("local_response_norm_backward", &local_response_norm_backward, nogil(), py::arg("grad"), py::arg("x"),
        py::arg("y"), py::arg("den"), py::arg("size"), py::arg("alpha"), py::arg("beta"), py::arg("k"),
        py::arg("reference") = false);
  // --- attention (sdpa) --- (mask / scale None: absent)
  m.def("sdpa_forward",
        [](const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask, bool is_causal,
           std::optional<double> scale, double dropout_p, uint64_t seed) {
          return sdpa_forward(q, k, v, mask ? &*mask : nullptr, is_causal, scale, dropout_p, seed);
        },
        nogil(), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask"), py::arg("is_causal"),
        py::arg("scale"), py::arg("dropout_p"), py::arg("seed"));
  m.def("sdpa_backward",
        [](const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask,
           const Tensor& out, const Tensor& lse, bool is_causal, std::optional<double> scale, double dropout_p,
           uint64_t seed) {
          return sdpa_backward(dout, q, k, v, mask ? &*mask : nullptr, out, lse, is_causal, scale, dropout_p, seed);
        },
        nogil(), py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask"), py::arg("out"),
        py::arg("lse"), py::arg("is_causal"), py::arg("scale"), py::arg("dropout_p"), py::arg("seed"));
  m.def("attention_variants", &attention_variants);
  m.def("set_attention_variant", &set_attention_variant);
  m.def("attention_variant", &attention_variant);
  // --- rnn cells: one time step's pointwise part (None for an optional tensor: absent / zero) ---
  {
    using OptT = std::optional<Tensor>;
    auto p = [](const OptT& t) -> const Tensor* { return t ? &*t : nullptr; };
    m.def("lstm_cell",
          [p](const Tensor& xg, OptT hg, const Tensor& c_prev, bool save, bool reference) {
            return lstm_cell(xg, p(hg), c_prev, save, reference);
          },
          nogil(), py::arg("xg"), py::arg("hg"), py::arg("c_prev"), py::arg("save") = true,
          py::arg("reference") = false);
    m.def("lstm_cell_backward",
          [p](OptT dh, OptT dh2, OptT dc, const Tensor& acts, const Tensor& c_prev, const Tensor& c,
              bool reference) { return lstm_cell_backward(p(dh), p(dh2), p(dc), acts, c_prev, c, reference); },
          nogil(), py::arg("dh"), py::arg("dh2"), py::arg("dc"), py::arg("acts"), py::arg("c_prev"), py::arg("c"),
          py::arg("reference") = false);
    m.def("gru_cell",
          [p](const Tensor& xg, OptT hg, OptT bhh, const Tensor& h_prev, bool save, bool reference) {
            return gru_cell(xg, p(hg), p(bhh), h_prev, save, reference);
          },
          nogil(), py::arg("xg"), py::arg("hg"), py::arg("bhh"), py::arg("h_prev"), py::arg("save") = true,
          py::arg("reference") = false);
    m.def("gru_cell_backward",
          [p](OptT dh, OptT dh2, const Tensor& ws, const Tensor& h_prev, bool reference) {
            return gru_cell_backward(p(dh), p(dh2), ws, h_prev, reference);
          },
          nogil(), py::arg("dh"), py::arg("dh2"), py::arg("ws"), py::arg("h_prev"), py::arg("reference") = false);
    m.def("rnn_cell",
          [p](const Tensor& xg, OptT hg, bool relu, bool reference) { return rnn_cell(xg, p(hg), relu, reference); },
          nogil(), py::arg("xg"), py::arg("hg"), py::arg("relu"), py::arg("reference") = false);
    m.def("rnn_cell_backward",
          [p](OptT dh, OptT dh2, const Tensor& h, bool relu, bool reference) {
            return rnn_cell_backward(p(dh), p(dh2), h, relu, reference);
          },
          nogil(), py::arg("dh"), py::arg("dh2"), py::arg("h"), py::arg("relu"), py::arg("reference") = false);
    m.def("rnn_cell_variants", &rnn_cell_variants);
    m.def("set_rnn_cell_variant", &set_rnn_cell_variant);
    m.def("rnn_cell_variant", &rnn_cell_variant);
  }
  m.def("embedding_variants", &embedding_variants);
  m.def("set_embedding_variant", &set_embedding_variant);
  m.def("embedding_variant", &embedding_variant);
  m.def("dropout_variants", &dropout_variants);
  m.def("set_dropout_variant", &set_dropout_variant);
  m.def("dropout_variant", &dropout_variant);
  m.def("lrn_variants", &lrn_variants);
  m.def("set_lrn_variant", &set_lrn_variant);
  m.def("lrn_variant", &lrn_variant);

  // Machine
  m.def("isa", [] { return std::string(cpu::kernels().isa); });
  m.def("available_isas", [] {
    int n = 0;
    const char* const* names = cpu::available_isas(&n);
    std::vector<std::string> r(names, names + n);
    return r;
  });
  m.def("set_isa", [](const std::string& s) { cpu::set_isa(s.c_str()); });
  m.def("set_num_threads", [](int n) {
    PYDL_CHECK(n > 0, RuntimeError, "set_num_threads expects a positive integer, got ", n);
    omp_set_num_threads(n);
  });
  m.def("get_num_threads", [] { return omp_get_max_threads(); });
  m.def("probe_fma_peak", [](bool is_double) { return cpu::kernels().probe_fma_gflops(is_double); },
        py::arg("dtype_is_double"), nogil());
  m.def("probe_triad_bandwidth", [](int64_t n) {
    PYDL_CHECK(n > 0 && n <= (int64_t(1) << 36), ValueError,
               "probe_triad_bandwidth expects 1 <= n_elements <= 2^36, got ", n);
    return cpu::kernels().probe_triad_gbs(n);
  }, py::arg("n_elements"), nogil());
}
