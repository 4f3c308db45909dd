// Zero-copy exchange with numpy (buffer protocol) and DLPack (numpy, torch).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/tensor.h"

namespace pydl {
Tensor from_numpy(pybind11::array arr);
pybind11::array to_numpy(const Tensor& t);
pybind11::capsule to_dlpack(const Tensor& t);
Tensor from_dlpack(pybind11::capsule cap);
}  // namespace pydl
