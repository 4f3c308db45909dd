// csrc/cuda/kernels/bind_kernels.h -- adds the kernel functions (bind_kernels.cpp) to a module.
#pragma once

#include <pybind11/pybind11.h>

namespace pydl::cuda {
void bind_kernels(pybind11::module_& m);
}
