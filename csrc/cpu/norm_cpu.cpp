// The CPU norm kernels' entry points: the scalar copy of norm_cpu_impl.h for the default
// ISA, and the run-time choice of the AVX2 copy (norm_cpu_avx2.cpp) where the CPU has it.
// BOOTVID_CPU_ISA=default in the environment forces the scalar copy (tests use it to cover
// math.h's formulas on every element).
#include <cstdlib>
#include <cstring>

#define BOOTVID_NORM_ISA scalar
#include "norm_cpu_impl.h"

namespace bootvid {
namespace scalar {
namespace {
template <typename scalar_t>
using Ops = ScalarOps<acc_type<scalar_t>>;
}  // namespace
}  // namespace scalar

namespace avx2 {
void norm_forward(const NormArgs& a, at::Tensor& y);
void norm_backward(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                   at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                   at::Tensor& grad_beta);
}  // namespace avx2

namespace {
bool use_avx2() {
  static const bool yes = [] {
    const char* isa = std::getenv("BOOTVID_CPU_ISA");
    if (isa != nullptr && std::strcmp(isa, "default") == 0) return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}
}  // namespace

void norm_forward_cpu(const NormArgs& a, at::Tensor& y) {
  if (use_avx2()) return avx2::norm_forward(a, y);
  scalar::norm_forward_impl<scalar::Ops>(a, y);
}

void norm_backward_cpu(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                       at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                       at::Tensor& grad_beta) {
  if (use_avx2()) {
    return avx2::norm_backward(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma, grad_beta);
  }
  scalar::norm_backward_impl<scalar::Ops>(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma,
                                          grad_beta);
}

}  // namespace bootvid
