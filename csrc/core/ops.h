// The op layer: one checked entry point per op. Each validates shapes,
// dtypes and devices (raising PyTorch's exception types), handles
// broadcasting and strides, and runs a kernel from the CPU table.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "cpu/kernels.h"

namespace pydl {

using cpu::BinaryOp;
using cpu::CompareOp;
using cpu::ReduceOp;
using cpu::UnaryGradOp;
using cpu::UnaryOp;

// Elementwise ------------------------------------------------------------------
Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0);
// dx = dy * f'(x); x or y may be empty tensors (storage == nullptr) when unused.
Tensor unary_grad(UnaryGradOp op, const Tensor& dy, const Tensor& x, const Tensor& y, double p0 = 0,
                  double p1 = 0);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// a = a (op) b in place; b broadcasts to a's shape.
void binary_(BinaryOp op, Tensor& a, const Tensor& b);
void unary_(UnaryOp op, Tensor& x, double p0 = 0, double p1 = 0);
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// Reductions -----------------------------------------------------------------
// dims empty => all dims. For Max/Min `indices` receives argmax/argmin when not null.
Tensor reduce(ReduceOp op, const Tensor& x, Shape dims, bool keepdim, Tensor* indices,
              const char* name);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim);
Tensor var(const Tensor& x, const Shape& dims, double correction, bool keepdim);
// Sums a (broadcast) gradient back to `shape`: the adjoint of broadcasting.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);
Tensor argmax(const Tensor& x, int64_t dim, bool has_dim, bool keepdim, bool is_max);

// Matmul -----------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
std::vector<std::string> gemm_variants(DType dtype);
void set_gemm_variant(const std::string& name);  // "" => fastest
std::string gemm_variant();

// Convolution (core/ops_conv.cpp, kernels in cpu/conv2d.cpp) --------------------------
// padding: [top, bottom, left, right]; stride, dilation: [h, w]. input 3-D (unbatched) or 4-D.
Tensor conv2d(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
              const Shape& stride, const Shape& padding, const Shape& dilation, int64_t groups);
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Shape& stride, const Shape& padding, const Shape& dilation,
                             int64_t groups);
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Shape& weight_shape,
                              const Shape& stride, const Shape& padding, const Shape& dilation,
                              int64_t groups);
std::vector<std::string> conv_variants(DType dtype);
void set_conv_variant(const std::string& name);  // "" or "auto" => per-shape default
std::string conv_variant();

// Softmax, normalization, losses (core/ops_softmax.cpp, ops_norm.cpp, ops_loss.cpp;
// kernels in cpu/softmax.cpp, normalization.cpp, loss.cpp) ----------------------
// log selects log_softmax. softmax_reference runs the plain reference kernel.
Tensor softmax(const Tensor& x, int64_t dim, bool log);
Tensor softmax_reference(const Tensor& x, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t dim, bool log);
// Returns {y, mean, rstd}; w, b may be null or empty. save_stats = false (no
// backward will run) leaves mean / rstd empty: two allocations fewer.
std::vector<Tensor> layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor* w,
                               const Tensor* b, double eps, bool reference = false,
                               bool save_stats = true);
// Returns {dx, dw, db} (empty tensors where not needed).
std::vector<Tensor> layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                        const Tensor& rstd, const Tensor* w, bool need_dx,
                                        bool need_dw, bool need_db);
// Returns {y, save_mean, save_rstd}; training updates running stats in place.
std::vector<Tensor> batch_norm(const Tensor& x, Tensor* running_mean, Tensor* running_var,
                               const Tensor* w, const Tensor* b, bool training, double momentum,
                               double eps);
std::vector<Tensor> batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& save_mean,
                                        const Tensor& save_rstd, const Tensor* w, bool training,
                                        bool need_dx, bool need_dw, bool need_db);
// reduction: 0 none, 1 mean, 2 sum. Returns {loss, lse per row}.
std::vector<Tensor> cross_entropy(const Tensor& input, const Tensor& target, const Tensor* weight,
                                  int64_t ignore_index, int64_t reduction, double label_smoothing,
                                  bool reference = false);
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                              const Tensor* weight, const Tensor& lse, int64_t ignore_index,
                              int64_t reduction, double label_smoothing);
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor* weight, int64_t ignore_index,
                int64_t reduction);
Tensor nll_loss_backward(const Tensor& grad, const Tensor& input, const Tensor& target,
                         const Tensor* weight, int64_t ignore_index, int64_t reduction);

// Optimizers -------------------------------------------------------------------
// Fused in-place update of parameter p from its gradient g (core/ops_optim.cpp,
// kernels in cpu/optim.cpp). State tensors have p's shape and dtype and are
// contiguous; a null pointer means the option that needs it is off.
void sgd_step(Tensor& p, const Tensor& g, Tensor* momentum_buf, const cpu::SgdParams& o);
void adam_step(Tensor& p, const Tensor& g, Tensor& exp_avg, Tensor& exp_avg_sq, Tensor* max_exp_avg_sq,
               const cpu::AdamParams& o);
void adagrad_step(Tensor& p, const Tensor& g, Tensor& sum, const cpu::AdagradParams& o);
void rmsprop_step(Tensor& p, const Tensor& g, Tensor& square_avg, Tensor* grad_avg, Tensor* momentum_buf,
                  const cpu::RmspropParams& o);
void adadelta_step(Tensor& p, const Tensor& g, Tensor& square_avg, Tensor& acc_delta,
                   const cpu::AdadeltaParams& o);

// Pooling (core/ops_pooling.cpp, kernels in cpu/pooling.cpp) -------------------
// x: [N, C, H, W] or [C, H, W]; kernel/stride/padding/dilation: 1 or 2 ints
// (stride empty: = kernel), checked as PyTorch. indices (may be null) gets the
// flat argmax within each H x W plane.
Tensor max_pool2d(const Tensor& x, const Shape& kernel, const Shape& stride, const Shape& padding,
                  const Shape& dilation, bool ceil_mode, Tensor* indices);
// dx for max_pool2d and adaptive_max_pool2d: dy scattered to the saved argmax.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& in_shape);
Tensor avg_pool2d(const Tensor& x, const Shape& kernel, const Shape& stride, const Shape& padding,
                  bool ceil_mode, bool count_include_pad, int64_t divisor_override, bool has_divisor);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& in_shape, const Shape& kernel,
                           const Shape& stride, const Shape& padding, bool ceil_mode,
                           bool count_include_pad, int64_t divisor_override, bool has_divisor);
Tensor adaptive_avg_pool2d(const Tensor& x, const Shape& output_size);
Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& in_shape);
Tensor adaptive_max_pool2d(const Tensor& x, const Shape& output_size, Tensor* indices);
std::vector<std::string> pool_variants(DType dtype);
void set_pool_variant(const std::string& name);  // "" => fastest
std::string pool_variant();

// --- layers: embedding, dropout, local response norm (core/ops_embedding.cpp, ops_dropout.cpp,
// ops_lrn.cpp; kernels in cpu/embedding.cpp, dropout.cpp, lrn.cpp). reference: the plain kernel. ---
// weight[V, D], indices (int64, any shape, each in [0, V) or IndexError) -> [*indices.shape, D].
Tensor embedding(const Tensor& weight, const Tensor& indices, bool reference = false);
// grad [*indices.shape, D] -> dweight [num_weights, D]; rows == padding_idx (< 0: none) get 0.
Tensor embedding_backward(const Tensor& grad, const Tensor& indices, int64_t num_weights, int64_t padding_idx,
                          bool reference = false);
// y = x * keep * 1/(1-p), keep from Philox(seed, flat index): same mask for any thread count;
// the backward is dropout(grad, p, seed).
Tensor dropout(const Tensor& x, double p, uint64_t seed, bool reference = false);
// Returns {y, den} (den = (sum x^2 over the window) / size * alpha + k, saved for the backward).
std::vector<Tensor> local_response_norm(const Tensor& x, int64_t size, double alpha, double beta, double k,
                                        bool reference = false);
Tensor local_response_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& y, const Tensor& den,
                                    int64_t size, double alpha, double beta, double k, bool reference = false);
// --- attention (sdpa) --- (core/ops_attention.cpp, kernels in cpu/attention.cpp)
// q (..., L, E), k (..., S, E), v (..., S, Ev), batch dims broadcast; mask (may be
// null) bool (true = keep) or q's dtype, broadcast to (batch..., L, S). scale: empty
// => 1/sqrt(E). seed drives the dropout mask. Returns {out (batch..., L, Ev), lse (batch..., L)}.
std::vector<Tensor> sdpa_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                                 bool is_causal, std::optional<double> scale, double dropout_p, uint64_t seed);
// Returns {dq, dk, dv} in the broadcast batch shape (the caller sums them back to the inputs').
std::vector<Tensor> sdpa_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor* mask, const Tensor& out, const Tensor& lse, bool is_causal,
                                  std::optional<double> scale, double dropout_p, uint64_t seed);
std::vector<std::string> attention_variants(DType dtype);
void set_attention_variant(const std::string& name);  // "" => flash
std::string attention_variant();
// --- rnn cells (core/ops_rnn.cpp, kernels in cpu/rnn_cell.cpp) ---------------
// One time step's pointwise part; see ops_rnn.cpp for shapes. Pointer arguments
// are optional (null: absent / zero). save: also return what the backward needs
// (LSTM acts [B, 4H], GRU ws [B, 4H]); reference: run the plain reference kernel.
std::vector<Tensor> lstm_cell(const Tensor& xg, const Tensor* hg, const Tensor& c_prev, bool save,
                              bool reference);  // {h, c, acts}
std::vector<Tensor> lstm_cell_backward(const Tensor* dh, const Tensor* dh2, const Tensor* dc,
                                       const Tensor& acts, const Tensor& c_prev, const Tensor& c,
                                       bool reference);  // {dgates, dc_prev}
std::vector<Tensor> gru_cell(const Tensor& xg, const Tensor* hg, const Tensor* bhh, const Tensor& h_prev,
                             bool save, bool reference);  // {h, ws}
std::vector<Tensor> gru_cell_backward(const Tensor* dh, const Tensor* dh2, const Tensor& ws,
                                      const Tensor& h_prev, bool reference);  // {dxg, dhg, dh_prev part}
Tensor rnn_cell(const Tensor& xg, const Tensor* hg, bool relu, bool reference);
Tensor rnn_cell_backward(const Tensor* dh, const Tensor* dh2, const Tensor& h, bool relu, bool reference);
std::vector<std::string> rnn_cell_variants(DType dtype);  // reference, fast
void set_rnn_cell_variant(const std::string& name);       // "" => fast
std::string rnn_cell_variant();
// The ladder of each (pydl.kernels): "reference" | "fast"; set "" => fast.
std::vector<std::string> embedding_variants(DType dtype);
void set_embedding_variant(const std::string& name);
std::string embedding_variant();
std::vector<std::string> dropout_variants(DType dtype);
void set_dropout_variant(const std::string& name);
std::string dropout_variant();
std::vector<std::string> lrn_variants(DType dtype);
void set_lrn_variant(const std::string& name);
std::string lrn_variant();

}  // namespace pydl
