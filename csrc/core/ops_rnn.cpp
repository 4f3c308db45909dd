// Recurrent-cell op layer: argument checks, batch split over threads, and the
// choice of the reference or fast kernel (kernels in cpu/rnn_cell.cpp).
//
// Every op works on one time step of 2-D tensors, rows = batch (B):
//   lstm_cell  xg[B, 4H], hg[B, 4H] (optional), c_prev[B, H] -> h, c, acts[B, 4H]
//   gru_cell   xg[B, 3H], hg[B, 3H] (optional), bhh[3H] (optional), h_prev[B, H] -> h, ws[B, 4H]
//   rnn_cell   xg[B, H],  hg[B, H] (optional) -> h
// and their backwards. Inputs are made contiguous here (a no-op for the views a
// sequence passes: one time step of a contiguous [T, B, G*H] tensor).
#include <omp.h>

#include <algorithm>
#include <atomic>

#include "core/ops.h"

namespace pydl {
namespace {

// Below this many output elements per step a parallel region costs more than
// it saves (one step of a small LSTM is a few microseconds of work).
constexpr int64_t kRnnParallelGrain = 4096;

// pydl.kernels.variant("rnn_cell", ...): 0 = reference, 1 = fast (the default).
std::atomic<int> g_variant{1};
bool use_reference(bool asked) { return asked || g_variant.load() == 0; }

// Runs f(r0, rows) over batch-row blocks, one block per thread when the step is big enough.
template <class F>
void for_row_blocks(int64_t B, int64_t work, F&& f) {
  const int nt = omp_get_max_threads();
  if (nt <= 1 || B <= 1 || work < kRnnParallelGrain) {
    f(int64_t(0), B);
    return;
  }
  const int64_t nb = std::min<int64_t>(nt, B);
  const int64_t chunk = (B + nb - 1) / nb;
#pragma omp parallel for schedule(static) num_threads(nb)
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t r0 = blk * chunk;
    if (r0 < B) f(r0, std::min(chunk, B - r0));
  }
}

void check_float(const Tensor& t, const char* op, const char* name, DType dtype) {
  check_cpu(t, op);
  PYDL_CHECK(is_floating(t.dtype), RuntimeError, op, ": expected ", name,
             " to be a floating point tensor, but got ", dtype_name(t.dtype));
  PYDL_CHECK(t.dtype == dtype, RuntimeError, op, ": expected ", name, " to have dtype ",
             dtype_name(dtype), ", but got ", dtype_name(t.dtype));
}

void check_2d(const Tensor& t, const char* op, const char* name, int64_t rows, int64_t cols) {
  PYDL_CHECK(t.dim() == 2 && t.shape[0] == rows && t.shape[1] == cols, RuntimeError, op, ": expected ",
             name, " of shape [", rows, ", ", cols, "], but got ", shape_str(t.shape));
}

template <class T>
const T* ptr(const Tensor* t) { return t ? t->data<T>() : nullptr; }

// Optional operand: contiguous copy kept alive in `store`, or null.
const Tensor* opt_contig(const Tensor* t, Tensor& store) {
  if (!t) return nullptr;
  store = contiguous(*t);
  return &store;
}

// Shared checks of the gates tensor xg[B, G*H] against the state [B, H].
void check_gates(const Tensor& xg, const Tensor* hg, const Tensor& state, int64_t G, const char* op,
                 const char* state_name) {
  check_cpu(xg, op);
  PYDL_CHECK(is_floating(xg.dtype), RuntimeError, op, ": expected input gates to be a floating point tensor, but got ",
             dtype_name(xg.dtype));
  PYDL_CHECK(xg.dim() == 2, RuntimeError, op, ": expected input gates to be 2-D [batch, ", G,
             " * hidden_size], but got ", shape_str(xg.shape));
  check_float(state, op, state_name, xg.dtype);
  PYDL_CHECK(state.dim() == 2, RuntimeError, op, ": expected ", state_name,
             " to be 2-D [batch, hidden_size], but got ", shape_str(state.shape));
  const int64_t B = state.shape[0], H = state.shape[1];
  PYDL_CHECK(xg.shape[0] == B && xg.shape[1] == G * H, RuntimeError, op, ": input gates of shape ",
             shape_str(xg.shape), " do not match ", state_name, " of shape ", shape_str(state.shape),
             " (expected [", B, ", ", G * H, "])");
  if (hg) {
    check_float(*hg, op, "hidden gates", xg.dtype);
    PYDL_CHECK(hg->shape == xg.shape, RuntimeError, op,
               ": input_gates and hidden_gates must have the same shape, got ", shape_str(xg.shape),
               " and ", shape_str(hg->shape));
  }
}

}  // namespace

std::vector<std::string> rnn_cell_variants(DType) { return {"reference", "fast"}; }

void set_rnn_cell_variant(const std::string& name) {
  if (name.empty() || name == "fast") g_variant = 1;
  else if (name == "reference") g_variant = 0;
  else throw ValueError(str("unknown rnn_cell variant '", name, "' (variants: reference, fast)"));
}

std::string rnn_cell_variant() { return g_variant.load() == 0 ? "reference" : "fast"; }

std::vector<Tensor> lstm_cell(const Tensor& xg_in, const Tensor* hg_in, const Tensor& c_in, bool save,
                              bool reference) {
  const char* op = "lstm_cell";
  check_gates(xg_in, hg_in, c_in, 4, op, "cx");
  const int64_t B = c_in.shape[0], H = c_in.shape[1];
  Tensor xg = contiguous(xg_in), c_prev = contiguous(c_in), hg_store;
  const Tensor* hg = opt_contig(hg_in, hg_store);
  Tensor h = empty({B, H}, xg.dtype), c = empty({B, H}, xg.dtype);
  Tensor acts = save ? empty({B, 4 * H}, xg.dtype) : Tensor();
  if (B * H == 0) return {h, c, acts};
  dispatch_dtype(xg.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.lstm_cell_fwd_reference : k.lstm_cell_fwd;
      const T *px = xg.data<T>(), *ph = ptr<T>(hg), *pc = c_prev.data<T>();
      T *oh = h.data<T>(), *oc = c.data<T>(), *oa = save ? acts.data<T>() : nullptr;
      for_row_blocks(B, 4 * B * H, [&](int64_t r0, int64_t n) {
        fn(px + r0 * 4 * H, ph ? ph + r0 * 4 * H : nullptr, pc + r0 * H, oh + r0 * H, oc + r0 * H,
           oa ? oa + r0 * 4 * H : nullptr, n, H);
      });
    }
  });
  return {h, c, acts};
}

std::vector<Tensor> lstm_cell_backward(const Tensor* dh_in, const Tensor* dh2_in, const Tensor* dc_in,
                                       const Tensor& acts_in, const Tensor& c_prev_in, const Tensor& c_in,
                                       bool reference) {
  const char* op = "lstm_cell_backward";
  check_cpu(c_in, op);
  PYDL_CHECK(is_floating(c_in.dtype) && c_in.dim() == 2, RuntimeError, op,
             ": expected cy to be a 2-D floating point tensor, but got ", dtype_name(c_in.dtype), " ",
             shape_str(c_in.shape));
  const int64_t B = c_in.shape[0], H = c_in.shape[1];
  const DType dt = c_in.dtype;
  check_float(c_prev_in, op, "cx", dt);
  check_2d(c_prev_in, op, "cx", B, H);
  check_float(acts_in, op, "workspace", dt);
  check_2d(acts_in, op, "workspace", B, 4 * H);
  const Tensor* gs[3] = {dh_in, dh2_in, dc_in};
  const char* gn[3] = {"grad_hy", "grad_hy (recurrent)", "grad_cy"};
  for (int i = 0; i < 3; ++i)
    if (gs[i]) { check_float(*gs[i], op, gn[i], dt); check_2d(*gs[i], op, gn[i], B, H); }
  Tensor acts = contiguous(acts_in), c_prev = contiguous(c_prev_in), c = contiguous(c_in);
  Tensor s0, s1, s2;
  const Tensor* dh = opt_contig(dh_in, s0);
  const Tensor* dh2 = opt_contig(dh2_in, s1);
  const Tensor* dc = opt_contig(dc_in, s2);
  Tensor dgates = empty({B, 4 * H}, dt), dc_prev = empty({B, H}, dt);
  if (B * H == 0) return {dgates, dc_prev};
  dispatch_dtype(dt, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.lstm_cell_bwd_reference : k.lstm_cell_bwd;
      const T *g1 = ptr<T>(dh), *g2 = ptr<T>(dh2), *gc = ptr<T>(dc);
      const T *pa = acts.data<T>(), *pcp = c_prev.data<T>(), *pc = c.data<T>();
      T *odg = dgates.data<T>(), *odc = dc_prev.data<T>();
      for_row_blocks(B, 4 * B * H, [&](int64_t r0, int64_t n) {
        const int64_t o = r0 * H;
        fn(g1 ? g1 + o : nullptr, g2 ? g2 + o : nullptr, gc ? gc + o : nullptr, pa + 4 * o, pcp + o,
           pc + o, odg + 4 * o, odc + o, n, H);
      });
    }
  });
  return {dgates, dc_prev};
}

std::vector<Tensor> gru_cell(const Tensor& xg_in, const Tensor* hg_in, const Tensor* bhh_in,
                             const Tensor& h_in, bool save, bool reference) {
  const char* op = "gru_cell";
  check_gates(xg_in, hg_in, h_in, 3, op, "hx");
  const int64_t B = h_in.shape[0], H = h_in.shape[1];
  if (bhh_in) {
    check_float(*bhh_in, op, "hidden bias", xg_in.dtype);
    PYDL_CHECK(bhh_in->dim() == 1 && bhh_in->shape[0] == 3 * H, RuntimeError, op,
               ": expected hidden bias of shape [", 3 * H, "], but got ", shape_str(bhh_in->shape));
  }
  Tensor xg = contiguous(xg_in), h_prev = contiguous(h_in), s0, s1;
  const Tensor* hg = opt_contig(hg_in, s0);
  const Tensor* bhh = opt_contig(bhh_in, s1);
  Tensor h = empty({B, H}, xg.dtype);
  Tensor ws = save ? empty({B, 4 * H}, xg.dtype) : Tensor();
  if (B * H == 0) return {h, ws};
  dispatch_dtype(xg.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.gru_cell_fwd_reference : k.gru_cell_fwd;
      const T *px = xg.data<T>(), *ph = ptr<T>(hg), *pb = ptr<T>(bhh), *php = h_prev.data<T>();
      T *oh = h.data<T>(), *ow = save ? ws.data<T>() : nullptr;
      for_row_blocks(B, 3 * B * H, [&](int64_t r0, int64_t n) {
        fn(px + r0 * 3 * H, ph ? ph + r0 * 3 * H : nullptr, pb, php + r0 * H, oh + r0 * H,
           ow ? ow + r0 * 4 * H : nullptr, n, H);
      });
    }
  });
  return {h, ws};
}

std::vector<Tensor> gru_cell_backward(const Tensor* dh_in, const Tensor* dh2_in, const Tensor& ws_in,
                                      const Tensor& h_prev_in, bool reference) {
  const char* op = "gru_cell_backward";
  check_cpu(h_prev_in, op);
  PYDL_CHECK(is_floating(h_prev_in.dtype) && h_prev_in.dim() == 2, RuntimeError, op,
             ": expected hx to be a 2-D floating point tensor, but got ", dtype_name(h_prev_in.dtype), " ",
             shape_str(h_prev_in.shape));
  const int64_t B = h_prev_in.shape[0], H = h_prev_in.shape[1];
  const DType dt = h_prev_in.dtype;
  check_float(ws_in, op, "workspace", dt);
  check_2d(ws_in, op, "workspace", B, 4 * H);
  const Tensor* gs[2] = {dh_in, dh2_in};
  const char* gn[2] = {"grad_hy", "grad_hy (recurrent)"};
  for (int i = 0; i < 2; ++i)
    if (gs[i]) { check_float(*gs[i], op, gn[i], dt); check_2d(*gs[i], op, gn[i], B, H); }
  Tensor ws = contiguous(ws_in), h_prev = contiguous(h_prev_in), s0, s1;
  const Tensor* dh = opt_contig(dh_in, s0);
  const Tensor* dh2 = opt_contig(dh2_in, s1);
  Tensor dxg = empty({B, 3 * H}, dt), dhg = empty({B, 3 * H}, dt), dh_prev = empty({B, H}, dt);
  if (B * H == 0) return {dxg, dhg, dh_prev};
  dispatch_dtype(dt, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.gru_cell_bwd_reference : k.gru_cell_bwd;
      const T *g1 = ptr<T>(dh), *g2 = ptr<T>(dh2), *pw = ws.data<T>(), *php = h_prev.data<T>();
      T *ox = dxg.data<T>(), *ohg = dhg.data<T>(), *op_ = dh_prev.data<T>();
      for_row_blocks(B, 3 * B * H, [&](int64_t r0, int64_t n) {
        const int64_t o = r0 * H;
        fn(g1 ? g1 + o : nullptr, g2 ? g2 + o : nullptr, pw + 4 * o, php + o, ox + 3 * o, ohg + 3 * o,
           op_ + o, n, H);
      });
    }
  });
  return {dxg, dhg, dh_prev};
}

Tensor rnn_cell(const Tensor& xg_in, const Tensor* hg_in, bool relu, bool reference) {
  const char* op = relu ? "rnn_relu_cell" : "rnn_tanh_cell";
  check_cpu(xg_in, op);
  PYDL_CHECK(is_floating(xg_in.dtype), RuntimeError, op,
             ": expected input gates to be a floating point tensor, but got ", dtype_name(xg_in.dtype));
  PYDL_CHECK(xg_in.dim() == 2, RuntimeError, op, ": expected input gates to be 2-D [batch, hidden_size], but got ",
             shape_str(xg_in.shape));
  const int64_t B = xg_in.shape[0], H = xg_in.shape[1];
  if (hg_in) {
    check_float(*hg_in, op, "hidden gates", xg_in.dtype);
    PYDL_CHECK(hg_in->shape == xg_in.shape, RuntimeError, op,
               ": input_gates and hidden_gates must have the same shape, got ", shape_str(xg_in.shape),
               " and ", shape_str(hg_in->shape));
  }
  Tensor xg = contiguous(xg_in), s0;
  const Tensor* hg = opt_contig(hg_in, s0);
  Tensor h = empty({B, H}, xg.dtype);
  if (B * H == 0) return h;
  dispatch_dtype(xg.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.rnn_cell_fwd_reference : k.rnn_cell_fwd;
      const T *px = xg.data<T>(), *ph = ptr<T>(hg);
      T* oh = h.data<T>();
      for_row_blocks(B, B * H, [&](int64_t r0, int64_t n) {
        fn(px + r0 * H, ph ? ph + r0 * H : nullptr, oh + r0 * H, n, H, relu);
      });
    }
  });
  return h;
}

Tensor rnn_cell_backward(const Tensor* dh_in, const Tensor* dh2_in, const Tensor& h_in, bool relu,
                         bool reference) {
  const char* op = relu ? "rnn_relu_cell_backward" : "rnn_tanh_cell_backward";
  check_cpu(h_in, op);
  PYDL_CHECK(is_floating(h_in.dtype) && h_in.dim() == 2, RuntimeError, op,
             ": expected hy to be a 2-D floating point tensor, but got ", dtype_name(h_in.dtype), " ",
             shape_str(h_in.shape));
  const int64_t B = h_in.shape[0], H = h_in.shape[1];
  const Tensor* gs[2] = {dh_in, dh2_in};
  const char* gn[2] = {"grad_hy", "grad_hy (recurrent)"};
  for (int i = 0; i < 2; ++i)
    if (gs[i]) { check_float(*gs[i], op, gn[i], h_in.dtype); check_2d(*gs[i], op, gn[i], B, H); }
  Tensor h = contiguous(h_in), s0, s1;
  const Tensor* dh = opt_contig(dh_in, s0);
  const Tensor* dh2 = opt_contig(dh2_in, s1);
  Tensor dpre = empty({B, H}, h.dtype);
  if (B * H == 0) return dpre;
  dispatch_dtype(h.dtype, [&](auto* tp) {
    using T = std::remove_pointer_t<decltype(tp)>;
    if constexpr (std::is_floating_point_v<T>) {
      const auto& k = cpu::typed<T>();
      auto fn = use_reference(reference) ? k.rnn_cell_bwd_reference : k.rnn_cell_bwd;
      const T *g1 = ptr<T>(dh), *g2 = ptr<T>(dh2), *ph = h.data<T>();
      T* od = dpre.data<T>();
      for_row_blocks(B, B * H, [&](int64_t r0, int64_t n) {
        const int64_t o = r0 * H;
        fn(g1 ? g1 + o : nullptr, g2 ? g2 + o : nullptr, ph + o, od + o, n, H, relu);
      });
    }
  });
  return dpre;
}

}  // namespace pydl
