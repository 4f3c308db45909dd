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

// Optimizer hyperparameters (optim.cpp); see each kernel for its formula.
struct SgdParams {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false, first_step = false;  // first_step: buf = g
};
struct AdamParams {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0, step = 1;  // step: count after this one
  bool decoupled = false, amsgrad = false, maximize = false;               // decoupled: AdamW
};
struct AdagradParams { double clr = 0, eps = 0, weight_decay = 0; bool maximize = false; };
struct RmspropParams {
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool maximize = false;  // centered <=> grad_avg given, momentum <=> buf given
};
struct AdadeltaParams { double lr = 0, rho = 0, eps = 0, weight_decay = 0; bool maximize = false; };

// Pooling geometry of one [H, W] plane -> [OH, OW] (pooling.cpp). Max pooling
// uses the dilations; average pooling count_include_pad / divisor_override (0: none).
struct Pool2dParams {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};

// --- layers: local response norm parameters (lrn.cpp) ---
struct LrnParams { int64_t size = 1; double alpha = 1e-4, beta = 0.75, k = 1.0; };
// --- attention (sdpa) ---
// Scaled dot-product attention (attention.cpp): the arguments of one call,
// for BH (batch x head) slices. q / k / v slice bh starts at q + q_off[bh]
// (etc.); rows are strided by ldq / ldk / ldv, columns are contiguous. mask:
// kind 0 none, 1 bool (true = keep), 2 additive T; element (i, j) of slice bh
// at m_off[bh] + i*m_rs + j*m_cs. out [BH, L, Ev], lse [BH, L] contiguous.
// Backward also reads dout [BH, L, Ev], delta [BH, L] (rowsum(dout * out)) and
// writes dk [BH, S, E], dv [BH, S, Ev].
constexpr int64_t kSdpaBlockQ = 64;  // query rows per forward work item / backward tile
constexpr int64_t kSdpaBlockK = 64;  // keys per tile (a multiple of every vector width)
template <class T>
struct SdpaArgs {
  int64_t BH = 0, L = 0, S = 0, E = 0, Ev = 0;
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  const int64_t* q_off = nullptr;
  const int64_t* k_off = nullptr;
  const int64_t* v_off = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0;
  int mask_kind = 0;
  const void* mask = nullptr;
  const int64_t* m_off = nullptr;
  int64_t m_rs = 0, m_cs = 0;
  bool causal = false;
  T scale = 1;
  double dropout_p = 0;
  uint64_t seed = 0;
  T* out = nullptr;
  T* lse = nullptr;
  const T* dout = nullptr;
  const T* delta = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
};
// --- end attention (sdpa) ---

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
  // Pooling over `planes` contiguous [H, W] planes -> [OH, OW] planes (pooling.cpp;
  // f32/f64 only). idx (may be null for max_pool2d) gets the flat argmax within
  // its plane. Backwards write (not add) all of dx.
  void (*max_pool2d)(const T* x, int64_t planes, const Pool2dParams& p, T* y, int64_t* idx) = nullptr;
  void (*max_pool2d_reference)(const T* x, int64_t planes, const Pool2dParams& p, T* y,
                               int64_t* idx) = nullptr;
  void (*max_pool2d_backward)(const T* dy, const int64_t* idx, int64_t planes, int64_t in_plane,
                              int64_t out_plane, T* dx) = nullptr;  // also adaptive max
  void (*avg_pool2d)(const T* x, int64_t planes, const Pool2dParams& p, T* y) = nullptr;
  void (*avg_pool2d_reference)(const T* x, int64_t planes, const Pool2dParams& p, T* y) = nullptr;
  void (*avg_pool2d_backward)(const T* dy, int64_t planes, const Pool2dParams& p, T* dx) = nullptr;
  void (*avg_pool2d_backward_reference)(const T* dy, int64_t planes, const Pool2dParams& p,
                                        T* dx) = nullptr;
  void (*adaptive_avg_pool2d)(const T* x, int64_t planes, const Pool2dParams& p, T* y) = nullptr;
  void (*adaptive_avg_pool2d_backward)(const T* dy, int64_t planes, const Pool2dParams& p,
                                       T* dx) = nullptr;
  void (*adaptive_max_pool2d)(const T* x, int64_t planes, const Pool2dParams& p, T* y,
                              int64_t* idx) = nullptr;
  // Optimizer updates, in place over n contiguous elements of a parameter p and
  // its state (floating types only; optional state pointers may be null).
  void (*sgd_step)(T* p, const T* g, T* momentum_buf, int64_t n, const SgdParams& o) = nullptr;
  void (*adam_step)(T* p, const T* g, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                    const AdamParams& o) = nullptr;
  void (*adagrad_step)(T* p, const T* g, T* sum, int64_t n, const AdagradParams& o) = nullptr;
  void (*rmsprop_step)(T* p, const T* g, T* square_avg, T* grad_avg, T* momentum_buf, int64_t n,
                       const RmspropParams& o) = nullptr;
  void (*adadelta_step)(T* p, const T* g, T* square_avg, T* acc_delta, int64_t n,
                        const AdadeltaParams& o) = nullptr;
  // Softmax / log_softmax (softmax.cpp; f32/f64 only). rows: x[rows, R] along R;
  // cols: one [R, inner] block along R. log selects log_softmax.
  // stream: write y with non-temporal stores (outputs far larger than the caches).
  void (*softmax_rows)(const T* x, T* y, int64_t rows, int64_t R, bool log, bool stream) = nullptr;
  void (*softmax_rows_reference)(const T* x, T* y, int64_t rows, int64_t R, bool log) = nullptr;
  void (*softmax_cols)(const T* x, T* y, int64_t R, int64_t inner, bool log) = nullptr;
  void (*softmax_bwd_rows)(const T* y, const T* dy, T* dx, int64_t rows, int64_t R, bool log) = nullptr;
  void (*softmax_bwd_cols)(const T* y, const T* dy, T* dx, int64_t R, int64_t inner, bool log) = nullptr;
  // layer_norm over rows x[rows, N] (normalization.cpp); w, b, mean, rstd may be null.
  // The backward adds into dw/db (per-thread rows; may be null) and writes dx (may be null).
  void (*layer_norm_rows)(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                          int64_t N, double eps, bool stream) = nullptr;
  void (*layer_norm_rows_reference)(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                                    int64_t rows, int64_t N, double eps, bool stream) = nullptr;
  void (*layer_norm_bwd_rows)(const T* dy, const T* x, const T* mean, const T* rstd, const T* w,
                              T* dx, T* dw, T* db, int64_t rows, int64_t N) = nullptr;
  // batch_norm on channel c of x[N, C, L] (normalization.cpp).
  void (*bn_channel_stats)(const T* x, int64_t N, int64_t C, int64_t L, int64_t c, double* mean,
                           double* sq_dev) = nullptr;
  void (*bn_channel_apply)(const T* x, T* y, int64_t N, int64_t C, int64_t L, int64_t c, T mean,
                           T scale, T shift) = nullptr;
  void (*bn_channel_bwd_sums)(const T* dy, const T* x, int64_t N, int64_t C, int64_t L, int64_t c,
                              T mean, double* sum_dy, double* sum_dy_xmu) = nullptr;
  void (*bn_channel_bwd_apply)(const T* dy, const T* x, T* dx, int64_t N, int64_t C, int64_t L,
                               int64_t c, T mean, T a, T b, T k) = nullptr;
  // Cross-entropy fused with log_softmax over rows x[M, C] (loss.cpp); see that file.
  // lse holds 2 values per row: (max, log sum exp(x - max)).
  void (*ce_fwd_rows)(const T* x, const int64_t* target, const T* w, int64_t M, int64_t C,
                      int64_t ignore_index, bool smooth_too, T* lse, T* nll, T* smooth) = nullptr;
  void (*ce_fwd_rows_reference)(const T* x, const int64_t* target, const T* w, int64_t M, int64_t C,
                                int64_t ignore_index, bool smooth_too, T* lse, T* nll,
                                T* smooth) = nullptr;
  void (*ce_bwd_rows)(const T* x, const int64_t* target, const T* w, double wsum, const T* lse,
                      const T* scale, int64_t M, int64_t C, int64_t ignore_index, double ls,
                      T* dx) = nullptr;
  void (*ce_prob_fwd_rows)(const T* x, const T* q, const T* w, int64_t M, int64_t C, double ls,
                           T* lse, T* loss) = nullptr;
  void (*ce_prob_bwd_rows)(const T* x, const T* q, const T* w, const T* lse, const T* scale,
                           int64_t M, int64_t C, double ls, T* dx) = nullptr;
  // --- layers: embedding, dropout, local response norm (embedding.cpp, dropout.cpp, lrn.cpp) ---
  // embedding: w[V, D], idx[M] (checked in [0, V)), out[M, D]. Backward: dw[V, D] fully written;
  // bwd_rows writes embedding rows [v0, v1) from the CSR (pos, start) of positions by index.
  void (*embedding_fwd)(const T* w, const int64_t* idx, int64_t M, int64_t D, T* out) = nullptr;
  void (*embedding_fwd_reference)(const T* w, const int64_t* idx, int64_t M, int64_t D, T* out) = nullptr;
  void (*embedding_bwd_rows)(const T* g, const int64_t* pos, const int64_t* start, int64_t v0, int64_t v1,
                             int64_t D, int64_t padding_idx, T* dw) = nullptr;
  void (*embedding_bwd_reference)(const T* g, const int64_t* idx, int64_t M, int64_t V, int64_t D,
                                  int64_t padding_idx, T* dw) = nullptr;
  // dropout: y[i] = x[i] * (philox(seed, begin + i) < thr) * scale over n elements.
  void (*dropout_fwd)(const T* x, T* y, int64_t begin, int64_t n, uint64_t seed, uint32_t thr,
                      T scale) = nullptr;
  void (*dropout_reference)(const T* x, T* y, int64_t begin, int64_t n, uint64_t seed, uint32_t thr,
                            T scale) = nullptr;
  // local response norm on one block x[C, inner] (den: the saved denominator base d, like x);
  // the fast kernels take columns [j0, j1) and the channel stride cs.
  void (*lrn_fwd)(const T* x, T* y, T* den, int64_t C, int64_t cs, int64_t j0, int64_t j1,
                  const LrnParams& p) = nullptr;
  void (*lrn_bwd)(const T* g, const T* x, const T* y, const T* den, T* dx, int64_t C, int64_t cs, int64_t j0,
                  int64_t j1, const LrnParams& p) = nullptr;
  void (*lrn_fwd_reference)(const T* x, T* y, T* den, int64_t C, int64_t inner, const LrnParams& p) = nullptr;
  void (*lrn_bwd_reference)(const T* g, const T* x, const T* y, const T* den, T* dx, int64_t C, int64_t inner,
                            const LrnParams& p) = nullptr;
  // --- attention (sdpa) --- (attention.cpp; f32/f64 only)
  // flash forward of query rows [i0, i1) (at most kSdpaBlockQ) of slice bh
  void (*sdpa_fwd)(const SdpaArgs<T>& a, int64_t bh, int64_t i0, int64_t i1) = nullptr;
  void (*sdpa_fwd_reference)(const SdpaArgs<T>& a, int64_t bh) = nullptr;  // whole slice
  // flash backward of key rows [j0, j1) of slice bh: writes those dk / dv rows,
  // adds this tile's share of dq into dq_acc [L, E]
  void (*sdpa_bwd)(const SdpaArgs<T>& a, int64_t bh, int64_t j0, int64_t j1, T* dq_acc) = nullptr;
  void (*sdpa_bwd_reference)(const SdpaArgs<T>& a, int64_t bh, T* dq) = nullptr;  // dq [L, E] written
  // --- rnn cells (rnn_cell.cpp; f32/f64 only) ---
  // Pointwise part of one time step over B contiguous rows; see rnn_cell.cpp for
  // the layouts. Nullable: hg (no hidden projection), acts / ws (nothing saved),
  // bhh, and every upstream gradient (dh, dh2, dc: zero).
  void (*lstm_cell_fwd)(const T* xg, const T* hg, const T* c_prev, T* h, T* c, T* acts, int64_t B,
                        int64_t H) = nullptr;
  void (*lstm_cell_fwd_reference)(const T* xg, const T* hg, const T* c_prev, T* h, T* c, T* acts,
                                  int64_t B, int64_t H) = nullptr;
  void (*lstm_cell_bwd)(const T* dh, const T* dh2, const T* dc, const T* acts, const T* c_prev,
                        const T* c, T* dgates, T* dc_prev, int64_t B, int64_t H) = nullptr;
  void (*lstm_cell_bwd_reference)(const T* dh, const T* dh2, const T* dc, const T* acts,
                                  const T* c_prev, const T* c, T* dgates, T* dc_prev, int64_t B,
                                  int64_t H) = nullptr;
  void (*gru_cell_fwd)(const T* xg, const T* hg, const T* bhh, const T* h_prev, T* h, T* ws, int64_t B,
                       int64_t H) = nullptr;
  void (*gru_cell_fwd_reference)(const T* xg, const T* hg, const T* bhh, const T* h_prev, T* h, T* ws,
                                 int64_t B, int64_t H) = nullptr;
  void (*gru_cell_bwd)(const T* dh, const T* dh2, const T* ws, const T* h_prev, T* dxg, T* dhg,
                       T* dh_prev, int64_t B, int64_t H) = nullptr;
  void (*gru_cell_bwd_reference)(const T* dh, const T* dh2, const T* ws, const T* h_prev, T* dxg,
                                 T* dhg, T* dh_prev, int64_t B, int64_t H) = nullptr;
  void (*rnn_cell_fwd)(const T* xg, const T* hg, T* h, int64_t B, int64_t H, bool relu) = nullptr;
  void (*rnn_cell_fwd_reference)(const T* xg, const T* hg, T* h, int64_t B, int64_t H,
                                 bool relu) = nullptr;
  void (*rnn_cell_bwd)(const T* dh, const T* dh2, const T* h, T* dpre, int64_t B, int64_t H,
                       bool relu) = nullptr;
  void (*rnn_cell_bwd_reference)(const T* dh, const T* dh2, const T* h, T* dpre, int64_t B, int64_t H,
                                 bool relu) = nullptr;
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

// conv2d (conv2d.cpp): shapes of one call. x[N, C, H, W], w[OC, C/groups, KH, KW],
// y[N, OC, OH, OW], all contiguous; ph / pw are the top / left padding (the bottom /
// right padding shows only in OH / OW).
struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0, OC = 0, KH = 0, KW = 0, OH = 0, OW = 0;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1;
};
template <class T>
struct ConvFns {
  // y = conv(x, w) + bias (bias may be null); y overwritten.
  void (*forward)(const ConvShape& s, const T* x, const T* w, const T* bias, T* y,
                  GemmFn<T> gemm) = nullptr;
  // dx = grad of <y, dy> w.r.t. x; dx overwritten.
  void (*backward_input)(const ConvShape& s, const T* dy, const T* w, T* dx,
                         GemmFn<T> gemm) = nullptr;
  // dw = grad of <y, dy> w.r.t. w; dw overwritten.
  void (*backward_weight)(const ConvShape& s, const T* x, const T* dy, T* dw,
                          GemmFn<T> gemm) = nullptr;
};
constexpr int kMaxConvVariants = 8;
template <class T>
struct ConvVariants {
  int count = 0;
  const char* names[kMaxConvVariants] = {};
  ConvFns<T> fns[kMaxConvVariants] = {};
  void add(const char* name, ConvFns<T> f) {
    if (count < kMaxConvVariants) { names[count] = name; fns[count] = f; ++count; }
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
  ConvVariants<float> conv_f32;     // conv2d, reference first
  ConvVariants<double> conv_f64;
  // Machine probes (probe.cpp), at this ISA's vector width and the current
  // OpenMP thread count: FMA peak in GFLOP/s, STREAM triad bandwidth in GB/s.
  double (*probe_fma_gflops)(bool is_double) = nullptr;
  double (*probe_triad_gbs)(int64_t n_elements) = nullptr;
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
namespace scalar { void fill_pooling(CpuKernels&); void fill_softmax(CpuKernels&); void fill_norm(CpuKernels&); void fill_loss(CpuKernels&); void fill_conv(CpuKernels&); void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); void fill_optim(CpuKernels&); void fill_probe(CpuKernels&); }
namespace avx2 { void fill_pooling(CpuKernels&); void fill_softmax(CpuKernels&); void fill_norm(CpuKernels&); void fill_loss(CpuKernels&); void fill_conv(CpuKernels&); void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); void fill_optim(CpuKernels&); void fill_probe(CpuKernels&); }
namespace avx512 { void fill_pooling(CpuKernels&); void fill_softmax(CpuKernels&); void fill_norm(CpuKernels&); void fill_loss(CpuKernels&); void fill_conv(CpuKernels&); void fill_elementwise(CpuKernels&); void fill_reduce(CpuKernels&); void fill_matmul(CpuKernels&); void fill_optim(CpuKernels&); void fill_probe(CpuKernels&); }
// --- layers: embedding, dropout, lrn ---
namespace scalar { void fill_embedding(CpuKernels&); void fill_dropout(CpuKernels&); void fill_lrn(CpuKernels&); }
namespace avx2 { void fill_embedding(CpuKernels&); void fill_dropout(CpuKernels&); void fill_lrn(CpuKernels&); }
namespace avx512 { void fill_embedding(CpuKernels&); void fill_dropout(CpuKernels&); void fill_lrn(CpuKernels&); }

// --- attention (sdpa) ---
namespace scalar { void fill_attention(CpuKernels&); }
namespace avx2 { void fill_attention(CpuKernels&); }
namespace avx512 { void fill_attention(CpuKernels&); }

// --- rnn cells ---
namespace scalar { void fill_rnn(CpuKernels&); }
namespace avx2 { void fill_rnn(CpuKernels&); }
namespace avx512 { void fill_rnn(CpuKernels&); }

}  // namespace cpu
}  // namespace pydl
