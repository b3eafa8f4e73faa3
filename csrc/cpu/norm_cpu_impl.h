// The CPU group-norm kernels, written once and compiled twice: norm_cpu.cpp builds them for
// the default ISA with scalar arithmetic, norm_cpu_avx2.cpp and norm_cpu_avx512.cpp with 8- and
// 16-wide Vectorized<float> (VecOps below).
// The including file defines BOOTVID_NORM_ISA, the namespace this copy lives in, so the two
// copies never share a symbol (the linker could otherwise keep the AVX2 one for both).
//
// Structure, innermost first:
//  * "runs": contiguous stretches of x whose coefficients come from a run-wide constant
//    (Bcast) or from a parallel array (Cols). forward_run / backward_sums_run /
//    backward_dx_run evaluate the per-element formulas over a run; they are generic over the
//    arithmetic (Ops): the bulk uses the wide ops, the tail the scalar ops, which evaluate
//    math.h's formulas (double versions below for float64 inputs).
//  * layouts: NcthwKernels / NthwcKernels cut a block of the problem (one frame of one
//    batch, a range of groups) into runs and keep the per-group and per-channel sums.
//  * the driver (forward_impl / backward_impl, bottom) runs the blocks in parallel, combines
//    their partial results in a fixed order and owns everything the two layouts share.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <type_traits>
#include <vector>

#include "bootvid/kernels.h"

#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#endif

#ifndef BOOTVID_NORM_ISA
#error "define BOOTVID_NORM_ISA (this compiled copy's namespace) before including norm_cpu_impl.h"
#endif

namespace bootvid {
namespace BOOTVID_NORM_ISA {

// fp32 arithmetic for fp32/bf16/fp16 storage, double for float64 inputs.
template <typename scalar_t>
using acc_type = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

// Elements summed in fp32 lanes before the partial sum moves to double: long fp32 sums lose
// digits that the fp32-vs-float64 tests (~1e-5) notice. 2048 floats also stay in L1.
constexpr int64_t kChunk = 2048;
// NTHWC sums per channel over a chunk of pixels of about this many elements: a fp32 sum
// per channel then adds a few hundred values at most, and the chunk (128 KB) stays in L2
// for the second statistics pass. Larger than kChunk to amortise the per-group merges.
constexpr int64_t kPixelChunk = 32768;
// The backward caches a block's dn (one frame of a group, or of all groups in NTHWC) for
// its second pass when it is at most this large; beyond, the buffer would leave the cache
// and cost a fresh allocation per call, so act' is evaluated again instead.
constexpr int64_t kMaxDnCacheBytes = int64_t(4) << 20;

// ---- scalar arithmetic --------------------------------------------------------------
// math.h's formulas are float-only (they are what the GPU runs); float64 inputs, CPU only,
// evaluate the same formulas in double.
namespace f64 {
inline double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }
inline double act_forward(double z, int act) { return act == kActSilu ? z * sigmoid(z) : z; }
inline double act_grad(double z, int act) {
  if (act != kActSilu) return 1.0;
  const double s = sigmoid(z);
  return s * (1.0 + z * (1.0 - s));
}
inline double normalize(double x, double mean, double rstd) { return (x - mean) * rstd; }
inline double norm_input_grad(double dn, double n, double mean_dn, double mean_dn_n, double rstd,
                              bool center) {
  return rstd * (dn - (center ? mean_dn : 0.0) - n * mean_dn_n);
}
}  // namespace f64

// One element at a time; VecOps below has the same interface.
template <typename acc_t>
struct ScalarOps {
  using V = acc_t;
  static constexpr int64_t kWidth = 1;
  static constexpr bool kF64 = std::is_same_v<acc_t, double>;

  static V zero() { return V(0); }
  static V set1(acc_t v) { return v; }
  template <typename P>
  static V load(const P* p) { return static_cast<V>(*p); }
  template <typename P>
  static void store(P* p, V v) { *p = static_cast<P>(v); }
  static V fma(V a, V b, V c) { return a * b + c; }
  static acc_t hsum(V v) { return v; }

  static V normalize(V x, V mean, V rstd) {
    if constexpr (kF64) return f64::normalize(x, mean, rstd);
    else return bootvid::normalize(x, mean, rstd);
  }
  // The affine after the normalisation (the wide ops may reassociate it).
  static V affine(V x, V mean, V rstd, V scale, V shift) {
    return normalize(x, mean, rstd) * scale + shift;
  }
  static V act_forward(V z, int act) {
    if constexpr (kF64) return f64::act_forward(z, act);
    else return bootvid::act_forward(z, act);
  }
  static V act_grad(V z, int act) {
    if constexpr (kF64) return f64::act_grad(z, act);
    else return bootvid::act_grad(z, act);
  }
  static V norm_input_grad(V dn, V n, V mean_dn, V mean_dn_n, V rstd, bool center) {
    if constexpr (kF64) return f64::norm_input_grad(dn, n, mean_dn, mean_dn_n, rstd, center);
    else return bootvid::norm_input_grad(dn, n, mean_dn, mean_dn_n, rstd, center);
  }
};

// ---- wide arithmetic: ScalarOps' interface on a Vectorized<float> ------------------
// For the copies compiled with CPU_CAPABILITY_AVX2 (8 lanes) or _AVX512 (16 lanes). bf16/fp16
// are converted on load and rounded on store; the math is math.h's, re-expressed on
// vectors.
#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
struct VecOps {
  using V = at::vec::Vectorized<float>;
  static constexpr int64_t kWidth = V::size();

  static V zero() { return V(0.f); }
  static V set1(float v) { return V(v); }
  static V load(const float* p) { return V::loadu(p); }
  static V load(const c10::BFloat16* p) {
    V v;
    at::vec::load_fp32_from_bf16(p, v);
    return v;
  }
  static V load(const c10::Half* p) {
    V v;
    at::vec::load_fp32_from_fp16(p, v);
    return v;
  }
  static void store(float* p, V v) { v.store(p); }
#if defined(CPU_CAPABILITY_AVX512)
  static void store(c10::BFloat16* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), at::vec::cvtfp32_bf16(__m512(v)));
  }
  static void store(c10::Half* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), at::vec::cvtfp32_fp16(__m512(v)));
  }
#else
  static void store(c10::BFloat16* p, V v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), at::vec::cvtfp32_bf16(__m256(v)));
  }
  static void store(c10::Half* p, V v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), at::vec::cvtfp32_fp16(__m256(v)));
  }
#endif
  static V fma(V a, V b, V c) { return at::vec::fmadd(a, b, c); }
  static float hsum(V v) {
    return at::vec::vec_reduce_all<float>([](V a, V b) { return a + b; }, v);
  }

  static V normalize(V x, V mean, V rstd) { return (x - mean) * rstd; }
  // normalize(x) * scale + shift as (x - mean) * (rstd * scale) + shift: where rstd and
  // scale are run-wide, the product leaves the loop.
  static V affine(V x, V mean, V rstd, V scale, V shift) {
    return fma(x - mean, rstd * scale, shift);
  }

  // exp(x), inlined: Sleef's is an out-of-line call, every live vector is spilled around it
  // and the loop serialises on it (SiLU cost 3x the rest of the kernel). exp(x) = 2^n 2^f
  // with n = round(x log2 e); f = x log2 e - n comes from two FMAs (log2 e split in two
  // floats), so it stays exact for large |x|; 2^f on [-1/2, 1/2] is a degree-5 minimax
  // polynomial (1.6e-7 relative). ~1.5 ulp in all.
  static V exp(V x) {
    const V xc = at::vec::clamp(x, V(-87.f), V(88.f));
    const V n = (xc * V(1.44269502163f)).round();
    V f = at::vec::fmsub(xc, V(1.44269502163f), n);
    f = fma(xc, V(1.925963033e-8f), f);  // log2 e - 1.44269502163f
    V p = V(1.326474011875689e-3f);
    p = fma(p, f, V(9.671512991189957e-3f));
    p = fma(p, f, V(5.550733581185341e-2f));
    p = fma(p, f, V(2.4022242426872253e-1f));
    p = fma(p, f, V(6.931470036506653e-1f));
    p = fma(p, f, V(1.f));
#if defined(CPU_CAPABILITY_AVX512)
    return _mm512_scalef_ps(p, n);
#else  // 2^n added to the exponent bits (n is within [-126, 127])
    const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
#endif
  }
  // 1 / d from the hardware estimate and one Newton step (~2 ulp): the division's
  // throughput, not the exp, bounded the SiLU loops. d = 1 + exp(-z) is finite (exp clamps);
  // where it exceeds 2^126 the estimate is 0 and so is the result, as it nearly should be.
  static V reciprocal(V d) {
#if defined(CPU_CAPABILITY_AVX512)
    const V r = _mm512_rcp14_ps(d);
#else
    const V r = _mm256_rcp_ps(d);
#endif
    return fma(at::vec::fnmadd(d, r, V(1.f)), r, r);
  }
  static V sigmoid(V z) { return reciprocal(V(1.f) + exp(z.neg())); }
  static V act_forward(V z, int act) { return act == kActSilu ? z * sigmoid(z) : z; }
  static V act_grad(V z, int act) {
    if (act != kActSilu) return V(1.f);
    const V s = sigmoid(z);
    return s * fma(z, V(1.f) - s, V(1.f));
  }
  static V norm_input_grad(V dn, V n, V mean_dn, V mean_dn_n, V rstd, bool center) {
    return rstd * at::vec::fnmadd(n, mean_dn_n, center ? dn - mean_dn : dn);
  }
};

// float64 has no wide path: it is there for exactness (gradcheck), not speed.
template <typename scalar_t>
using WideOps = std::conditional_t<std::is_same_v<scalar_t, double>, ScalarOps<double>, VecOps>;
#endif

// ---- loops over a run ---------------------------------------------------------------
// body(ops, i) for i in [0, n): VO (wide) steps for the bulk, SO (scalar) for the tail.
template <class VO, class SO, class F>
inline void vec_for(int64_t n, F&& body) {
  int64_t i = 0;
  if constexpr (VO::kWidth > 1) {
    for (; i + VO::kWidth <= n; i += VO::kWidth) body(VO{}, i);
  }
  for (; i < n; ++i) body(SO{}, i);
}

// Sums of the N values f(ops, i) returns (a std::array) over [0, n). Four independent vector
// chains per sum: with one, the add latency and not the loads would bound the statistics.
template <int N, class VO, class SO, class F>
inline std::array<typename SO::V, N> sum_span(int64_t n, F&& f) {
  std::array<typename SO::V, N> total{};
  int64_t i = 0;
  if constexpr (VO::kWidth > 1) {
    constexpr int64_t K = VO::kWidth;
    std::array<typename VO::V, N> a[4];
    for (auto& ak : a) ak.fill(VO::zero());
    auto add = [&](std::array<typename VO::V, N>& acc, int64_t j) {
      const auto v = f(VO{}, j);
      for (int q = 0; q < N; ++q) acc[q] = acc[q] + v[q];
    };
    for (; i + 4 * K <= n; i += 4 * K) {
      for (int u = 0; u < 4; ++u) add(a[u], i + u * K);
    }
    for (; i + K <= n; i += K) add(a[0], i);
    for (int q = 0; q < N; ++q) total[q] = VO::hsum((a[0][q] + a[1][q]) + (a[2][q] + a[3][q]));
  }
  for (; i < n; ++i) {
    const auto v = f(SO{}, i);
    for (int q = 0; q < N; ++q) total[q] += v[q];
  }
  return total;
}

// Column sums of a rows x nc matrix (a NTHWC chunk of pixels x channels): out[q][i] += the
// sum over rows r of f(ops, r, i)[q]. The row loop runs innermost on register accumulators
// (tiles of 4 vectors, then single vectors, then scalars): measured faster than sweeping
// rows in memory order with the accumulators in memory.
template <int U, int N, class O, typename P, class F>
inline void column_tile(int64_t rows, int64_t i, const std::array<P*, N>& out, F& f) {
  constexpr int64_t K = O::kWidth;
  std::array<std::array<typename O::V, N>, U> acc;
  for (auto& a : acc) a.fill(O::zero());
  for (int64_t r = 0; r < rows; ++r) {
    for (int u = 0; u < U; ++u) {
      const auto v = f(O{}, r, i + u * K);
      for (int q = 0; q < N; ++q) acc[u][q] = acc[u][q] + v[q];
    }
  }
  for (int u = 0; u < U; ++u)
    for (int q = 0; q < N; ++q)
      O::store(out[q] + i + u * K, O::load(out[q] + i + u * K) + acc[u][q]);
}

template <int N, class VO, class SO, class F>
inline void column_sums(int64_t rows, int64_t nc, const std::array<typename SO::V*, N>& out,
                        F&& f) {
  int64_t i = 0;
  if constexpr (VO::kWidth > 1) {
    for (; i + 4 * VO::kWidth <= nc; i += 4 * VO::kWidth) column_tile<4, N, VO>(rows, i, out, f);
    for (; i + VO::kWidth <= nc; i += VO::kWidth) column_tile<1, N, VO>(rows, i, out, f);
  }
  for (; i < nc; ++i) column_tile<1, N, SO>(rows, i, out, f);
}

// Coefficients of a run: one value for all of it, or one per element from an array.
template <typename T>
struct Bcast { T v; };
template <typename T>
struct Cols { const T* p; };
template <typename T>
struct ColsPlusOne { const T* p; };  // 1 + gamma, read straight from a NTHWC gamma row

template <class O, typename T>
inline typename O::V coef(const Bcast<T>& c, int64_t) { return O::set1(c.v); }
template <class O, typename T>
inline typename O::V coef(const Cols<T>& c, int64_t i) { return O::load(c.p + i); }
template <class O, typename T>
inline typename O::V coef(const ColsPlusOne<T>& c, int64_t i) {
  return O::load(c.p + i) + O::set1(1);
}

// Targets of sums over a run: registers (a vector for the bulk, a scalar for the tail;
// take() empties them), or one accumulator per element of a parallel array.
template <class VO, class SO>
struct RegSum {
  typename VO::V v = VO::zero();
  typename SO::V s = 0;
  typename SO::V take() {
    typename SO::V t = s;
    if constexpr (VO::kWidth > 1) t += VO::hsum(v);
    v = VO::zero();
    s = 0;
    return t;
  }
};
template <typename T>
struct ColSum { T* p; };

template <class O, class VO, class SO>
inline void accum(RegSum<VO, SO>& a, int64_t, typename O::V x) {
  if constexpr (O::kWidth > 1) a.v = a.v + x;
  else a.s += x;
}
template <class O, typename T>
inline void accum(ColSum<T>& a, int64_t i, typename O::V x) {
  O::store(a.p + i, O::load(a.p + i) + x);
}

// y = act(n * scale + shift), n = (x - mean) * rstd.
template <class VO, class SO, typename scalar_t, class Mean, class Rstd, class Scale, class Shift>
inline void forward_run(const scalar_t* x, scalar_t* y, int64_t len, const Mean& mean,
                        const Rstd& rstd, const Scale& scale, const Shift& shift, int act) {
  vec_for<VO, SO>(len, [&](auto ops, int64_t i) {
    using O = decltype(ops);
    const auto z = O::affine(O::load(x + i), coef<O>(mean, i), coef<O>(rstd, i),
                             coef<O>(scale, i), coef<O>(shift, i));
    O::store(y + i, O::act_forward(z, act));
  });
}

// dz = dy * act'(z) and dn = dz * scale at one step of a run.
template <class O, typename scalar_t, class Scale, class Shift>
inline void element_grads(const scalar_t* dy, int64_t i, typename O::V n, const Scale& scale,
                          const Shift& shift, int act, typename O::V& dz, typename O::V& dn) {
  const auto s = coef<O>(scale, i);
  dz = O::load(dy + i);
  if (act != kActNone) dz = dz * O::act_grad(O::fma(n, s, coef<O>(shift, i)), act);
  dn = dz * s;
}

// Backward pass 1: sums dn and dn * n (per group) and dz * n and dz (for the affine
// parameters); stores dn to dn_out when given, so that pass 2 need not evaluate act' again.
template <class VO, class SO, typename scalar_t, class Mean, class Rstd, class Scale, class Shift,
          class GSum, class PSum>
inline void backward_sums_run(const scalar_t* x, const scalar_t* dy, typename SO::V* dn_out,
                              int64_t len, const Mean& mean, const Rstd& rstd, const Scale& scale,
                              const Shift& shift, int act, GSum& s_dn, GSum& s_dnn, PSum& s_dzn,
                              PSum& s_dz) {
  vec_for<VO, SO>(len, [&](auto ops, int64_t i) {
    using O = decltype(ops);
    const auto n = O::normalize(O::load(x + i), coef<O>(mean, i), coef<O>(rstd, i));
    typename O::V dz, dn;
    element_grads<O>(dy, i, n, scale, shift, act, dz, dn);
    if (dn_out != nullptr) O::store(dn_out + i, dn);
    accum<O>(s_dn, i, dn);
    accum<O>(s_dnn, i, dn * n);
    accum<O>(s_dzn, i, dz * n);
    accum<O>(s_dz, i, dz);
  });
}

// Backward pass 2: dx from dn (cached by pass 1, or evaluated again from dy when dn is
// null) and the group means of dn and dn * n.
template <class VO, class SO, typename scalar_t, class Mean, class Rstd, class Scale, class Shift,
          class GMean>
inline void backward_dx_run(const scalar_t* x, const scalar_t* dy, const typename SO::V* dn,
                            scalar_t* dx, int64_t len, const Mean& mean, const Rstd& rstd,
                            const Scale& scale, const Shift& shift, int act, const GMean& mean_dn,
                            const GMean& mean_dn_n, bool center) {
  auto run = [&](auto cached) {
    vec_for<VO, SO>(len, [&](auto ops, int64_t i) {
      using O = decltype(ops);
      const auto r = coef<O>(rstd, i);
      const auto n = O::normalize(O::load(x + i), coef<O>(mean, i), r);
      typename O::V dz, dnv;
      if constexpr (decltype(cached)::value) dnv = O::load(dn + i);
      else element_grads<O>(dy, i, n, scale, shift, act, dz, dnv);
      O::store(dx + i, O::norm_input_grad(dnv, n, coef<O>(mean_dn, i), coef<O>(mean_dn_n, i), r,
                                          center));
    });
  };
  if (dn != nullptr) run(std::true_type{});
  else run(std::false_type{});
}

// ---- statistics ---------------------------------------------------------------------
// Count, mean and sum of squared deviations of a set, merged chunk by chunk (Chan et al.).
// Each chunk is read twice while it sits in cache: a rough mean m0, then the sums of
// d = x - m0 and d^2, which give the exact chunk moments however rough m0 was (corrected
// two-pass). The group is read from memory once and its variance has no cancellation.
struct Moments {
  double n = 0, mean = 0, m2 = 0;
  void merge(double nb, double mean_b, double m2_b) {
    if (nb == 0) return;
    const double nt = n + nb, d = mean_b - mean;
    mean += d * (nb / nt);
    m2 += m2_b + d * d * (n * nb / nt);
    n = nt;
  }
  void merge(const Moments& o) { merge(o.n, o.mean, o.m2); }
  // A chunk of nb values given as sums of d and d^2 about m0.
  void merge_shifted(double nb, double m0, double sum_d, double sum_d2) {
    merge(nb, m0 + sum_d / nb, std::max(0.0, sum_d2 - sum_d * sum_d / nb));
  }
};

template <class VO, class SO, typename scalar_t>
inline void add_span_moments(Moments& m, const scalar_t* p, int64_t len) {
  using acc_t = typename SO::V;
  for (int64_t o = 0; o < len; o += kChunk) {
    const int64_t n = std::min(kChunk, len - o);
    const scalar_t* q = p + o;
    const acc_t m0 = sum_span<1, VO, SO>(n, [&](auto ops, int64_t i) {
      using O = decltype(ops);
      return std::array<typename O::V, 1>{O::load(q + i)};
    })[0] / static_cast<acc_t>(n);
    const auto sd = sum_span<2, VO, SO>(n, [&](auto ops, int64_t i) {
      using O = decltype(ops);
      const auto d = O::load(q + i) - O::set1(m0);
      return std::array<typename O::V, 2>{d, d * d};
    });
    m.merge_shifted(static_cast<double>(n), m0, sd[0], sd[1]);
  }
}

template <typename acc_t>
struct Stats {
  acc_t mean, rstd;
};

template <typename acc_t>
inline Stats<acc_t> finalize(const Moments& m, float eps, bool center) {
  // Without centering the statistic is the mean square: m2 + n * mean^2 adds two
  // non-negative terms, so nothing cancels.
  const double sq = center ? m.m2 : m.m2 + m.n * m.mean * m.mean;
  if constexpr (std::is_same_v<acc_t, double>) {
    // finalize_stats in double: its float results would make float64 inputs fp32-accurate.
    return {center ? m.mean : 0.0, 1.0 / std::sqrt(sq / m.n + static_cast<double>(eps))};
  } else {
    const GroupStats s =
        finalize_stats(m.mean * m.n, sq, static_cast<int64_t>(m.n), eps, center);
    return {s.mean, s.rstd};
  }
}

// ---- the problem and its blocks -----------------------------------------------------
template <typename scalar_t>
struct Problem {
  using acc_t = acc_type<scalar_t>;
  int64_t B, C, T, H, W, HW, G, Cg;
  int64_t Tl, Hl, Wl, r, sh, sw;
  float eps;
  bool per_frame, center, mod;
  int act;
  const scalar_t* x;
  const scalar_t* gamma = nullptr;  // when modulated
  const scalar_t* beta = nullptr;   // when modulated and given
  std::vector<acc_t> weight, bias;  // (C); 1 and 0 when not given (or modulated)
  scalar_t* y = nullptr;            // forward
  const scalar_t* dy = nullptr;     // backward
  scalar_t* dx = nullptr;
  // Modulated backward: where each frame's sums of dz * n and dz for gamma / beta go, laid
  // out like gamma but with x's T frames: grad_gamma / grad_beta themselves when Tl == T,
  // else per-frame partials.
  acc_t* gg = nullptr;
  acc_t* gb = nullptr;

  explicit Problem(const NormArgs& a)
      : B(a.B), C(a.C), T(a.T), H(a.H), W(a.W), HW(a.H * a.W), G(a.G), Cg(a.C / a.G),
        Tl(a.Tl), Hl(a.Hl), Wl(a.Wl), r(a.r), sh(a.sh), sw(a.sw), eps(a.eps),
        per_frame(a.per_frame), center(a.center), mod(a.modulated()), act(a.act),
        x(a.x.const_data_ptr<scalar_t>()), weight(a.C, acc_t(1)), bias(a.C, acc_t(0)) {
    if (mod) {
      gamma = a.gamma.const_data_ptr<scalar_t>();
      if (a.beta.defined()) beta = a.beta.const_data_ptr<scalar_t>();
    } else {
      if (a.weight.defined()) std::copy_n(a.weight.const_data_ptr<acc_t>(), C, weight.begin());
      if (a.bias.defined()) std::copy_n(a.bias.const_data_ptr<acc_t>(), C, bias.begin());
    }
  }
  int64_t time_source(int64_t t) const { return causal_time_source(t, r, Tl); }
  // Index into the (B, G, Ts) mean / rstd tensors.
  int64_t stat_index(int64_t b, int64_t g, int64_t t) const {
    return per_frame ? (b * G + g) * T + t : b * G + g;
  }
};

// Frame t of batch b, groups [g0, g1): the unit of parallel work.
struct Block {
  int64_t b, t, g0, g1;
};

// ---- NCTHW: each channel of a frame is one contiguous H*W plane -----------------------
template <typename scalar_t, class VO>
class NcthwKernels {
 public:
  using acc_t = acc_type<scalar_t>;
  using SO = ScalarOps<acc_t>;

  NcthwKernels(const Problem<scalar_t>& p, int64_t /*max_channels*/)
      : p_(p), g1_(p.mod ? p.W : 0), shift_(p.mod ? p.W : 0), acc_dzn_(p.mod ? p.W : 0),
        acc_dz_(p.mod ? p.W : 0) {}

  void stats(const Block& k, Moments* m) const {
    for (int64_t c = k.g0 * p_.Cg; c < k.g1 * p_.Cg; ++c)
      add_span_moments<VO, SO>(m[c / p_.Cg - k.g0], p_.x + offset(k.b, c, k.t), p_.HW);
  }

  void forward(const Block& k, const Stats<acc_t>* st) {
    for (int64_t c = k.g0 * p_.Cg; c < k.g1 * p_.Cg; ++c) {
      const Stats<acc_t>& s = st[c / p_.Cg - k.g0];
      const int64_t o = offset(k.b, c, k.t);
      visit_plane(k.b, c, k.t, [&](int64_t i, int64_t len, const auto& scale, const auto& shift) {
        forward_run<VO, SO>(p_.x + o + i, p_.y + o + i, len, Bcast<acc_t>{s.mean},
                            Bcast<acc_t>{s.rstd}, scale, shift, p_.act);
      });
    }
  }

  // Pass 1 over the block: dn into `dn` when given (laid out [channel][h*w] of the block),
  // the group sums of dn and dn * n into gs[2 * g + {0, 1}], and the sums of dz * n and dz
  // per channel into chan[c] and chan[C + c] (not modulated) or into p.gg / p.gb.
  void backward_sums(const Block& k, const Stats<acc_t>* st, acc_t* dn, double* gs,
                     double* chan) {
    RegSum<VO, SO> s_dn, s_dnn, s_dzn, s_dz;
    for (int64_t c = k.g0 * p_.Cg; c < k.g1 * p_.Cg; ++c) {
      const int64_t gi = c / p_.Cg - k.g0, o = offset(k.b, c, k.t);
      acc_t* dnp = dn ? dn + (c - k.g0 * p_.Cg) * p_.HW : nullptr;
      // One run (a chunk of a plane or a row); its fp32 group sums end in double here.
      auto run = [&](int64_t i, int64_t len, const auto& scale, const auto& shift, auto& pzn,
                     auto& pz) {
        backward_sums_run<VO, SO>(p_.x + o + i, p_.dy + o + i, dnp ? dnp + i : nullptr, len,
                                  Bcast<acc_t>{st[gi].mean}, Bcast<acc_t>{st[gi].rstd}, scale,
                                  shift, p_.act, s_dn, s_dnn, pzn, pz);
        gs[2 * gi] += s_dn.take();
        gs[2 * gi + 1] += s_dnn.take();
      };
      if (!p_.mod) {
        visit_plane(k.b, c, k.t, [&](int64_t i, int64_t len, const auto& scale, const auto& shift) {
          for (int64_t j = i; j < i + len; j += kChunk) {
            run(j, std::min(kChunk, i + len - j), scale, shift, s_dzn, s_dz);
            chan[c] += s_dzn.take();
            chan[p_.C + c] += s_dz.take();
          }
        });
      } else {
        // Per pixel of the row, summed over the sh rows of a latent row, then folded by sw.
        ColSum<acc_t> pzn{acc_dzn_.data()}, pz{acc_dz_.data()};
        visit_plane(
            k.b, c, k.t,
            [&](int64_t i, int64_t len, const auto& scale, const auto& shift) {
              run(i, len, scale, shift, pzn, pz);
            },
            [&](int64_t hl) { fold_latent_row(k.b, c, k.t, hl); });
      }
    }
  }

  // Pass 2: dx from dn (cached by pass 1, or evaluated again when dn is null) and the group
  // means mg[2 * g + {0, 1}] of dn and dn * n.
  void backward_dx(const Block& k, const Stats<acc_t>* st, const acc_t* dn, const acc_t* mg) {
    for (int64_t c = k.g0 * p_.Cg; c < k.g1 * p_.Cg; ++c) {
      const int64_t gi = c / p_.Cg - k.g0, o = offset(k.b, c, k.t);
      const acc_t* dnp = dn ? dn + (c - k.g0 * p_.Cg) * p_.HW : nullptr;
      auto run = [&](int64_t i, int64_t len, const auto& scale, const auto& shift) {
        backward_dx_run<VO, SO>(p_.x + o + i, p_.dy + o + i, dnp ? dnp + i : nullptr,
                                p_.dx + o + i, len, Bcast<acc_t>{st[gi].mean},
                                Bcast<acc_t>{st[gi].rstd}, scale, shift, p_.act,
                                Bcast<acc_t>{mg[2 * gi]}, Bcast<acc_t>{mg[2 * gi + 1]}, p_.center);
      };
      // With dn cached the affine coefficients are not needed: one run over the plane.
      if (dnp) run(0, p_.HW, Bcast<acc_t>{1}, Bcast<acc_t>{0});
      else visit_plane(k.b, c, k.t, run);
    }
  }

 private:
  int64_t offset(int64_t b, int64_t c, int64_t t) const {
    return ((b * p_.C + c) * p_.T + t) * p_.HW;
  }
  // Row hl of a (B, C, nt, Hl, Wl) tensor: gamma (nt = Tl) or the gradient target.
  int64_t latent_offset(int64_t b, int64_t c, int64_t nt, int64_t tl, int64_t hl) const {
    return (((b * p_.C + c) * nt + tl) * p_.Hl + hl) * p_.Wl;
  }

  // Calls run(i, len, scale, shift) over plane (b, c, t) in runs that share their kind of
  // coefficients: the whole plane with w[c], b[c] when not modulated; else row by row, with
  // (1 + gamma) and beta of the row's latent row expanded to the row's width.
  // after_latent_row(hl) follows the sh rows that read latent row hl.
  template <class Run, class After = void (*)(int64_t)>
  void visit_plane(int64_t b, int64_t c, int64_t t, Run&& run,
                   After&& after_latent_row = [](int64_t) {}) {
    if (!p_.mod) {
      run(0, p_.HW, Bcast<acc_t>{p_.weight[c]}, Bcast<acc_t>{p_.bias[c]});
      return;
    }
    const int64_t tl = p_.time_source(t);
    for (int64_t hl = 0; hl < p_.Hl; ++hl) {
      const int64_t go = latent_offset(b, c, p_.Tl, tl, hl);
      for (int64_t wl = 0, w = 0; wl < p_.Wl; ++wl) {
        const acc_t g1 = acc_t(1) + static_cast<acc_t>(p_.gamma[go + wl]);
        const acc_t shift = p_.beta ? static_cast<acc_t>(p_.beta[go + wl]) : acc_t(0);
        for (int64_t j = 0; j < p_.sw; ++j, ++w) {
          g1_[w] = g1;
          shift_[w] = shift;
        }
      }
      for (int64_t h = hl * p_.sh; h < (hl + 1) * p_.sh; ++h)
        run(h * p_.W, p_.W, Cols<acc_t>{g1_.data()}, Cols<acc_t>{shift_.data()});
      after_latent_row(hl);
    }
  }

  // gg / gb[b, c, t, hl, :] += the row sums folded by sw; clears them.
  void fold_latent_row(int64_t b, int64_t c, int64_t t, int64_t hl) {
    const int64_t go = latent_offset(b, c, p_.T, t, hl);
    for (int64_t wl = 0; wl < p_.Wl; ++wl) {
      acc_t gzn = 0, gz = 0;
      for (int64_t w = wl * p_.sw; w < (wl + 1) * p_.sw; ++w) {
        gzn += acc_dzn_[w];
        gz += acc_dz_[w];
      }
      p_.gg[go + wl] += static_cast<acc_t>(gzn);
      p_.gb[go + wl] += static_cast<acc_t>(gz);
    }
    std::fill(acc_dzn_.begin(), acc_dzn_.end(), acc_t(0));
    std::fill(acc_dz_.begin(), acc_dz_.end(), acc_t(0));
  }

  const Problem<scalar_t>& p_;
  std::vector<acc_t> g1_, shift_;        // one row of (1 + gamma) and beta
  std::vector<acc_t> acc_dzn_, acc_dz_;  // per pixel of a row: sums for gamma / beta
};

// ---- NTHWC: each pixel of a frame is a row of C contiguous channels -------------------
// Sums are kept per channel of the block (vectorised along the channels) and reduced to
// groups at the end.
template <typename scalar_t, class VO>
class NthwcKernels {
 public:
  using acc_t = acc_type<scalar_t>;
  using SO = ScalarOps<acc_t>;

  NthwcKernels(const Problem<scalar_t>& p, int64_t max_channels)
      : p_(p), pixels_per_chunk_(std::max<int64_t>(1, kPixelChunk / max_channels)) {
    for (auto* v : {&mean_, &rstd_, &mg_dn_, &mg_dnn_, &f_[0], &f_[1], &f_[2], &f_[3]})
      v->resize(max_channels);
    for (auto* v : {&d_[0], &d_[1]}) v->resize(max_channels);
    if (p.mod) racc_.resize(2 * p.Wl * max_channels);
  }

  void stats(const Block& k, Moments* m) {
    const int64_t nc = channels(k), ng = k.g1 - k.g0;
    acc_t* colsum = f_[0].data();
    acc_t* colsd = f_[1].data();
    acc_t* colsq = f_[2].data();
    acc_t* chunk_mean = f_[3].data();
    for (int64_t q0 = 0; q0 < p_.HW; q0 += pixels_per_chunk_) {
      const int64_t rows = std::min(p_.HW - q0, pixels_per_chunk_);
      const scalar_t* x0 = p_.x + row(k, q0);
      const acc_t count = static_cast<acc_t>(rows * p_.Cg);
      std::fill_n(colsum, nc, acc_t(0));
      column_sums<1, VO, SO>(rows, nc, {colsum}, [&](auto ops, int64_t r, int64_t i) {
        using O = decltype(ops);
        return std::array<typename O::V, 1>{O::load(x0 + r * p_.C + i)};
      });
      for (int64_t g = 0; g < ng; ++g)
        std::fill_n(chunk_mean + g * p_.Cg, p_.Cg, group_total(colsum, g) / count);
      std::fill_n(colsd, nc, acc_t(0));
      std::fill_n(colsq, nc, acc_t(0));
      column_sums<2, VO, SO>(rows, nc, {colsd, colsq}, [&](auto ops, int64_t r, int64_t i) {
        using O = decltype(ops);
        const auto d = O::load(x0 + r * p_.C + i) - O::load(chunk_mean + i);
        return std::array<typename O::V, 2>{d, d * d};
      });
      for (int64_t g = 0; g < ng; ++g)
        m[g].merge_shifted(count, chunk_mean[g * p_.Cg], group_total(colsd, g),
                           group_total(colsq, g));
    }
  }

  void forward(const Block& k, const Stats<acc_t>* st) {
    set_channel_stats(k, st);
    const Cols<acc_t> mean{mean_.data()}, rstd{rstd_.data()};
    const int64_t nc = channels(k);
    visit_frame(k, [&](int64_t o, int64_t, int64_t, const auto& scale, const auto& shift) {
      forward_run<VO, SO>(p_.x + o, p_.y + o, nc, mean, rstd, scale, shift, p_.act);
    });
  }

  // As NcthwKernels::backward_sums; dn is laid out [h*w][channel] of the block.
  void backward_sums(const Block& k, const Stats<acc_t>* st, acc_t* dn, double* gs,
                     double* chan) {
    set_channel_stats(k, st);
    const Cols<acc_t> mean{mean_.data()}, rstd{rstd_.data()};
    const int64_t nc = channels(k), c0 = k.g0 * p_.Cg;
    ColSum<acc_t> s_dn{f_[0].data()}, s_dnn{f_[1].data()}, s_dzn{f_[2].data()},
        s_dz{f_[3].data()};
    for (auto& f : f_) std::fill_n(f.begin(), nc, acc_t(0));
    std::fill_n(d_[0].begin(), nc, 0.0);
    std::fill_n(d_[1].begin(), nc, 0.0);
    // The fp32 per-channel sums move to double every pixels_per_chunk_ pixels.
    auto flush = [&] {
      for (int64_t i = 0; i < nc; ++i) {
        d_[0][i] += f_[0][i];
        d_[1][i] += f_[1][i];
        f_[0][i] = f_[1][i] = 0;
        if (!p_.mod) {
          chan[c0 + i] += f_[2][i];
          chan[p_.C + c0 + i] += f_[3][i];
          f_[2][i] = f_[3][i] = 0;
        }
      }
    };
    int64_t pending = 0;
    auto run = [&](int64_t o, int64_t q, int64_t wl, const auto& scale, const auto& shift) {
      acc_t* dnq = dn ? dn + q * nc : nullptr;
      if (!p_.mod) {
        backward_sums_run<VO, SO>(p_.x + o, p_.dy + o, dnq, nc, mean, rstd, scale, shift,
                                  p_.act, s_dn, s_dnn, s_dzn, s_dz);
      } else {
        // Per channel of the latent pixel this pixel reads; flushed after each row.
        ColSum<acc_t> gzn{racc_.data() + wl * nc}, gz{racc_.data() + (p_.Wl + wl) * nc};
        backward_sums_run<VO, SO>(p_.x + o, p_.dy + o, dnq, nc, mean, rstd, scale, shift,
                                  p_.act, s_dn, s_dnn, gzn, gz);
      }
      if (++pending == pixels_per_chunk_) {
        flush();
        pending = 0;
      }
    };
    visit_frame(k, run, [&](int64_t h) { flush_latent_row(k, h); });
    flush();
    for (int64_t g = 0; g < k.g1 - k.g0; ++g) {
      for (int64_t i = g * p_.Cg; i < (g + 1) * p_.Cg; ++i) {
        gs[2 * g] += d_[0][i];
        gs[2 * g + 1] += d_[1][i];
      }
    }
  }

  // As NcthwKernels::backward_dx.
  void backward_dx(const Block& k, const Stats<acc_t>* st, const acc_t* dn, const acc_t* mg) {
    set_channel_stats(k, st);
    const int64_t nc = channels(k);
    for (int64_t i = 0; i < nc; ++i) {
      mg_dn_[i] = mg[2 * (i / p_.Cg)];
      mg_dnn_[i] = mg[2 * (i / p_.Cg) + 1];
    }
    const Cols<acc_t> mean{mean_.data()}, rstd{rstd_.data()}, mdn{mg_dn_.data()},
        mdnn{mg_dnn_.data()};
    auto run = [&](int64_t o, int64_t q, int64_t, const auto& scale, const auto& shift) {
      backward_dx_run<VO, SO>(p_.x + o, p_.dy + o, dn ? dn + q * nc : nullptr, p_.dx + o, nc,
                              mean, rstd, scale, shift, p_.act, mdn, mdnn, p_.center);
    };
    // With dn cached the affine coefficients are not needed.
    if (!dn) return visit_frame(k, run);
    for (int64_t q = 0; q < p_.HW; ++q) run(row(k, q), q, 0, Bcast<acc_t>{1}, Bcast<acc_t>{0});
  }

 private:
  int64_t channels(const Block& k) const { return (k.g1 - k.g0) * p_.Cg; }
  // Offset of the block's first channel at pixel q.
  int64_t row(const Block& k, int64_t q) const {
    return ((k.b * p_.T + k.t) * p_.HW + q) * p_.C + k.g0 * p_.Cg;
  }
  // The same in a (B, C, nt, Hl, Wl) NTHWC tensor: gamma (nt = Tl) or the gradient target.
  int64_t latent_row(const Block& k, int64_t nt, int64_t tl, int64_t hl, int64_t wl) const {
    return (((k.b * nt + tl) * p_.Hl + hl) * p_.Wl + wl) * p_.C + k.g0 * p_.Cg;
  }
  acc_t group_total(const acc_t* v, int64_t g) const {
    acc_t s = 0;
    for (int64_t i = g * p_.Cg; i < (g + 1) * p_.Cg; ++i) s += v[i];
    return s;
  }
  void set_channel_stats(const Block& k, const Stats<acc_t>* st) {
    for (int64_t i = 0; i < channels(k); ++i) {
      mean_[i] = st[i / p_.Cg].mean;
      rstd_[i] = st[i / p_.Cg].rstd;
    }
  }

  // Calls run(o, q, wl, scale, shift) for each pixel q of the block's frame; o is the offset
  // of its row, wl the latent column it reads (modulated). Coefficients: the block's w, b;
  // or the (1 + gamma), beta row of the latent pixel. Modulated, after_row(h) follows each
  // row h of pixels.
  template <class Run, class After = void (*)(int64_t)>
  void visit_frame(const Block& k, Run&& run, After&& after_row = [](int64_t) {}) {
    const int64_t c0 = k.g0 * p_.Cg;
    if (!p_.mod) {
      const Cols<acc_t> scale{p_.weight.data() + c0}, shift{p_.bias.data() + c0};
      for (int64_t q = 0; q < p_.HW; ++q) run(row(k, q), q, 0, scale, shift);
      return;
    }
    const int64_t tl = p_.time_source(k.t);
    auto pixels = [&](auto with_beta) {
      int64_t q = 0;
      for (int64_t h = 0; h < p_.H; ++h) {
        for (int64_t wl = 0; wl < p_.Wl; ++wl) {
          const int64_t go = latent_row(k, p_.Tl, tl, h / p_.sh, wl);
          const ColsPlusOne<scalar_t> scale{p_.gamma + go};
          for (int64_t w = 0; w < p_.sw; ++w, ++q) {
            if constexpr (decltype(with_beta)::value)
              run(row(k, q), q, wl, scale, Cols<scalar_t>{p_.beta + go});
            else
              run(row(k, q), q, wl, scale, Bcast<acc_t>{0});
          }
        }
        after_row(h);
      }
    };
    if (p_.beta) pixels(std::true_type{});
    else pixels(std::false_type{});
  }

  // gg / gb[b, t, hl, :, block channels] += the per-latent-pixel sums of x row h; clears
  // them.
  void flush_latent_row(const Block& k, int64_t h) {
    const int64_t nc = channels(k), hl = h / p_.sh;
    for (int64_t wl = 0; wl < p_.Wl; ++wl) {
      acc_t* gg = p_.gg + latent_row(k, p_.T, k.t, hl, wl);
      acc_t* gb = p_.gb + latent_row(k, p_.T, k.t, hl, wl);
      const acc_t* zn = racc_.data() + wl * nc;
      const acc_t* z = racc_.data() + (p_.Wl + wl) * nc;
      for (int64_t i = 0; i < nc; ++i) {
        gg[i] += zn[i];
        gb[i] += z[i];
      }
    }
    std::fill(racc_.begin(), racc_.end(), acc_t(0));
  }

  const Problem<scalar_t>& p_;
  const int64_t pixels_per_chunk_;                   // summed in fp32 before double
  std::vector<acc_t> mean_, rstd_, mg_dn_, mg_dnn_;  // per channel of the block
  std::vector<acc_t> f_[4];   // fp32 per-channel sums over a chunk of pixels
  std::vector<double> d_[2];  // the double totals of f_[0], f_[1]
  std::vector<acc_t> racc_;   // per latent pixel of a row x channel: dz * n, then dz
};

// ---- the driver ---------------------------------------------------------------------
// Blocks are single frames of a group block: B x (group blocks) x T, frame fastest (a
// channel's frames are adjacent in NCTHW, so consecutive blocks continue the same memory
// streams). NCTHW: a group's planes are contiguous on their own, so a group is a block.
// NTHWC: a pixel row holds all groups and blocks keep whole rows: splitting rows by
// channels between threads measured 1.6x slower (two cores writing interleaved halves of
// the same rows, their adjacent-line prefetchers contending for the lines).
struct Plan {
  int64_t B, T, group_blocks, groups_per_block;
  template <typename scalar_t>
  Plan(const Problem<scalar_t>& p, Layout layout)
      : B(p.B), T(p.T), group_blocks(layout == Layout::NCTHW ? p.G : 1),
        groups_per_block(p.G / group_blocks) {}
  int64_t units() const { return B * group_blocks * T; }
  Block block(int64_t u) const {
    const int64_t t = u % T, gb = (u / T) % group_blocks, b = u / (T * group_blocks);
    return {b, t, gb * groups_per_block, (gb + 1) * groups_per_block};
  }
  int64_t channels_per_block(int64_t Cg) const { return groups_per_block * Cg; }
};

// The (b, t, g) slots of per-frame partial results, in the order they are combined.
inline int64_t frame_slot(int64_t b, int64_t t, int64_t g, int64_t T, int64_t G) {
  return (b * T + t) * G + g;
}

// Per-thread storage of the driver for one block: per group of the block.
template <typename acc_t>
struct BlockScratch {
  std::vector<Moments> m;
  std::vector<Stats<acc_t>> st;
  std::vector<double> gs;  // backward: sums of dn and dn * n
  std::vector<acc_t> mg;   // backward: their means
  std::unique_ptr<acc_t[]> dn;
  BlockScratch(int64_t groups, int64_t dn_size)
      : m(groups), st(groups), gs(2 * groups), mg(2 * groups),
        dn(dn_size > 0 ? new acc_t[dn_size] : nullptr) {}
};

// Runs f(kernels, scratch, block) over all blocks in parallel; each thread has its own
// kernels and scratch.
template <class L, typename scalar_t, class F>
void for_each_block(const Problem<scalar_t>& p, const Plan& plan, int64_t dn_size, F&& f) {
  at::parallel_for(0, plan.units(), 1, [&](int64_t u0, int64_t u1) {
    L kern(p, plan.channels_per_block(p.Cg));
    BlockScratch<acc_type<scalar_t>> scratch(plan.groups_per_block, dn_size);
    for (int64_t u = u0; u < u1; ++u) f(kern, scratch, plan.block(u));
  });
}

// Statistics per frame: each block computes its statistics, then its output while the
// frame is still in cache. Statistics over the video: all blocks' moments first, combined
// per (batch, group) in frame order, then the outputs.
template <typename scalar_t, class L>
void forward_impl(const Problem<scalar_t>& p, Layout layout, acc_type<scalar_t>* mean_out,
                  acc_type<scalar_t>* rstd_out) {
  using acc_t = acc_type<scalar_t>;
  const Plan plan(p, layout);
  auto store = [&](int64_t b, int64_t g, int64_t t, const Stats<acc_t>& s) {
    mean_out[p.stat_index(b, g, t)] = s.mean;
    rstd_out[p.stat_index(b, g, t)] = s.rstd;
  };
  if (p.per_frame) {
    for_each_block<L>(p, plan, 0, [&](L& kern, BlockScratch<acc_t>& s, const Block& k) {
      std::fill(s.m.begin(), s.m.end(), Moments{});
      kern.stats(k, s.m.data());
      for (int64_t g = k.g0; g < k.g1; ++g) {
        s.st[g - k.g0] = finalize<acc_t>(s.m[g - k.g0], p.eps, p.center);
        store(k.b, g, k.t, s.st[g - k.g0]);
      }
      kern.forward(k, s.st.data());
    });
    return;
  }
  std::vector<Moments> part(p.B * p.T * p.G);
  for_each_block<L>(p, plan, 0, [&](L& kern, BlockScratch<acc_t>&, const Block& k) {
    kern.stats(k, &part[frame_slot(k.b, k.t, k.g0, p.T, p.G)]);
  });
  std::vector<Stats<acc_t>> st(p.B * p.G);
  for (int64_t b = 0; b < p.B; ++b) {
    for (int64_t g = 0; g < p.G; ++g) {
      Moments m;
      for (int64_t t = 0; t < p.T; ++t) m.merge(part[frame_slot(b, t, g, p.T, p.G)]);
      st[b * p.G + g] = finalize<acc_t>(m, p.eps, p.center);
      store(b, g, 0, st[b * p.G + g]);
    }
  }
  for_each_block<L>(p, plan, 0, [&](L& kern, BlockScratch<acc_t>&, const Block& k) {
    kern.forward(k, &st[k.b * p.G + k.g0]);
  });
}

// As forward_impl: pass 1 (sums) and pass 2 (dx) fused per block with dn cached between
// them when statistics are per frame; else all pass-1 sums, combined, then pass 2, which
// evaluates dn again. The parameter sums are per frame slot, combined in frame order.
template <typename scalar_t, class L>
void backward_impl(const Problem<scalar_t>& p, Layout layout, const acc_type<scalar_t>* mean_in,
                   const acc_type<scalar_t>* rstd_in, acc_type<scalar_t>* grad_weight,
                   acc_type<scalar_t>* grad_bias) {
  using acc_t = acc_type<scalar_t>;
  const Plan plan(p, layout);
  std::vector<double> chan(p.mod ? 0 : p.B * p.T * 2 * p.C, 0.0);  // per (b, t): dz * n, dz
  auto load_stats = [&](const Block& k, Stats<acc_t>* st) {
    for (int64_t g = k.g0; g < k.g1; ++g) {
      const int64_t i = p.stat_index(k.b, g, k.t);
      st[g - k.g0] = {static_cast<acc_t>(mean_in[i]), static_cast<acc_t>(rstd_in[i])};
    }
  };
  auto sums = [&](L& kern, const Block& k, const Stats<acc_t>* st, acc_t* dn, double* gs) {
    std::fill_n(gs, 2 * (k.g1 - k.g0), 0.0);
    kern.backward_sums(k, st, dn, gs, p.mod ? nullptr : &chan[(k.b * p.T + k.t) * 2 * p.C]);
  };
  if (p.per_frame) {
    const double count = static_cast<double>(p.Cg * p.HW);
    int64_t dn_size = p.HW * plan.channels_per_block(p.Cg);
    if (dn_size * static_cast<int64_t>(sizeof(acc_t)) > kMaxDnCacheBytes) dn_size = 0;
    for_each_block<L>(p, plan, dn_size, [&](L& kern, BlockScratch<acc_t>& s, const Block& k) {
      load_stats(k, s.st.data());
      sums(kern, k, s.st.data(), s.dn.get(), s.gs.data());
      for (size_t i = 0; i < s.gs.size(); ++i) s.mg[i] = static_cast<acc_t>(s.gs[i] / count);
      kern.backward_dx(k, s.st.data(), s.dn.get(), s.mg.data());
    });
  } else {
    std::vector<double> part(p.B * p.T * p.G * 2);
    for_each_block<L>(p, plan, 0, [&](L& kern, BlockScratch<acc_t>& s, const Block& k) {
      load_stats(k, s.st.data());
      sums(kern, k, s.st.data(), nullptr, &part[2 * frame_slot(k.b, k.t, k.g0, p.T, p.G)]);
    });
    const double count = static_cast<double>(p.Cg * p.HW * p.T);
    std::vector<acc_t> mg(p.B * p.G * 2);
    for (int64_t b = 0; b < p.B; ++b) {
      for (int64_t g = 0; g < p.G; ++g) {
        double s_dn = 0, s_dnn = 0;
        for (int64_t t = 0; t < p.T; ++t) {
          s_dn += part[2 * frame_slot(b, t, g, p.T, p.G)];
          s_dnn += part[2 * frame_slot(b, t, g, p.T, p.G) + 1];
        }
        mg[2 * (b * p.G + g)] = static_cast<acc_t>(s_dn / count);
        mg[2 * (b * p.G + g) + 1] = static_cast<acc_t>(s_dnn / count);
      }
    }
    for_each_block<L>(p, plan, 0, [&](L& kern, BlockScratch<acc_t>& s, const Block& k) {
      load_stats(k, s.st.data());
      kern.backward_dx(k, s.st.data(), nullptr, &mg[2 * (k.b * p.G + k.g0)]);
    });
  }
  if (!p.mod) {
    for (int64_t c = 0; c < p.C; ++c) {
      double gw = 0, gb = 0;
      for (int64_t i = 0; i < p.B * p.T; ++i) {
        gw += chan[i * 2 * p.C + c];
        gb += chan[i * 2 * p.C + p.C + c];
      }
      grad_weight[c] = static_cast<acc_t>(gw);
      grad_bias[c] = static_cast<acc_t>(gb);
    }
  }
}

// ---- entry points -------------------------------------------------------------------
// f(type_identity<kernels>) with the layout's kernels, VO the arithmetic of their bulk.
template <typename scalar_t, class VO, class F>
void with_layout_kernels(Layout layout, F&& f) {
  if (layout == Layout::NCTHW) f(std::type_identity<NcthwKernels<scalar_t, VO>>{});
  else f(std::type_identity<NthwcKernels<scalar_t, VO>>{});
}

// MainOps<scalar_t>: the arithmetic for the bulk of each run (the scalar ops, or wider).
template <template <typename> class MainOps>
void norm_forward_impl(const NormArgs& a, at::Tensor& y) {
  const auto dtype = a.x.scalar_type();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "bootvid_norm_forward_cpu", [&] {
    Problem<scalar_t> p(a);
    p.y = y.mutable_data_ptr<scalar_t>();
    with_layout_kernels<scalar_t, MainOps<scalar_t>>(a.layout, [&](auto kernels) {
      forward_impl<scalar_t, typename decltype(kernels)::type>(
          p, a.layout, a.mean.mutable_data_ptr<acc_type<scalar_t>>(),
          a.rstd.mutable_data_ptr<acc_type<scalar_t>>());
    });
  });
}

// Points p.gg / p.gb at where the blocks add their frames' gamma / beta sums: the gradients
// themselves when each latent frame is read by one frame (Tl == T); else per-frame partials
// ((B, C, T, Hl, Wl) in x's layout, returned), which sum_latent_frames reduces in frame
// order, so that the result does not depend on the threads' timing.
template <typename scalar_t>
std::pair<at::Tensor, at::Tensor> gamma_grad_targets(Problem<scalar_t>& p, Layout layout,
                                                     at::Tensor& grad_gamma,
                                                     at::Tensor& grad_beta) {
  at::Tensor gg = grad_gamma, gb = grad_beta;
  if (p.Tl == p.T) {
    gg.zero_();
    gb.zero_();
  } else {
    // (empty_in_layout, not at::zeros: zeros ignores a memory format in the options.)
    gg = empty_in_layout({p.B, p.C, p.T, p.Hl, p.Wl}, grad_gamma.options(), layout).zero_();
    gb = empty_in_layout({p.B, p.C, p.T, p.Hl, p.Wl}, grad_gamma.options(), layout).zero_();
  }
  p.gg = gg.mutable_data_ptr<acc_type<scalar_t>>();
  p.gb = gb.mutable_data_ptr<acc_type<scalar_t>>();
  return {gg, gb};
}

// out[:, :, tl] = the sum of part over the frames that read latent frame tl, in order: all
// frames when Tl = 1; else frame 0 for tl = 0 and frames ((tl - 1) r, tl r] after.
inline void sum_latent_frames(const at::Tensor& part, at::Tensor& out, int64_t r) {
  const int64_t T = part.size(2), Tl = out.size(2);
  if (Tl == 1) {
    at::sum_out(out, part, {2}, /*keepdim=*/true);
    return;
  }
  out.select(2, 0).copy_(part.select(2, 0));
  at::Tensor later = out.narrow(2, 1, Tl - 1);
  at::sum_out(later, part.narrow(2, 1, T - 1).unflatten(2, {Tl - 1, r}), {3});
}

template <template <typename> class MainOps>
void norm_backward_impl(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                        at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                        at::Tensor& grad_beta) {
  const auto dtype = a.x.scalar_type();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "bootvid_norm_backward_cpu",
                                  [&] {
    Problem<scalar_t> p(a);
    p.dy = grad_y.const_data_ptr<scalar_t>();
    p.dx = grad_x.mutable_data_ptr<scalar_t>();
    std::pair<at::Tensor, at::Tensor> gamma_targets;
    if (p.mod) gamma_targets = gamma_grad_targets(p, a.layout, grad_gamma, grad_beta);
    with_layout_kernels<scalar_t, MainOps<scalar_t>>(a.layout, [&](auto kernels) {
      backward_impl<scalar_t, typename decltype(kernels)::type>(
          p, a.layout, a.mean.const_data_ptr<acc_type<scalar_t>>(),
          a.rstd.const_data_ptr<acc_type<scalar_t>>(),
          p.mod ? nullptr : grad_weight.mutable_data_ptr<acc_type<scalar_t>>(),
          p.mod ? nullptr : grad_bias.mutable_data_ptr<acc_type<scalar_t>>());
    });
    if (p.mod && p.Tl != p.T) {
      sum_latent_frames(gamma_targets.first, grad_gamma, p.r);
      sum_latent_frames(gamma_targets.second, grad_beta, p.r);
    }
  });
}

#if defined(CPU_CAPABILITY_AVX2) || defined(CPU_CAPABILITY_AVX512)
// The entry points of a wide copy (norm_cpu_avx2.cpp, norm_cpu_avx512.cpp); norm_cpu.cpp
// picks one at run time.
void norm_forward(const NormArgs& a, at::Tensor& y) { norm_forward_impl<WideOps>(a, y); }

void norm_backward(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                   at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                   at::Tensor& grad_beta) {
  norm_backward_impl<WideOps>(a, grad_y, grad_x, grad_weight, grad_bias, grad_gamma, grad_beta);
}
#endif

}  // namespace BOOTVID_NORM_ISA
}  // namespace bootvid
