// The contract between the op front-ends (csrc/ops.cpp: validation, layouts, allocation)
// and the device kernels (csrc/cpu/*, csrc/cuda/*). Front-ends hand kernels tensors that are
// already checked, in one of the two supported layouts, on one device.
#pragma once

#include <ATen/core/Tensor.h>

#include "bootvid/math.h"

namespace bootvid {

// Memory layouts the norm kernels read and write. Any other strided input is made
// contiguous (NCTHW) first.
enum class Layout { NCTHW, NTHWC };

// NTHWC when x is channels_last_3d-contiguous and not also plain contiguous.
Layout layout_of(const at::Tensor& x);
// x in `layout` (a no-op when it already is).
at::Tensor to_layout(const at::Tensor& x, Layout layout);
at::Tensor empty_in_layout(at::IntArrayRef sizes, const at::TensorOptions& opts, Layout layout);

// One normalisation problem: x is (B, C, T, H, W) in `layout`, G groups of C / G channels.
// Statistics per (b, g, t) over (C/G, H, W) when per_frame, else per (b, g) over
// (C/G, T, H, W). The affine after it is either per channel (weight, bias: (C) or
// undefined, meaning 1 and 0) or, when gamma is defined, per position:
// z = n * (1 + gamma[b, c, tsrc(t), h / sh, w / sw]) + beta[...] (beta may be undefined).
struct NormArgs {
  at::Tensor x;             // (B, C, T, H, W), fp32 / bf16 / fp16, in `layout`
  // Parameters, statistics and parameter gradients are fp32, or float64 for float64 x (CPU).
  at::Tensor weight, bias;  // (C), contiguous, or undefined
  at::Tensor gamma, beta;   // (B, C, Tl, Hl, Wl), x's dtype and layout, or undefined
  at::Tensor mean, rstd;    // (B, G, Ts), Ts = T if per_frame else 1, contiguous
  int64_t B = 0, C = 0, T = 0, H = 0, W = 0, G = 1;
  int64_t Tl = 1, Hl = 1, Wl = 1;  // gamma's (T, H, W)
  int64_t r = 1;                   // time ratio: T = 1 + r * (Tl - 1) (1 when Tl == 1)
  int64_t sh = 1, sw = 1;          // space ratios: H = sh * Hl, W = sw * Wl
  float eps = 1e-6f;
  bool per_frame = true;
  bool center = true;
  int act = kActNone;
  Layout layout = Layout::NCTHW;
  bool modulated() const { return gamma.defined(); }
};

// The instruction set the CPU norm kernels run with: "default", "avx2" or "avx512" (the
// best the CPU has, capped by BOOTVID_CPU_ISA).
const char* cpu_isa_name();

// Forward: writes y (x's sizes, dtype and layout) and the statistics mean, rstd.
void norm_forward_cpu(const NormArgs& a, at::Tensor& y);
// Backward: grad_y is in x's layout. Writes grad_x (x's dtype and layout); when not
// modulated and weight/bias given, grad_weight / grad_bias ((C)); when modulated,
// grad_gamma / grad_beta (gamma's sizes, x's layout; grad_beta always computed).
void norm_backward_cpu(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                       at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                       at::Tensor& grad_beta);

// Space/time <-> depth. `out` is allocated by the front-end with the right sizes; both
// tensors may have any strides. factors = (ft, fh, fw); front as in math.h's Front.
void space_to_depth_cpu(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                        int front);
void depth_to_space_cpu(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                        int front);

#ifdef BOOTVID_WITH_CUDA
void norm_forward_cuda(const NormArgs& a, at::Tensor& y);
void norm_backward_cuda(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                        at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                        at::Tensor& grad_beta);
void space_to_depth_cuda(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                         int front);
void depth_to_space_cuda(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                         int front);
#endif

}  // namespace bootvid
