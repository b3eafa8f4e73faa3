// The CPU norm kernels for AVX2 + FMA: compiled with -mavx2 -mfma -mf16c and
// CPU_CAPABILITY_AVX2, so norm_cpu_impl.h's VecOps is 8 fp32 lanes wide here.
// norm_cpu.cpp picks this copy at run time. The kernels live in their own namespace; inline
// functions of the shared headers (ATen, c10) that this file also emits are kept by the
// linker from the first object that has them, and ops.cpp and norm_cpu.cpp (default ISA)
// come before this file in the sources, so no AVX2 code runs on a CPU without it.
#define BOOTVID_NORM_ISA avx2
#include "norm_cpu_impl.h"

namespace bootvid {
namespace avx2 {

void norm_forward(const NormArgs& a, at::Tensor& y) { norm_forward_impl<WideOps>(a, y); }

void norm_backward(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                   at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                   at::Tensor& grad_beta) {
  norm_backward_impl<WideOps>(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma, grad_beta);
}

}  // namespace avx2
}  // namespace bootvid
