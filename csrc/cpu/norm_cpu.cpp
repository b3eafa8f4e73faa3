// The CPU norm kernels' entry points: the scalar copy of norm_cpu_impl.h for the default
// ISA, and the run-time choice of the AVX2 or AVX-512 copy (norm_cpu_avx2.cpp,
// norm_cpu_avx512.cpp) where the CPU has it. BOOTVID_CPU_ISA=default|avx2|avx512 in the
// environment caps the choice (never above what the CPU has): the tests run every copy.
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

#define BOOTVID_DECLARE_WIDE(ns)                                                            \
  namespace ns {                                                                           \
  void norm_forward(const NormArgs& a, at::Tensor& y);                                     \
  void norm_backward(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,      \
                     at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma, \
                     at::Tensor& grad_beta);                                               \
  }
BOOTVID_DECLARE_WIDE(avx2)
BOOTVID_DECLARE_WIDE(avx512)
#undef BOOTVID_DECLARE_WIDE

namespace {
enum class Isa { kDefault, kAvx2, kAvx512 };

Isa cpu_isa() {
  static const Isa isa = [] {
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq");
    Isa best = avx512 ? Isa::kAvx512 : avx2 ? Isa::kAvx2 : Isa::kDefault;
    const char* cap = std::getenv("BOOTVID_CPU_ISA");
    if (cap != nullptr && std::strcmp(cap, "default") == 0) best = Isa::kDefault;
    if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && best == Isa::kAvx512) best = Isa::kAvx2;
    return best;
  }();
  return isa;
}
}  // namespace

const char* cpu_isa_name() {
  switch (cpu_isa()) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "default";
  }
}

void norm_forward_cpu(const NormArgs& a, at::Tensor& y) {
  switch (cpu_isa()) {
    case Isa::kAvx512: return avx512::norm_forward(a, y);
    case Isa::kAvx2: return avx2::norm_forward(a, y);
    default: return scalar::norm_forward_impl<scalar::Ops>(a, y);
  }
}

void norm_backward_cpu(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                       at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                       at::Tensor& grad_beta) {
  switch (cpu_isa()) {
    case Isa::kAvx512:
      return avx512::norm_backward(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma, grad_beta);
    case Isa::kAvx2:
      return avx2::norm_backward(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma, grad_beta);
    default:
      return scalar::norm_backward_impl<scalar::Ops>(a, grad_y, grad_x, grad_weight, grad_bias,
                                                     grad_gamma, grad_beta);
  }
}

}  // namespace bootvid
