// Recurrent cells: the pointwise part of one LSTM / GRU / Elman-RNN time step,
// forward and backward, each in one pass over its rows.
//
// Compiled once per ISA (PYDL_ISA_NS = scalar | avx2 | avx512); fills the rnn
// members of the f32 / f64 tables. Single-threaded over a block of batch rows:
// the op layer (core/ops_rnn.cpp) splits the batch over OpenMP threads.
//
// The GEMMs of a step (x @ W_ih^T, h @ W_hh^T) are not here: they run through
// the matmul op, and a sequence precomputes the input projection of all time
// steps in one GEMM (pydl/ops/rnn.py). What a cell gets per row b:
//   xg[b, G*H]   input projection (with whatever biases the caller folded in)
//   hg[b, G*H]   hidden projection h_prev @ W_hh^T, or null (= 0: first step of
//                a sequence without hx, or a caller that already summed it into xg)
// Gate blocks are laid out as in PyTorch's weights: LSTM [i | f | g | o] (G = 4),
// GRU [r | z | n] (G = 3), RNN one block (G = 1).
//
// LSTM   i, f, o = sigmoid(.), g = tanh(.) of xg + hg
//        c = f * c_prev + i * g,  h = o * tanh(c)
//        saves acts[b, 4H] = [i | f | g | o] (post-activation) for the backward,
//        which also reads c_prev and c (tanh(c) is recomputed: one tanh per
//        element is cheaper than another B*H tensor per time step).
// GRU    (PyTorch's formulation: the reset gate scales the hidden projection
//        *including* its bias b_hn)
//        r = sigmoid(xg_r + hg_r + bhh_r), z = sigmoid(xg_z + hg_z + bhh_z)
//        hn = hg_n + bhh_n,  n = tanh(xg_n + r * hn),  h = (1 - z) * n + z * h_prev
//        saves ws[b, 4H] = [r | z | n | hn]. bhh (3H) may be null.
// RNN    h = tanh(xg + hg) or relu(xg + hg); the backward reads h only.
//
// Backwards take two upstream gradients of h, dh (from the output) and dh2
// (from the next time step), either may be null, and sum them on the fly: a
// sequence never materialises dh + dh2.
//   LSTM   -> dgates[b, 4H] (gradient of the pre-activations, i.e. of xg, of hg
//             and of the biases) and dc_prev[b, H]; dc (may be null) is the
//             gradient reaching c from outside.
//   GRU    -> dxg[b, 3H], dhg[b, 3H] (they differ in the n block: dhg_n =
//             dn_pre * r), and the direct part of dh_prev = dh * z (the caller
//             adds dhg @ W_hh).
//   RNN    -> dpre[b, H].
//
// Variants, each next to the other:
//   reference   plain scalar loops in double with std::exp / std::tanh:
//               obviously right; the tests compare the fast variant with it.
//   fast        one `#pragma omp simd` loop per row over H with vmath's
//               branch-free sigmoid / tanh (<= 2 ulp), so a step reads each
//               input once and writes each output once, at the ISA's full
//               vector width. The null-pointer choices are template flags, so the
//               vector loop itself has no branches.
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vmath.h"

namespace pydl {
namespace cpu {
namespace PYDL_ISA_NS {
namespace {

namespace vm = ::pydl::vmath;

inline double ref_sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// ---------------------------------------------------------------------------
// reference: plain loops in double
// ---------------------------------------------------------------------------
template <class T>
void lstm_fwd_reference(const T* xg, const T* hg, const T* c_prev, T* h, T* c, T* acts, int64_t B,
                        int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < H; ++j) {
      double pre[4];
      for (int k = 0; k < 4; ++k) {
        const int64_t at = b * 4 * H + k * H + j;
        pre[k] = (double)xg[at] + (hg ? (double)hg[at] : 0.0);
      }
      const double i = ref_sigmoid(pre[0]), f = ref_sigmoid(pre[1]), g = std::tanh(pre[2]),
                   o = ref_sigmoid(pre[3]);
      const double cn = f * (double)c_prev[b * H + j] + i * g;
      c[b * H + j] = (T)cn;
      h[b * H + j] = (T)(o * std::tanh(cn));
      if (acts) {
        T* a = acts + b * 4 * H + j;
        a[0] = (T)i; a[H] = (T)f; a[2 * H] = (T)g; a[3 * H] = (T)o;
      }
    }
  }
}

template <class T>
void lstm_bwd_reference(const T* dh, const T* dh2, const T* dc, const T* acts, const T* c_prev,
                        const T* c, T* dgates, T* dc_prev, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < H; ++j) {
      const int64_t e = b * H + j;
      const T* a = acts + b * 4 * H + j;
      const double i = a[0], f = a[H], g = a[2 * H], o = a[3 * H];
      const double gh = (dh ? (double)dh[e] : 0.0) + (dh2 ? (double)dh2[e] : 0.0);
      const double tc = std::tanh((double)c[e]);
      const double dct = (dc ? (double)dc[e] : 0.0) + gh * o * (1.0 - tc * tc);
      T* d = dgates + b * 4 * H + j;
      d[0] = (T)(dct * g * i * (1.0 - i));
      d[H] = (T)(dct * (double)c_prev[e] * f * (1.0 - f));
      d[2 * H] = (T)(dct * i * (1.0 - g * g));
      d[3 * H] = (T)(gh * tc * o * (1.0 - o));
      dc_prev[e] = (T)(dct * f);
    }
  }
}

template <class T>
void gru_fwd_reference(const T* xg, const T* hg, const T* bhh, const T* h_prev, T* h, T* ws,
                       int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < H; ++j) {
      const T* x = xg + b * 3 * H + j;
      const T* hh = hg ? hg + b * 3 * H + j : nullptr;
      auto hpart = [&](int k) {
        return (hh ? (double)hh[k * H] : 0.0) + (bhh ? (double)bhh[k * H + j] : 0.0);
      };
      const double r = ref_sigmoid((double)x[0] + hpart(0));
      const double z = ref_sigmoid((double)x[H] + hpart(1));
      const double hn = hpart(2);
      const double n = std::tanh((double)x[2 * H] + r * hn);
      h[b * H + j] = (T)((1.0 - z) * n + z * (double)h_prev[b * H + j]);
      if (ws) {
        T* w = ws + b * 4 * H + j;
        w[0] = (T)r; w[H] = (T)z; w[2 * H] = (T)n; w[3 * H] = (T)hn;
      }
    }
  }
}

template <class T>
void gru_bwd_reference(const T* dh, const T* dh2, const T* ws, const T* h_prev, T* dxg, T* dhg,
                       T* dh_prev, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < H; ++j) {
      const int64_t e = b * H + j;
      const T* w = ws + b * 4 * H + j;
      const double r = w[0], z = w[H], n = w[2 * H], hn = w[3 * H];
      const double gh = (dh ? (double)dh[e] : 0.0) + (dh2 ? (double)dh2[e] : 0.0);
      const double dn = gh * (1.0 - z) * (1.0 - n * n);
      const double dz = gh * ((double)h_prev[e] - n) * z * (1.0 - z);
      const double dr = dn * hn * r * (1.0 - r);
      T* dx = dxg + b * 3 * H + j;
      T* dhh = dhg + b * 3 * H + j;
      dx[0] = dhh[0] = (T)dr;
      dx[H] = dhh[H] = (T)dz;
      dx[2 * H] = (T)dn;
      dhh[2 * H] = (T)(dn * r);
      dh_prev[e] = (T)(gh * z);
    }
  }
}

template <class T>
void rnn_fwd_reference(const T* xg, const T* hg, T* h, int64_t B, int64_t H, bool relu) {
  for (int64_t e = 0; e < B * H; ++e) {
    const double v = (double)xg[e] + (hg ? (double)hg[e] : 0.0);
    h[e] = (T)(relu ? (v < 0 ? 0.0 : v) : std::tanh(v));
  }
}

template <class T>
void rnn_bwd_reference(const T* dh, const T* dh2, const T* h, T* dpre, int64_t B, int64_t H,
                       bool relu) {
  for (int64_t e = 0; e < B * H; ++e) {
    const double gh = (dh ? (double)dh[e] : 0.0) + (dh2 ? (double)dh2[e] : 0.0);
    const double y = h[e];
    dpre[e] = (T)(relu ? (y > 0 ? gh : 0.0) : gh * (1.0 - y * y));
  }
}

// ---------------------------------------------------------------------------
// fast: one vectorised pass per row. Flags say which optional pointers exist.
// ---------------------------------------------------------------------------
template <class T, bool HG, bool SAVE>
void lstm_fwd_rows(const T* __restrict xg, const T* __restrict hg, const T* __restrict c_prev,
                   T* __restrict h, T* __restrict c, T* __restrict acts, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    const T* x = xg + b * 4 * H;
    const T* hh = HG ? hg + b * 4 * H : nullptr;
    const T* cp = c_prev + b * H;
    T* hr = h + b * H;
    T* cr = c + b * H;
    T* a = SAVE ? acts + b * 4 * H : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T pi = x[j], pf = x[H + j], pg = x[2 * H + j], po = x[3 * H + j];
      if (HG) { pi += hh[j]; pf += hh[H + j]; pg += hh[2 * H + j]; po += hh[3 * H + j]; }
      const T i = vm::sigmoid(pi), f = vm::sigmoid(pf), g = vm::tanh(pg), o = vm::sigmoid(po);
      const T cn = f * cp[j] + i * g;
      cr[j] = cn;
      hr[j] = o * vm::tanh(cn);
      if (SAVE) { a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o; }
    }
  }
}

template <class T>
void lstm_fwd(const T* xg, const T* hg, const T* c_prev, T* h, T* c, T* acts, int64_t B, int64_t H) {
  if (hg) {
    if (acts) lstm_fwd_rows<T, true, true>(xg, hg, c_prev, h, c, acts, B, H);
    else lstm_fwd_rows<T, true, false>(xg, hg, c_prev, h, c, acts, B, H);
  } else {
    if (acts) lstm_fwd_rows<T, false, true>(xg, hg, c_prev, h, c, acts, B, H);
    else lstm_fwd_rows<T, false, false>(xg, hg, c_prev, h, c, acts, B, H);
  }
}

// dh, dh2, dc: null pointers are replaced by a row of zeros by the caller of
// the row loop (one branch per call, none per element).
template <class T>
void lstm_bwd_rows(const T* __restrict dh, const T* __restrict dh2, const T* __restrict dc,
                   const T* __restrict acts, const T* __restrict c_prev, const T* __restrict c,
                   T* __restrict dgates, T* __restrict dc_prev, int64_t B, int64_t H,
                   int64_t sdh, int64_t sdh2, int64_t sdc) {
  for (int64_t b = 0; b < B; ++b) {
    const T* g1 = dh + b * sdh;
    const T* g2 = dh2 + b * sdh2;
    const T* gc = dc + b * sdc;
    const T* a = acts + b * 4 * H;
    const T* cp = c_prev + b * H;
    const T* cr = c + b * H;
    T* d = dgates + b * 4 * H;
    T* dcp = dc_prev + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
      const T gh = g1[j] + g2[j];
      const T tc = vm::tanh(cr[j]);
      const T dct = gc[j] + gh * o * (T(1) - tc * tc);
      d[j] = dct * g * i * (T(1) - i);
      d[H + j] = dct * cp[j] * f * (T(1) - f);
      d[2 * H + j] = dct * i * (T(1) - g * g);
      d[3 * H + j] = gh * tc * o * (T(1) - o);
      dcp[j] = dct * f;
    }
  }
}

// A row of zeros standing for an absent gradient: stride 0, so every row reads it.
template <class T>
struct ZeroRow {
  std::vector<T> z;
  explicit ZeroRow(int64_t H) : z(H, T(0)) {}
};

template <class T>
void lstm_bwd(const T* dh, const T* dh2, const T* dc, const T* acts, const T* c_prev, const T* c,
              T* dgates, T* dc_prev, int64_t B, int64_t H) {
  ZeroRow<T> zero(dh && dh2 && dc ? 0 : H);
  lstm_bwd_rows<T>(dh ? dh : zero.z.data(), dh2 ? dh2 : zero.z.data(), dc ? dc : zero.z.data(), acts,
                   c_prev, c, dgates, dc_prev, B, H, dh ? H : 0, dh2 ? H : 0, dc ? H : 0);
}

template <class T, bool HG, bool BIAS, bool SAVE>
void gru_fwd_rows(const T* __restrict xg, const T* __restrict hg, const T* __restrict bhh,
                  const T* __restrict h_prev, T* __restrict h, T* __restrict ws, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    const T* x = xg + b * 3 * H;
    const T* hh = HG ? hg + b * 3 * H : nullptr;
    const T* hp = h_prev + b * H;
    T* hr = h + b * H;
    T* w = SAVE ? ws + b * 4 * H : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T hr_ = 0, hz_ = 0, hn = 0;
      if (HG) { hr_ = hh[j]; hz_ = hh[H + j]; hn = hh[2 * H + j]; }
      if (BIAS) { hr_ += bhh[j]; hz_ += bhh[H + j]; hn += bhh[2 * H + j]; }
      const T r = vm::sigmoid(x[j] + hr_);
      const T z = vm::sigmoid(x[H + j] + hz_);
      const T n = vm::tanh(x[2 * H + j] + r * hn);
      hr[j] = (T(1) - z) * n + z * hp[j];
      if (SAVE) { w[j] = r; w[H + j] = z; w[2 * H + j] = n; w[3 * H + j] = hn; }
    }
  }
}

template <class T>
void gru_fwd(const T* xg, const T* hg, const T* bhh, const T* h_prev, T* h, T* ws, int64_t B, int64_t H) {
  const int key = (hg ? 4 : 0) | (bhh ? 2 : 0) | (ws ? 1 : 0);
  switch (key) {
    case 0: gru_fwd_rows<T, false, false, false>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 1: gru_fwd_rows<T, false, false, true>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 2: gru_fwd_rows<T, false, true, false>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 3: gru_fwd_rows<T, false, true, true>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 4: gru_fwd_rows<T, true, false, false>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 5: gru_fwd_rows<T, true, false, true>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    case 6: gru_fwd_rows<T, true, true, false>(xg, hg, bhh, h_prev, h, ws, B, H); break;
    default: gru_fwd_rows<T, true, true, true>(xg, hg, bhh, h_prev, h, ws, B, H); break;
  }
}

template <class T>
void gru_bwd(const T* dh, const T* dh2, const T* ws, const T* h_prev, T* dxg, T* dhg, T* dh_prev,
             int64_t B, int64_t H) {
  ZeroRow<T> zero(dh && dh2 ? 0 : H);
  const T* g1b = dh ? dh : zero.z.data();
  const T* g2b = dh2 ? dh2 : zero.z.data();
  const int64_t s1 = dh ? H : 0, s2 = dh2 ? H : 0;
  for (int64_t b = 0; b < B; ++b) {
    const T* __restrict g1 = g1b + b * s1;
    const T* __restrict g2 = g2b + b * s2;
    const T* __restrict w = ws + b * 4 * H;
    const T* __restrict hp = h_prev + b * H;
    T* __restrict dx = dxg + b * 3 * H;
    T* __restrict dhh = dhg + b * 3 * H;
    T* __restrict dp = dh_prev + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
      const T gh = g1[j] + g2[j];
      const T dn = gh * (T(1) - z) * (T(1) - n * n);
      const T dz = gh * (hp[j] - n) * z * (T(1) - z);
      const T dr = dn * hn * r * (T(1) - r);
      dx[j] = dr; dhh[j] = dr;
      dx[H + j] = dz; dhh[H + j] = dz;
      dx[2 * H + j] = dn;
      dhh[2 * H + j] = dn * r;
      dp[j] = gh * z;
    }
  }
}

template <class T>
void rnn_fwd(const T* xg, const T* hg, T* h, int64_t B, int64_t H, bool relu) {
  const int64_t n = B * H;
  if (relu) {
    if (hg) {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) { const T v = xg[e] + hg[e]; h[e] = v < T(0) ? T(0) : v; }
    } else {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) { const T v = xg[e]; h[e] = v < T(0) ? T(0) : v; }
    }
  } else {
    if (hg) {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) h[e] = vm::tanh(xg[e] + hg[e]);
    } else {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) h[e] = vm::tanh(xg[e]);
    }
  }
}

template <class T>
void rnn_bwd(const T* dh, const T* dh2, const T* h, T* dpre, int64_t B, int64_t H, bool relu) {
  const int64_t n = B * H;
  // Absent gradients: sum what is there (both absent: zeros).
  if (dh && dh2) {
    if (relu) {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) dpre[e] = h[e] > T(0) ? dh[e] + dh2[e] : T(0);
    } else {
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) dpre[e] = (dh[e] + dh2[e]) * (T(1) - h[e] * h[e]);
    }
    return;
  }
  const T* g = dh ? dh : dh2;
  if (!g) {
    for (int64_t e = 0; e < n; ++e) dpre[e] = T(0);
    return;
  }
  if (relu) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) dpre[e] = h[e] > T(0) ? g[e] : T(0);
  } else {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) dpre[e] = g[e] * (T(1) - h[e] * h[e]);
  }
}

template <class T>
void fill_typed(TypedKernels<T>& t) {
  t.lstm_cell_fwd = &lstm_fwd<T>;
  t.lstm_cell_fwd_reference = &lstm_fwd_reference<T>;
  t.lstm_cell_bwd = &lstm_bwd<T>;
  t.lstm_cell_bwd_reference = &lstm_bwd_reference<T>;
  t.gru_cell_fwd = &gru_fwd<T>;
  t.gru_cell_fwd_reference = &gru_fwd_reference<T>;
  t.gru_cell_bwd = &gru_bwd<T>;
  t.gru_cell_bwd_reference = &gru_bwd_reference<T>;
  t.rnn_cell_fwd = &rnn_fwd<T>;
  t.rnn_cell_fwd_reference = &rnn_fwd_reference<T>;
  t.rnn_cell_bwd = &rnn_bwd<T>;
  t.rnn_cell_bwd_reference = &rnn_bwd_reference<T>;
}

}  // namespace

void fill_rnn(CpuKernels& k) {
  fill_typed(k.f32);
  fill_typed(k.f64);
}

}  // namespace PYDL_ISA_NS
}  // namespace cpu
}  // namespace pydl
