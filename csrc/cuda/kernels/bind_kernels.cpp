// csrc/cuda/kernels/bind_kernels.cpp -- the kernels of kernels.h as Python functions on host arrays.
//
// Compiled into both modules by the host compiler: into pydl._cuemu with PYDL_CUEMU defined (the
// device is the CPU emulator, cuda/emu/emu.h) and into pydl._C_cuda without it (a real GPU through
// cuda/runtime.h). Each function checks its arguments (ValueError/TypeError before any device
// work), copies the float32 C-contiguous inputs into fresh device buffers (0xFF-filled under the
// emulator, so a kernel that leaves an output element unwritten gives NaN), runs the kernel with
// the GIL released, and copies the results back into new numpy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/kernels/bind_kernels.h"
#include "cuda/kernels/kernels.h"

#if defined(PYDL_CUEMU)
#include "cuda/emu/emu.h"
#else
#include "cuda/runtime.h"
#endif

namespace py = pybind11;
namespace k = pydl::cuda::kernels;

namespace pydl::cuda {
namespace {

using Array = py::array_t<float, py::array::c_style>;

// An owned device buffer of n elements of T.
template <typename T>
class DeviceArray {
 public:
  using HostArray = py::array_t<T, py::array::c_style>;
  explicit DeviceArray(std::int64_t n) : n_(n) {
#if defined(PYDL_CUEMU)
    PYDL_CUDA_CHECK(cudaMalloc(&p_, bytes()));
#else
    p_ = static_cast<T*>(device_malloc(bytes()));
#endif
  }
  explicit DeviceArray(const HostArray& host) : DeviceArray(static_cast<std::int64_t>(host.size())) {
    upload(host.data());
  }
  ~DeviceArray() {
#if defined(PYDL_CUEMU)
    cudaFree(p_);
#else
    try { device_free(p_); } catch (...) {}  // a destructor must not throw
#endif
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return p_; }
  std::size_t bytes() const { return static_cast<std::size_t>(n_) * sizeof(T); }
  void upload(const T* src) {
#if defined(PYDL_CUEMU)
    PYDL_CUDA_CHECK(cudaMemcpy(p_, src, bytes(), cudaMemcpyHostToDevice));
#else
    memcpy_htod(p_, src, bytes());
#endif
  }
  // A new array of `shape` holding this buffer's contents.
  HostArray download(const std::vector<py::ssize_t>& shape) const {
    HostArray out(shape);
#if defined(PYDL_CUEMU)
    PYDL_CUDA_CHECK(cudaMemcpy(out.mutable_data(), p_, bytes(), cudaMemcpyDeviceToHost));
#else
    memcpy_dtoh(out.mutable_data(), p_, bytes());
#endif
    return out;
  }

 private:
  T* p_ = nullptr;
  std::int64_t n_;
};
using DeviceBuf = DeviceArray<float>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style>;

std::vector<py::ssize_t> shape_of(const Array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

void same_shape(const Array& a, const Array& b, const char* fn, const char* an, const char* bn) {
  if (shape_of(a) != shape_of(b))
    throw py::value_error(std::string(fn) + ": " + an + " and " + bn + " must have the same shape");
}

// (R, C) of an array whose last dim is the reduced/normalised one.
std::pair<std::int64_t, std::int64_t> rows_cols(const Array& x, const char* fn) {
  if (x.ndim() < 1) throw py::value_error(std::string(fn) + ": expected at least 1 dimension, got a 0-d array");
  const std::int64_t C = x.shape(x.ndim() - 1);
  std::int64_t R = 1;
  for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) R *= x.shape(d);
  return {R, C};
}

using Unary = void (*)(const float*, float*, std::int64_t);
using Binary = void (*)(const float*, const float*, float*, std::int64_t);

Array unary(Unary f, const Array& x) {
  DeviceBuf dx(x), dy(x.size());
  {
    py::gil_scoped_release nogil;
    f(dx.get(), dy.get(), x.size());
  }
  return dy.download(shape_of(x));
}

Array binary(Binary f, const Array& a, const Array& b, const char* fn, const char* an,
             const char* bn) {
  same_shape(a, b, fn, an, bn);
  DeviceBuf da(a), db(b), dy(a.size());
  {
    py::gil_scoped_release nogil;
    f(da.get(), db.get(), dy.get(), a.size());
  }
  return dy.download(shape_of(a));
}

Array sum_lastdim_forward(const Array& x) {
  const auto [R, C] = rows_cols(x, "sum_lastdim_forward");
  DeviceBuf dx(x), dy(R);
  {
    py::gil_scoped_release nogil;
    k::sum_lastdim_forward(dx.get(), dy.get(), R, C);
  }
  auto s = shape_of(x);
  s.pop_back();
  return dy.download(s);
}

Array sum_lastdim_backward(const Array& dy, std::int64_t C) {
  if (C < 0) throw py::value_error("sum_lastdim_backward: C must be >= 0");
  const std::int64_t R = dy.size();
  DeviceBuf ddy(dy), ddx(R * C);
  {
    py::gil_scoped_release nogil;
    k::sum_lastdim_backward(ddy.get(), ddx.get(), R, C);
  }
  auto s = shape_of(dy);
  s.push_back(C);
  return ddx.download(s);
}

Array gemm(int variant, const Array& A, const Array& B) {
  if (A.ndim() != 2 || B.ndim() != 2)
    throw py::value_error("gemm: A and B must be 2-D, got " + std::to_string(A.ndim()) + "-D and " +
                          std::to_string(B.ndim()) + "-D");
  if (A.shape(1) != B.shape(0))
    throw py::value_error("gemm: shapes (" + std::to_string(A.shape(0)) + ", " +
                          std::to_string(A.shape(1)) + ") and (" + std::to_string(B.shape(0)) +
                          ", " + std::to_string(B.shape(1)) + ") cannot be multiplied");
  if (variant < 0 || variant > 2) throw py::value_error("gemm: variant must be 0, 1 or 2");
  const std::int64_t M = A.shape(0), K = A.shape(1), N = B.shape(1);
  DeviceBuf dA(A), dB(B), dC(M * N);
  {
    py::gil_scoped_release nogil;
    k::gemm(variant, dA.get(), dB.get(), dC.get(), M, N, K);
  }
  return dC.download({static_cast<py::ssize_t>(M), static_cast<py::ssize_t>(N)});
}

void check_softmax_variant(int v, const char* fn) {
  if (v != 0 && v != 1) throw py::value_error(std::string(fn) + ": variant must be 0 (warp) or 1 (block)");
}

Array softmax_forward(int variant, const Array& x) {
  check_softmax_variant(variant, "softmax_forward");
  const auto [R, C] = rows_cols(x, "softmax_forward");
  DeviceBuf dx(x), dy(x.size());
  {
    py::gil_scoped_release nogil;
    k::softmax_forward(variant, dx.get(), dy.get(), R, C);
  }
  return dy.download(shape_of(x));
}

Array softmax_backward(int variant, const Array& y, const Array& dy) {
  check_softmax_variant(variant, "softmax_backward");
  same_shape(y, dy, "softmax_backward", "y", "dy");
  const auto [R, C] = rows_cols(y, "softmax_backward");
  DeviceBuf d_y(y), d_dy(dy), d_dx(y.size());
  {
    py::gil_scoped_release nogil;
    k::softmax_backward(variant, d_y.get(), d_dy.get(), d_dx.get(), R, C);
  }
  return d_dx.download(shape_of(y));
}

void check_vec(const Array& v, std::int64_t C, const char* fn, const char* name) {
  if (v.ndim() != 1 || v.shape(0) != C)
    throw py::value_error(std::string(fn) + ": " + name + " must have shape (" + std::to_string(C) +
                          ",), the last dim of x");
}

py::tuple layer_norm_forward(const Array& x, const Array& gamma, const Array& beta, float eps) {
  const auto [R, C] = rows_cols(x, "layer_norm_forward");
  check_vec(gamma, C, "layer_norm_forward", "weight");
  check_vec(beta, C, "layer_norm_forward", "bias");
  if (C == 0 && R > 0) throw py::value_error("layer_norm_forward: the normalized dim is empty");
  if (!(eps >= 0.0f)) throw py::value_error("layer_norm_forward: eps must be >= 0");
  DeviceBuf dx(x), dg(gamma), db(beta), dy(x.size()), dm(R), dr(R);
  {
    py::gil_scoped_release nogil;
    k::layer_norm_forward(dx.get(), dg.get(), db.get(), dy.get(), dm.get(), dr.get(), R, C, eps);
  }
  auto rs = shape_of(x);
  rs.pop_back();
  return py::make_tuple(dy.download(shape_of(x)), dm.download(rs), dr.download(rs));
}

py::tuple layer_norm_backward(const Array& x, const Array& gamma, const Array& mean,
                              const Array& rstd, const Array& dy) {
  const auto [R, C] = rows_cols(x, "layer_norm_backward");
  check_vec(gamma, C, "layer_norm_backward", "weight");
  same_shape(x, dy, "layer_norm_backward", "x", "dy");
  if (mean.size() != R || rstd.size() != R)
    throw py::value_error("layer_norm_backward: mean and rstd must have one value per row (" +
                          std::to_string(R) + ")");
  DeviceBuf dx_(x), dg(gamma), dm(mean), dr(rstd), ddy(dy), ddx(x.size()), ddg(C), ddb(C);
  {
    py::gil_scoped_release nogil;
    k::layer_norm_backward(dx_.get(), dg.get(), dm.get(), dr.get(), ddy.get(), ddx.get(),
                           ddg.get(), ddb.get(), R, C);
  }
  const std::vector<py::ssize_t> cs{static_cast<py::ssize_t>(C)};
  return py::make_tuple(ddx.download(shape_of(x)), ddg.download(cs), ddb.download(cs));
}

// Every index in [0, n) (or == allowed, when allowed is given); IndexError naming the first bad one.
void check_indices(const IndexArray& idx, std::int64_t n, const char* fn, const char* what,
                   bool has_allowed = false, std::int64_t allowed = 0) {
  const std::int64_t* p = idx.data();
  for (py::ssize_t i = 0; i < idx.size(); ++i)
    if ((p[i] < 0 || p[i] >= n) && !(has_allowed && p[i] == allowed))
      throw py::index_error(std::string(fn) + ": " + what + " " + std::to_string(p[i]) +
                            " is out of bounds for size " + std::to_string(n));
}

py::tuple cross_entropy_forward(const Array& logits, const IndexArray& targets,
                                std::int64_t ignore_index) {
  if (logits.ndim() != 2) throw py::value_error("cross_entropy_forward: logits must be (N, C)");
  const std::int64_t N = logits.shape(0), C = logits.shape(1);
  if (targets.ndim() != 1 || targets.shape(0) != N)
    throw py::value_error("cross_entropy_forward: targets must have shape (" + std::to_string(N) + ",)");
  if (N > 0 && C == 0) throw py::value_error("cross_entropy_forward: logits have no classes (C == 0)");
  check_indices(targets, C, "cross_entropy_forward", "target", true, ignore_index);
  DeviceBuf dl(logits), dloss(N), dlse(N);
  DeviceArray<std::int64_t> dt(targets);
  {
    py::gil_scoped_release nogil;
    k::cross_entropy_forward(dl.get(), dt.get(), dloss.get(), dlse.get(), N, C, ignore_index);
  }
  const std::vector<py::ssize_t> ns{static_cast<py::ssize_t>(N)};
  return py::make_tuple(dloss.download(ns), dlse.download(ns));
}

Array cross_entropy_backward(const Array& logits, const IndexArray& targets, const Array& lse,
                             const Array& dloss, std::int64_t ignore_index) {
  if (logits.ndim() != 2) throw py::value_error("cross_entropy_backward: logits must be (N, C)");
  const std::int64_t N = logits.shape(0), C = logits.shape(1);
  if (targets.size() != N || lse.size() != N || dloss.size() != N)
    throw py::value_error("cross_entropy_backward: targets, lse and grad need N = " + std::to_string(N) + " values");
  check_indices(targets, C, "cross_entropy_backward", "target", true, ignore_index);
  DeviceBuf dl(logits), dlse(lse), dgl(dloss), dout(N * C);
  DeviceArray<std::int64_t> dt(targets);
  {
    py::gil_scoped_release nogil;
    k::cross_entropy_backward(dl.get(), dt.get(), dlse.get(), dgl.get(), dout.get(), N, C, ignore_index);
  }
  return dout.download(shape_of(logits));
}

Array embedding_forward(const Array& weight, const IndexArray& idx) {
  if (weight.ndim() != 2) throw py::value_error("embedding_forward: weight must be (V, D)");
  const std::int64_t V = weight.shape(0), D = weight.shape(1), N = idx.size();
  check_indices(idx, V, "embedding_forward", "index");
  DeviceBuf dw(weight), dout(N * D);
  DeviceArray<std::int64_t> di(idx);
  {
    py::gil_scoped_release nogil;
    k::embedding_forward(dw.get(), di.get(), dout.get(), N, V, D);
  }
  std::vector<py::ssize_t> s(idx.shape(), idx.shape() + idx.ndim());
  s.push_back(static_cast<py::ssize_t>(D));
  return dout.download(s);
}

Array embedding_backward(const Array& dout, const IndexArray& idx, std::int64_t V) {
  if (V < 0) throw py::value_error("embedding_backward: num_embeddings must be >= 0");
  if (dout.ndim() != idx.ndim() + 1 ||
      !std::equal(idx.shape(), idx.shape() + idx.ndim(), dout.shape()))
    throw py::value_error("embedding_backward: grad must have shape indices.shape + (D,)");
  const std::int64_t D = dout.shape(dout.ndim() - 1), N = idx.size();
  check_indices(idx, V, "embedding_backward", "index");
  DeviceBuf dd(dout), dw(V * D);
  DeviceArray<std::int64_t> di(idx);
  {
    py::gil_scoped_release nogil;
    k::embedding_backward(dd.get(), di.get(), dw.get(), N, V, D);
  }
  return dw.download({static_cast<py::ssize_t>(V), static_cast<py::ssize_t>(D)});
}

py::tuple sgd_step(const Array& p, const Array& g, const Array& buf, float lr, float momentum,
                   float dampening, float weight_decay, bool nesterov, bool first_step) {
  same_shape(p, g, "sgd_step", "param", "grad");
  same_shape(p, buf, "sgd_step", "param", "momentum_buffer");
  DeviceBuf dp(p), dg(g), db(buf);
  {
    py::gil_scoped_release nogil;
    k::sgd_step(dp.get(), dg.get(), db.get(), p.size(), lr, momentum, dampening, weight_decay,
                nesterov, first_step);
  }
  return py::make_tuple(dp.download(shape_of(p)), db.download(shape_of(p)));
}

py::tuple adam_step(const Array& p, const Array& g, const Array& m, const Array& v, float lr,
                    float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                    std::int64_t step) {
  same_shape(p, g, "adam_step", "param", "grad");
  same_shape(p, m, "adam_step", "param", "exp_avg");
  same_shape(p, v, "adam_step", "param", "exp_avg_sq");
  if (step < 1) throw py::value_error("adam_step: step must be >= 1");
  DeviceBuf dp(p), dg(g), dm(m), dv(v);
  {
    py::gil_scoped_release nogil;
    k::adam_step(dp.get(), dg.get(), dm.get(), dv.get(), p.size(), lr, beta1, beta2, eps,
                 weight_decay, decoupled, step);
  }
  return py::make_tuple(dp.download(shape_of(p)), dm.download(shape_of(p)), dv.download(shape_of(p)));
}

// (BH, rows, d) of a (..., rows, d) attention operand.
struct Heads {
  std::int64_t bh = 1, rows = 0, d = 0;
  std::vector<py::ssize_t> lead;
};
Heads heads_of(const Array& a, const char* fn, const char* name) {
  if (a.ndim() < 2)
    throw py::value_error(std::string(fn) + ": " + name + " must have at least 2 dims (..., L, E)");
  Heads h;
  for (py::ssize_t i = 0; i + 2 < a.ndim(); ++i) {
    h.lead.push_back(a.shape(i));
    h.bh *= a.shape(i);
  }
  h.rows = a.shape(a.ndim() - 2);
  h.d = a.shape(a.ndim() - 1);
  return h;
}
std::tuple<Heads, Heads> check_qkv(const Array& q, const Array& k, const Array& v, const char* fn) {
  const Heads hq = heads_of(q, fn, "query"), hk = heads_of(k, fn, "key");
  if (hk.lead != hq.lead || hk.d != hq.d)
    throw py::value_error(std::string(fn) + ": key must have shape (..., S, E) with query's leading dims and E");
  same_shape(k, v, fn, "key", "value");
  return {hq, hk};
}

py::tuple sdpa_forward(const Array& q, const Array& k, const Array& v, float scale, bool causal) {
  const auto [hq, hk] = check_qkv(q, k, v, "sdpa_forward");
  DeviceBuf dq(q), dk(k), dv(v), dout(q.size()), dlse(hq.bh * hq.rows);
  {
    py::gil_scoped_release nogil;
    k::sdpa_forward(dq.get(), dk.get(), dv.get(), dout.get(), dlse.get(), hq.bh, hq.rows, hk.rows,
                    hq.d, scale, causal);
  }
  auto ls = hq.lead;
  ls.push_back(static_cast<py::ssize_t>(hq.rows));
  return py::make_tuple(dout.download(shape_of(q)), dlse.download(ls));
}

py::tuple sdpa_backward(const Array& q, const Array& k, const Array& v, const Array& out,
                        const Array& dout, const Array& lse, float scale, bool causal) {
  const auto [hq, hk] = check_qkv(q, k, v, "sdpa_backward");
  same_shape(q, out, "sdpa_backward", "query", "out");
  same_shape(q, dout, "sdpa_backward", "query", "grad");
  if (lse.size() != hq.bh * hq.rows)
    throw py::value_error("sdpa_backward: lse must have one value per query row");
  DeviceBuf d_q(q), d_k(k), d_v(v), d_o(out), d_do(dout), d_lse(lse), delta(hq.bh * hq.rows),
      gq(q.size()), gk(k.size()), gv(v.size());
  {
    py::gil_scoped_release nogil;
    k::sdpa_backward(d_q.get(), d_k.get(), d_v.get(), d_o.get(), d_do.get(), d_lse.get(),
                     delta.get(), gq.get(), gk.get(), gv.get(), hq.bh, hq.rows, hk.rows, hq.d,
                     scale, causal);
  }
  return py::make_tuple(gq.download(shape_of(q)), gk.download(shape_of(k)), gv.download(shape_of(v)));
}

k::Conv2dShape conv_shape(const Array& x, const Array& w, std::pair<std::int64_t, std::int64_t> stride,
                          std::pair<std::int64_t, std::int64_t> padding,
                          std::pair<std::int64_t, std::int64_t> dilation, const char* fn) {
  if (x.ndim() != 4 || w.ndim() != 4)
    throw py::value_error(std::string(fn) + ": input must be (N, C, H, W) and weight (Cout, C, kh, kw)");
  if (w.shape(1) != x.shape(1))
    throw py::value_error(std::string(fn) + ": weight expects " + std::to_string(w.shape(1)) +
                          " input channels, input has " + std::to_string(x.shape(1)));
  k::Conv2dShape s{x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2),
                   w.shape(3), stride.first, stride.second, padding.first, padding.second,
                   dilation.first, dilation.second};
  if (s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1 || s.ph < 0 || s.pw < 0)
    throw py::value_error(std::string(fn) + ": stride and dilation must be >= 1, padding >= 0");
  if (s.Ho() < 1 || s.Wo() < 1)
    throw py::value_error(std::string(fn) + ": kernel size can't be greater than the padded input size");
  return s;
}

Array conv2d_forward(const Array& x, const Array& w, std::optional<Array> bias,
                     std::pair<std::int64_t, std::int64_t> stride,
                     std::pair<std::int64_t, std::int64_t> padding,
                     std::pair<std::int64_t, std::int64_t> dilation) {
  const k::Conv2dShape s = conv_shape(x, w, stride, padding, dilation, "conv2d_forward");
  if (bias && (bias->ndim() != 1 || bias->shape(0) != s.Cout))
    throw py::value_error("conv2d_forward: bias must have shape (" + std::to_string(s.Cout) + ",)");
  DeviceBuf dx(x), dw(w), dy(s.N * s.Cout * s.Ho() * s.Wo());
  std::unique_ptr<DeviceBuf> db;
  if (bias) db = std::make_unique<DeviceBuf>(*bias);
  {
    py::gil_scoped_release nogil;
    k::conv2d_forward(dx.get(), dw.get(), db ? db->get() : nullptr, dy.get(), s);
  }
  return dy.download({static_cast<py::ssize_t>(s.N), static_cast<py::ssize_t>(s.Cout),
                      static_cast<py::ssize_t>(s.Ho()), static_cast<py::ssize_t>(s.Wo())});
}

py::tuple conv2d_backward(const Array& x, const Array& w, const Array& dy, bool has_bias,
                          std::pair<std::int64_t, std::int64_t> stride,
                          std::pair<std::int64_t, std::int64_t> padding,
                          std::pair<std::int64_t, std::int64_t> dilation) {
  const k::Conv2dShape s = conv_shape(x, w, stride, padding, dilation, "conv2d_backward");
  const std::vector<py::ssize_t> ys{static_cast<py::ssize_t>(s.N), static_cast<py::ssize_t>(s.Cout),
                                    static_cast<py::ssize_t>(s.Ho()), static_cast<py::ssize_t>(s.Wo())};
  if (shape_of(dy) != ys) throw py::value_error("conv2d_backward: grad has the wrong shape");
  DeviceBuf d_x(x), d_w(w), d_dy(dy), gx(x.size()), gw(w.size()), gb(s.Cout);
  {
    py::gil_scoped_release nogil;
    k::conv2d_backward(d_x.get(), d_w.get(), d_dy.get(), gx.get(), gw.get(),
                       has_bias ? gb.get() : nullptr, s);
  }
  py::object bias_grad = py::none();
  if (has_bias) bias_grad = gb.download({static_cast<py::ssize_t>(s.Cout)});
  return py::make_tuple(gx.download(shape_of(x)), gw.download(shape_of(w)), bias_grad);
}

Array transpose2d(const Array& a) {
  if (a.ndim() != 2) throw py::value_error("transpose: expected a 2-D array");
  DeviceBuf din(a), dout(a.size());
  {
    py::gil_scoped_release nogil;
    k::transpose(din.get(), dout.get(), a.shape(0), a.shape(1));
  }
  return dout.download({a.shape(1), a.shape(0)});
}

k::Pool2dShape pool_shape(const Array& x, std::pair<std::int64_t, std::int64_t> kernel,
                          std::pair<std::int64_t, std::int64_t> stride,
                          std::pair<std::int64_t, std::int64_t> padding, const char* fn) {
  if (x.ndim() != 4) throw py::value_error(std::string(fn) + ": input must be (N, C, H, W)");
  k::Pool2dShape s{x.shape(0) * x.shape(1), x.shape(2), x.shape(3), kernel.first, kernel.second,
                   stride.first, stride.second, padding.first, padding.second};
  if (s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.ph < 0 || s.pw < 0)
    throw py::value_error(std::string(fn) + ": kernel_size and stride must be >= 1, padding >= 0");
  if (2 * s.ph > s.kh || 2 * s.pw > s.kw)
    throw py::value_error(std::string(fn) + ": pad should be at most half of effective kernel size");
  if (s.Ho() < 1 || s.Wo() < 1) throw py::value_error(std::string(fn) + ": output size is too small");
  return s;
}
std::vector<py::ssize_t> pool_out_shape(const Array& x, const k::Pool2dShape& s) {
  return {x.shape(0), x.shape(1), static_cast<py::ssize_t>(s.Ho()), static_cast<py::ssize_t>(s.Wo())};
}
using Pair = std::pair<std::int64_t, std::int64_t>;

py::tuple max_pool2d_forward(const Array& x, Pair kernel, Pair stride, Pair padding) {
  const k::Pool2dShape s = pool_shape(x, kernel, stride, padding, "max_pool2d");
  const auto os = pool_out_shape(x, s);
  DeviceBuf dx(x), dy(s.NC * s.Ho() * s.Wo());
  DeviceArray<std::int64_t> di(s.NC * s.Ho() * s.Wo());
  {
    py::gil_scoped_release nogil;
    k::max_pool2d_forward(dx.get(), dy.get(), di.get(), s);
  }
  return py::make_tuple(dy.download(os), di.download(os));
}
Array max_pool2d_backward(const Array& x, const Array& dy, const IndexArray& argmax, Pair kernel,
                          Pair stride, Pair padding) {
  const k::Pool2dShape s = pool_shape(x, kernel, stride, padding, "max_pool2d_backward");
  const auto os = pool_out_shape(x, s);
  if (shape_of(dy) != os || std::vector<py::ssize_t>(argmax.shape(), argmax.shape() + argmax.ndim()) != os)
    throw py::value_error("max_pool2d_backward: grad and indices must have the output's shape");
  DeviceBuf ddy(dy), ddx(x.size());
  DeviceArray<std::int64_t> di(argmax);
  {
    py::gil_scoped_release nogil;
    k::max_pool2d_backward(ddy.get(), di.get(), ddx.get(), s);
  }
  return ddx.download(shape_of(x));
}
Array avg_pool2d_forward(const Array& x, Pair kernel, Pair stride, Pair padding) {
  const k::Pool2dShape s = pool_shape(x, kernel, stride, padding, "avg_pool2d");
  DeviceBuf dx(x), dy(s.NC * s.Ho() * s.Wo());
  {
    py::gil_scoped_release nogil;
    k::avg_pool2d_forward(dx.get(), dy.get(), s);
  }
  return dy.download(pool_out_shape(x, s));
}
Array avg_pool2d_backward(const Array& x, const Array& dy, Pair kernel, Pair stride, Pair padding) {
  const k::Pool2dShape s = pool_shape(x, kernel, stride, padding, "avg_pool2d_backward");
  if (shape_of(dy) != pool_out_shape(x, s))
    throw py::value_error("avg_pool2d_backward: grad must have the output's shape");
  DeviceBuf ddy(dy), ddx(x.size());
  {
    py::gil_scoped_release nogil;
    k::avg_pool2d_backward(ddy.get(), ddx.get(), s);
  }
  return ddx.download(shape_of(x));
}

}  // namespace

void bind_kernels(py::module_& m) {
  m.def("relu_forward", [](const Array& x) { return unary(&k::relu_forward, x); }, py::arg("x"));
  m.def("relu_backward",
        [](const Array& x, const Array& dy) {
          return binary(&k::relu_backward, x, dy, "relu_backward", "x", "dy");
        },
        py::arg("x"), py::arg("dy"));
  m.def("gelu_forward", [](const Array& x) { return unary(&k::gelu_forward, x); }, py::arg("x"));
  m.def("gelu_backward",
        [](const Array& x, const Array& dy) {
          return binary(&k::gelu_backward, x, dy, "gelu_backward", "x", "dy");
        },
        py::arg("x"), py::arg("dy"));
  m.def("add_forward",
        [](const Array& a, const Array& b) {
          return binary(&k::add_forward, a, b, "add_forward", "a", "b");
        },
        py::arg("a"), py::arg("b"));
  m.def("sum_lastdim_forward", &sum_lastdim_forward, py::arg("x"));
  m.def("sum_lastdim_backward", &sum_lastdim_backward, py::arg("dy"), py::arg("C"));
  m.def("gemm", &gemm, py::arg("variant"), py::arg("A"), py::arg("B"),
        "C = A @ B; variant 0 naive, 1 shared-memory tiled, 2 register-blocked");
  m.def("softmax_forward", &softmax_forward, py::arg("variant"), py::arg("x"));
  m.def("softmax_backward", &softmax_backward, py::arg("variant"), py::arg("y"), py::arg("dy"));
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("eps"));
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("x"), py::arg("weight"),
        py::arg("mean"), py::arg("rstd"), py::arg("dy"));
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("logits"), py::arg("targets"),
        py::arg("ignore_index"));
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("logits"), py::arg("targets"),
        py::arg("lse"), py::arg("dloss"), py::arg("ignore_index"));
  m.def("embedding_forward", &embedding_forward, py::arg("weight"), py::arg("indices"));
  m.def("embedding_backward", &embedding_backward, py::arg("grad"), py::arg("indices"),
        py::arg("num_embeddings"));
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
        py::arg("nesterov"), py::arg("first_step"));
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("decoupled"), py::arg("step"));
  m.def("sdpa_forward", &sdpa_forward, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("scale"), py::arg("causal"));
  m.def("sdpa_backward", &sdpa_backward, py::arg("query"), py::arg("key"), py::arg("value"),
        py::arg("out"), py::arg("grad"), py::arg("lse"), py::arg("scale"), py::arg("causal"));
  m.def("conv2d_forward", &conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("conv2d_backward", &conv2d_backward, py::arg("input"), py::arg("weight"), py::arg("grad"),
        py::arg("has_bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("transpose", &transpose2d, py::arg("a"));
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"));
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("input"), py::arg("grad"),
        py::arg("indices"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"));
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"));
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("input"), py::arg("grad"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"));
}

}  // namespace pydl::cuda
