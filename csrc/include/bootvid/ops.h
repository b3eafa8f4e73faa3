// Front-end functions of bootvid's ops (the C++ entry points behind torch.ops.bootvid.*).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <string>
#include <tuple>

namespace bootvid {

std::tuple<at::Tensor, at::Tensor> causal_conv3d(const at::Tensor& x, const at::Tensor& weight,
                                                 const std::optional<at::Tensor>& bias,
                                                 at::IntArrayRef stride, at::IntArrayRef padding,
                                                 const std::string& pad_mode,
                                                 const std::optional<at::Tensor>& cache);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> causal_conv3d_backward(
    const at::Tensor& grad_y, const std::optional<at::Tensor>& grad_new_cache, const at::Tensor& x,
    const at::Tensor& weight, const std::optional<at::Tensor>& cache, at::IntArrayRef stride,
    at::IntArrayRef padding, const std::string& pad_mode, std::array<bool, 3> output_mask);

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_act(
    const at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, double eps, bool per_frame, bool center,
    const std::string& act);
std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_act_backward(
    const at::Tensor& grad_y, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, const at::Tensor& mean, const at::Tensor& rstd,
    int64_t num_groups, bool per_frame, bool center, const std::string& act);

std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_group_norm(
    const at::Tensor& x, const at::Tensor& gamma, const std::optional<at::Tensor>& beta,
    int64_t num_groups, double eps, bool per_frame, bool center, const std::string& act);
std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_group_norm_backward(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& gamma,
    const std::optional<at::Tensor>& beta, const at::Tensor& mean, const at::Tensor& rstd,
    int64_t num_groups, bool per_frame, bool center, const std::string& act);

at::Tensor space_to_depth_3d(const at::Tensor& x, at::IntArrayRef factors, int64_t front);
at::Tensor depth_to_space_3d(const at::Tensor& x, at::IntArrayRef factors, int64_t front);

}  // namespace bootvid
