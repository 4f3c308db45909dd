// The op layer: one checked entry point per op. Each validates shapes,
// dtypes and devices (raising PyTorch's exception types), handles
// broadcasting and strides, and runs a kernel from the CPU table.
#pragma once
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

}  // namespace pydl
