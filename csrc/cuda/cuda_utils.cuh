// Device helpers shared by bootvid's CUDA kernels: integer division by run-time constants,
// warp reductions and launch sizes. Header-only; included by the .cu files alone.
#pragma once

#include <cuda_runtime.h>

#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>

#include <cstdint>

namespace bootvid {
namespace cuda {

constexpr int kWarpSize = 32;
constexpr int64_t kInt32Max = 2147483647;

// ---- division by a run-time constant ------------------------------------------------
// n / d for 0 <= n, with d >= 1 fixed at kernel launch. Where n and d fit in 31 bits (always,
// in practice), the quotient is a multiply-high, an add and a shift (Granlund-Montgomery,
// as PyTorch's IntDivider): with s = ceil(log2 d) and m' = floor(2^(32+s) / d) + 1 =
// 2^32 + m, floor(n m' / 2^(32+s)) = floor(n / d) for every n < 2^32, and t + n below
// cannot overflow 32 bits because t < n < 2^31. Other operands take the 64-bit division.
struct IdxDiv {
  int64_t d = 1;
  uint32_t m = 1;
  uint32_t s = 0;
  bool fast = true;

  IdxDiv() = default;
  explicit IdxDiv(int64_t divisor) : d(divisor) {
    TORCH_CHECK(divisor >= 1, "bootvid (internal): IdxDiv by ", divisor);
    fast = divisor <= kInt32Max;
    if (fast) {
      s = 0;
      while ((int64_t(1) << s) < divisor) ++s;
      const uint64_t magic = ((uint64_t(1) << 32) * ((uint64_t(1) << s) - uint64_t(divisor))) /
                                 uint64_t(divisor) + 1;
      TORCH_CHECK(magic >= 1 && magic <= 0xffffffffull, "bootvid (internal): IdxDiv magic");
      m = static_cast<uint32_t>(magic);
    }
  }

  C10_HOST_DEVICE C10_ALWAYS_INLINE int64_t div(int64_t n) const {
    if (fast && n >= 0 && n <= kInt32Max) {
      const uint32_t un = static_cast<uint32_t>(n);
#if defined(__CUDA_ARCH__)
      const uint32_t t = __umulhi(un, m);
#else
      const uint32_t t = static_cast<uint32_t>((uint64_t(un) * m) >> 32);
#endif
      return static_cast<int64_t>((t + un) >> s);
    }
    return n / d;
  }
  // n / d for 0 <= n <= 2^31 - 1 when fast (the caller guarantees both).
  C10_HOST_DEVICE C10_ALWAYS_INLINE uint32_t div32(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t t = __umulhi(n, m);
#else
    const uint32_t t = static_cast<uint32_t>((uint64_t(n) * m) >> 32);
#endif
    return (t + n) >> s;
  }
  // q = n / d, returns n % d.
  C10_HOST_DEVICE C10_ALWAYS_INLINE int64_t divmod(int64_t n, int64_t& q) const {
    q = div(n);
    return n - q * d;
  }
  C10_HOST_DEVICE C10_ALWAYS_INLINE uint32_t divmod(uint32_t n, uint32_t& q) const {
    q = div32(n);
    return n - q * static_cast<uint32_t>(d);
  }
};

// ---- reductions ---------------------------------------------------------------------
// Butterfly all-reduce over a warp: every lane ends with the same, bitwise identical sum
// (each step adds the same two operands on both lanes of a pair, and + is commutative).
template <typename T>
__device__ __forceinline__ T warp_allreduce_sum(T v) {
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid sizes for 1-D launches: gridDim.x may be up to 2^31 - 1.
inline unsigned int grid_1d(int64_t blocks, const char* what) {
  TORCH_CHECK(blocks >= 1 && blocks <= kInt32Max, "bootvid: ", what,
              ": the problem is too large for one launch (", blocks, " blocks)");
  return static_cast<unsigned int>(blocks);
}

}  // namespace cuda
}  // namespace bootvid
