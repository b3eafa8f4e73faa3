// CUDA kernels of group_norm_act / adaptive_group_norm (forward and backward).
//
// Work is cut into tiles that each hold one channel's elements of one frame (a (b, c, t)
// "plane"), so that every tile has a single channel and frame:
//  * NCTHW: a plane is H*W contiguous values; one warp takes a segment of kSegLen of them
//    (kLaneElems per lane, consecutive lanes on consecutive addresses), 8 warps a block.
//  * NTHWC: a frame is an (H*W) x C row-major matrix; one block takes kTileRows pixels x 32
//    channels of it: lane = channel (consecutive addresses), warp = every 8th pixel.
// Reductions run per tile in fp32 (a few hundred values: per-thread sums, then warp shuffles
// or shared memory across the 8 warps in NTHWC, in a fixed order) and write one partial per
// (plane, segment), in double. Small kernels then merge the partials in a fixed order (a
// strided loop per thread and a fixed tree), so that results do not depend on scheduling:
// no atomics anywhere, and repeated calls give bitwise identical results.
//
// Forward:  stats (per tile: count, mean, M2, exact two-pass on register-held values) ->
//           finalize (per group: Chan merge in double, math.h's finalize_stats) ->
//           apply (elementwise).
// Backward: sums (per tile: dn, dn*n, dz*n, dz) -> group means of dn, dn*n (per group) and
//           grad_weight / grad_bias (per channel, not modulated) -> dx (elementwise) ->
//           grad_gamma / grad_beta (modulated: a gather over gamma's elements, each summing
//           the x positions that read it).
// Every per-element formula is math.h's (normalize, act_forward, act_grad, norm_input_grad,
// finalize_stats, causal_time_source).
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

#include "bootvid/kernels.h"
#include "cuda_utils.cuh"

namespace bootvid {
namespace {

using cuda::IdxDiv;
using cuda::kWarpSize;

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;  // every kernel here runs 256-thread blocks

// NCTHW tiles: one warp, kSegLen consecutive elements of one plane. (The macros only serve
// tuning builds; 16 and 16 measured best on an H100.)
#ifndef BOOTVID_NCTHW_LANE_ELEMS
#define BOOTVID_NCTHW_LANE_ELEMS 16
#endif
constexpr int kLaneElems = BOOTVID_NCTHW_LANE_ELEMS;
constexpr int64_t kSegLen = int64_t(kWarpSize) * kLaneElems;
// NTHWC tiles: one block, kTileRows pixels x kWarpSize channels of one frame.
#ifndef BOOTVID_NTHWC_ROWS
#define BOOTVID_NTHWC_ROWS 16
#endif
constexpr int kThreadRows = BOOTVID_NTHWC_ROWS;
constexpr int64_t kTileRows = int64_t(kWarps) * kThreadRows;

// The problem's sizes, shared by all kernels (passed by value).
struct NormGeo {
  int64_t B, C, T, HW, W, G, Cg, Ts, Tg;  // Ts: stat frames (T or 1); Tg: frames per group
  int64_t nseg;    // segments per plane: of kSegLen (NCTHW) or kTileRows pixels (NTHWC)
  int64_t ctiles;  // NTHWC: channel tiles of kWarpSize
  int64_t Tl, HlWl, Wl, r;  // modulation: gamma's frames, pixels per frame, width; time ratio
  IdxDiv div_nseg, div_T, div_Tg, div_C, div_Cg, div_ctiles, div_W, div_sh, div_sw;
  int act;
  bool per_frame, center, ncthw;

  __device__ __forceinline__ int64_t stat_index(int64_t b, int64_t g, int64_t t) const {
    return per_frame ? (b * G + g) * T + t : b * G + g;
  }
  // Pixel hw of an x frame -> the pixel hl * Wl + wl of gamma's frame that it reads.
  // 32-bit arithmetic: make_geo checks that a frame has fewer than 2^31 pixels.
  __device__ __forceinline__ int64_t latent_pixel(int64_t hw) const {
    uint32_t h;
    const uint32_t w = div_W.divmod(static_cast<uint32_t>(hw), h);
    return int64_t(div_sh.div32(h)) * Wl + div_sw.div32(w);
  }
  // Where the partial of plane (b, c, t), segment s lives (both tilings number their
  // partials 0 .. B*C*T*nseg - 1; the combine kernels read them through this).
  __device__ __forceinline__ int64_t partial_index(int64_t b, int64_t c, int64_t t, int64_t s) const {
    return ncthw ? ((b * C + c) * T + t) * nseg + s : ((b * T + t) * nseg + s) * C + c;
  }
};

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- tilings ------------------------------------------------------------------------
// A tile gives each thread up to K element slots: valid(k), offset(k) in x (and in every
// tensor of x's layout), hw(k) the pixel within the frame. All threads of a block must call
// allreduce (it may hold a barrier); its result is the tile's total, in every thread of
// the tile. b, c, t: the thread's plane (c and t may differ between threads of a block).

// NCTHW: warp w of block k takes tile (item) 8k + w = plane * nseg + segment.
struct NcthwTile {
  static constexpr int K = kLaneElems;
  static constexpr int kBatch = 8;  // elements loaded before they are used (elementwise kernels)
  int lane;
  int slots;       // valid slots of this lane: k < slots
  bool active;     // the warp has an item (the last block may have spare warps)
  int64_t item, b, c, t, base, i0, count;  // count: elements in the segment (0 if inactive)
  int64_t C;

  __device__ __forceinline__ explicit NcthwTile(const NormGeo& g) : C(g.C) {
    lane = threadIdx.x % kWarpSize;
    item = int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarpSize;
    active = item < g.B * g.C * g.T * g.nseg;
    int64_t p, bc;
    const int64_t s = g.div_nseg.divmod(active ? item : 0, p);  // p = (b * C + c) * T + t
    t = g.div_T.divmod(p, bc);
    c = g.div_C.divmod(bc, b);
    base = p * g.HW;
    i0 = s * kSegLen;
    count = active ? min64(kSegLen, g.HW - i0) : 0;
    slots = count > lane ? static_cast<int>((count - lane + kWarpSize - 1) / kWarpSize) : 0;
  }
  __device__ __forceinline__ bool valid(int k) const { return k < slots; }
  __device__ __forceinline__ int64_t hw(int k) const { return i0 + k * kWarpSize + lane; }
  __device__ __forceinline__ int64_t offset(int k) const { return base + hw(k); }
  // gamma (B, C, Tl, Hl, Wl), contiguous: the start of frame tl of plane (b, c).
  __device__ __forceinline__ int64_t gamma_base(const NormGeo& g, int64_t tl) const {
    return ((b * g.C + c) * g.Tl + tl) * g.HlWl;
  }
  __device__ __forceinline__ int64_t gamma_index(const NormGeo& g, int64_t gbase, int64_t hw_) const {
    return gbase + g.latent_pixel(hw_);
  }
  __device__ __forceinline__ int64_t partial() const { return item; }
  __device__ __forceinline__ bool writer() const { return active && lane == 0; }
  template <int N>
  __device__ __forceinline__ void allreduce(float (&v)[N]) const {
#pragma unroll
    for (int i = 0; i < N; ++i) v[i] = cuda::warp_allreduce_sum(v[i]);
  }
};

// NTHWC: block k takes (frame f, row segment rs, channel tile ct), ct fastest.
struct NthwcTile {
  static constexpr int K = kThreadRows;
  static constexpr int kBatch = 4;  // 8 made the backward sums spill (bf16, fp16)
  int lane, warp;
  int slots;    // valid slots of this thread: k < slots
  bool active;  // the lane's channel exists (C need not be a multiple of 32)
  int64_t f, b, t, c, rs, r0, count;  // count: pixels in the segment (0 if inactive)
  int64_t C, HW, nseg;

  __device__ __forceinline__ explicit NthwcTile(const NormGeo& g) : C(g.C), HW(g.HW), nseg(g.nseg) {
    lane = threadIdx.x % kWarpSize;
    warp = threadIdx.x / kWarpSize;
    int64_t q;
    const int64_t ct = g.div_ctiles.divmod(int64_t(blockIdx.x), q);
    rs = g.div_nseg.divmod(q, f);  // f = b * T + t
    t = g.div_T.divmod(f, b);
    c = ct * kWarpSize + lane;
    active = c < g.C;
    r0 = rs * kTileRows;
    count = active ? min64(kTileRows, g.HW - r0) : 0;
    slots = count > warp ? static_cast<int>((count - warp + kWarps - 1) / kWarps) : 0;
  }
  __device__ __forceinline__ bool valid(int k) const { return k < slots; }
  __device__ __forceinline__ int64_t hw(int k) const { return r0 + warp + k * kWarps; }
  __device__ __forceinline__ int64_t offset(int k) const { return (f * HW + hw(k)) * C + c; }
  // gamma (B, Tl, Hl, Wl, C) in memory: the start of frame tl of batch b.
  __device__ __forceinline__ int64_t gamma_base(const NormGeo& g, int64_t tl) const {
    return (b * g.Tl + tl) * g.HlWl;
  }
  __device__ __forceinline__ int64_t gamma_index(const NormGeo& g, int64_t gbase, int64_t hw_) const {
    return (gbase + g.latent_pixel(hw_)) * C + c;
  }
  __device__ __forceinline__ int64_t partial() const { return (f * nseg + rs) * C + c; }
  __device__ __forceinline__ bool writer() const { return active && warp == 0; }
  // Per channel (lane) over the 8 warps, in warp order: every warp gets the same sums.
  template <int N>
  __device__ __forceinline__ void allreduce(float (&v)[N]) const {
    __shared__ float sm[N][kWarps][kWarpSize];
#pragma unroll
    for (int i = 0; i < N; ++i) sm[i][warp][lane] = v[i];
    __syncthreads();
#pragma unroll
    for (int i = 0; i < N; ++i) {
      float s = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) s += sm[i][w][lane];
      v[i] = s;
    }
    __syncthreads();  // sm may be written again by the next call
  }
};

// ---- the affine coefficients of one element -----------------------------------------
template <typename scalar_t>
struct NormParams {
  const float* weight;  // (C) or null: 1
  const float* bias;    // (C) or null: 0
  const scalar_t* gamma;  // modulated when not null
  const scalar_t* beta;   // or null: 0
};

// scale, shift of the thread's elements: w[c], b[c] (one pair per thread), or
// 1 + gamma, beta at the element's latent position.
template <typename scalar_t, class Tile>
struct Coefs {
  const scalar_t* gamma;
  const scalar_t* beta;
  float scale, shift;
  int64_t gbase;

  // Only for active threads (c < C).
  __device__ __forceinline__ Coefs(const NormGeo& g, const Tile& tile, const NormParams<scalar_t>& p)
      : gamma(p.gamma), beta(p.beta), scale(1.f), shift(0.f), gbase(0) {
    if (gamma == nullptr) {
      if (p.weight != nullptr) scale = p.weight[tile.c];
      if (p.bias != nullptr) shift = p.bias[tile.c];
    } else {
      gbase = tile.gamma_base(g, causal_time_source(tile.t, g.r, g.Tl));
    }
  }
  __device__ __forceinline__ float2 at(const NormGeo& g, const Tile& tile, int64_t hw) const {
    if (gamma == nullptr) return make_float2(scale, shift);
    const int64_t i = tile.gamma_index(g, gbase, hw);
    return make_float2(1.f + static_cast<float>(gamma[i]),
                       beta != nullptr ? static_cast<float>(beta[i]) : 0.f);
  }
};

// dz = dy * act'(z), z = n * scale + shift (as the CPU kernels); dn = dz * scale.
__device__ __forceinline__ float element_dz(float dy, float n, float2 coef, int act) {
  return act != kActNone ? dy * act_grad(n * coef.x + coef.y, act) : dy;
}

// ---- merging partial moments ----------------------------------------------------------
struct Moments {
  double n, mean, m2;  // count, mean, sum of squared deviations
};

__device__ __forceinline__ Moments merge(const Moments& a, const Moments& b) {
  if (b.n == 0.0) return a;
  if (a.n == 0.0) return b;
  const double n = a.n + b.n, d = b.mean - a.mean;
  return {n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * (b.n / n))};
}

struct Sum2 {
  double a, b;
};
__device__ __forceinline__ Sum2 add(const Sum2& x, const Sum2& y) { return {x.a + y.a, x.b + y.b}; }

// Tree reduction over a 256-thread block in a fixed order; every thread gets the result.
// Call at most once per kernel (the shared buffer is not fenced for reuse).
template <typename T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op) {
  __shared__ T sm[kThreads];
  sm[threadIdx.x] = v;
  __syncthreads();
#pragma unroll
  for (int o = kThreads / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) sm[threadIdx.x] = op(sm[threadIdx.x], sm[threadIdx.x + o]);
    __syncthreads();
  }
  return sm[0];
}

// Group gi = (b * G + g) * Ts + ts of the (B, G, Ts) statistics.
struct GroupRef {
  int64_t b, g, t0;  // t0: the group's first frame
};
__device__ __forceinline__ GroupRef group_of(const NormGeo& geo, int64_t gi) {
  GroupRef r;
  int64_t bg = gi;
  r.t0 = 0;
  if (geo.per_frame) r.t0 = geo.div_T.divmod(gi, bg);
  r.b = bg / geo.G;
  r.g = bg - r.b * geo.G;
  return r;
}
// The j-th partial of group r, j < Cg * Tg * nseg (segments fastest, then frames).
__device__ __forceinline__ int64_t group_partial(const NormGeo& geo, const GroupRef& r, int64_t j) {
  int64_t q, ci;
  const int64_t s = geo.div_nseg.divmod(j, q);
  const int64_t tt = geo.div_Tg.divmod(q, ci);
  return geo.partial_index(r.b, r.g * geo.Cg + ci, r.t0 + tt, s);
}

// ---- forward ------------------------------------------------------------------------
// Per tile: count, mean and M2 of its values, by an exact two-pass over registers.
template <typename scalar_t, class Tile>
__global__ void __launch_bounds__(kThreads)
norm_stats_kernel(const NormGeo g, const scalar_t* __restrict__ x, double* __restrict__ part) {
  const Tile tile(g);
  float v[Tile::K];
#pragma unroll
  for (int k = 0; k < Tile::K; ++k) v[k] = tile.valid(k) ? static_cast<float>(x[tile.offset(k)]) : 0.f;
  // Pass 1: a rough mean m0 (any m0 gives exact moments below; fp32 is plenty).
  float r1[1] = {0.f};
#pragma unroll
  for (int k = 0; k < Tile::K; ++k) r1[0] += v[k];
  tile.allreduce(r1);
  const float m0 = tile.count > 0 ? r1[0] / static_cast<float>(tile.count) : 0.f;
  float sd = 0.f, sd2 = 0.f;
#pragma unroll
  for (int k = 0; k < Tile::K; ++k) {
    if (tile.valid(k)) {
      const float d = v[k] - m0;
      sd += d;
      sd2 += d * d;
    }
  }
  // Pass 2: the sums of d = x - m0 and d^2 (fp32 over at most a few hundred values, in a
  // fixed tree) give the tile's mean and M2; the partial is kept in double.
  float r2[2] = {sd, sd2};
  tile.allreduce(r2);
  if (tile.writer()) {  // count > 0 here
    const double n = static_cast<double>(tile.count), sdd = r2[0];
    double* o = part + 3 * tile.partial();
    o[0] = n;
    o[1] = static_cast<double>(m0) + sdd / n;
    o[2] = fmax(0.0, static_cast<double>(r2[1]) - sdd * sdd / n);
  }
}

// One block per group: merges its Cg * Tg * nseg partials, writes mean and rstd.
__global__ void __launch_bounds__(kThreads)
norm_finalize_kernel(const NormGeo g, const double* __restrict__ part, float* __restrict__ mean,
                     float* __restrict__ rstd, float eps) {
  const int64_t gi = blockIdx.x;
  const GroupRef r = group_of(g, gi);
  const int64_t K = g.Cg * g.Tg * g.nseg;
  Moments m{0.0, 0.0, 0.0};
  for (int64_t j = threadIdx.x; j < K; j += kThreads) {
    const double* p = part + 3 * group_partial(g, r, j);
    m = merge(m, Moments{p[0], p[1], p[2]});
  }
  m = block_reduce(m, [](const Moments& a, const Moments& b) { return merge(a, b); });
  if (threadIdx.x == 0) {
    const int64_t count = g.Cg * g.Tg * g.HW;
    // Without centering the statistic is the mean square: M2 + n mean^2 (nothing cancels).
    const double sq = g.center ? m.m2 : m.m2 + m.n * m.mean * m.mean;
    const GroupStats st = finalize_stats(m.mean * m.n, sq, count, eps, g.center);
    mean[gi] = st.mean;
    rstd[gi] = st.rstd;
  }
}

// y = act(n * scale + shift).
template <typename scalar_t, class Tile>
__global__ void __launch_bounds__(kThreads)
norm_apply_kernel(const NormGeo g, const scalar_t* __restrict__ x, scalar_t* __restrict__ y,
                  const float* __restrict__ mean, const float* __restrict__ rstd,
                  const NormParams<scalar_t> prm) {
  const Tile tile(g);
  if (!tile.active) return;  // no barriers in this kernel
  const int64_t gi = g.stat_index(tile.b, g.div_Cg.div(tile.c), tile.t);
  const float mu = mean[gi], rs = rstd[gi];
  const Coefs<scalar_t, Tile> cf(g, tile, prm);
#pragma unroll
  for (int k0 = 0; k0 < Tile::K; k0 += Tile::kBatch) {
    float v[Tile::kBatch];
#pragma unroll
    for (int i = 0; i < Tile::kBatch; ++i)
      v[i] = tile.valid(k0 + i) ? static_cast<float>(x[tile.offset(k0 + i)]) : 0.f;
#pragma unroll
    for (int i = 0; i < Tile::kBatch; ++i) {
      const int k = k0 + i;
      if (!tile.valid(k)) continue;
      const float2 cs = cf.at(g, tile, tile.hw(k));  // (scale, shift)
      const float z = normalize(v[i], mu, rs) * cs.x + cs.y;
      y[tile.offset(k)] = static_cast<scalar_t>(act_forward(z, g.act));
    }
  }
}

// ---- backward -----------------------------------------------------------------------
// Per tile: sums of dn, dn * n, dz * n, dz.
template <typename scalar_t, class Tile>
__global__ void __launch_bounds__(kThreads)
norm_bwd_sums_kernel(const NormGeo g, const scalar_t* __restrict__ x,
                     const scalar_t* __restrict__ dy, const float* __restrict__ mean,
                     const float* __restrict__ rstd, const NormParams<scalar_t> prm,
                     double* __restrict__ part) {
  const Tile tile(g);
  float s_dn = 0.f, s_dnn = 0.f, s_dzn = 0.f, s_dz = 0.f;
  if (tile.active) {
    const int64_t gi = g.stat_index(tile.b, g.div_Cg.div(tile.c), tile.t);
    const float mu = mean[gi], rs = rstd[gi];
    const Coefs<scalar_t, Tile> cf(g, tile, prm);
#pragma unroll
    for (int k0 = 0; k0 < Tile::K; k0 += Tile::kBatch) {
      float xv[Tile::kBatch], gv[Tile::kBatch];
#pragma unroll
      for (int i = 0; i < Tile::kBatch; ++i) {
        const bool ok = tile.valid(k0 + i);
        xv[i] = ok ? static_cast<float>(x[tile.offset(k0 + i)]) : 0.f;
        gv[i] = ok ? static_cast<float>(dy[tile.offset(k0 + i)]) : 0.f;
      }
#pragma unroll
      for (int i = 0; i < Tile::kBatch; ++i) {
        const int k = k0 + i;
        if (!tile.valid(k)) continue;
        const float2 cs = cf.at(g, tile, tile.hw(k));
        const float n = normalize(xv[i], mu, rs);
        const float dz = element_dz(gv[i], n, cs, g.act);
        const float dn = __fmul_rn(dz, cs.x);  // never fused: the same dn in both passes
        s_dn += dn;
        s_dnn += dn * n;
        s_dzn += dz * n;
        s_dz += dz;
      }
    }
  }
  float r[4] = {s_dn, s_dnn, s_dzn, s_dz};
  tile.allreduce(r);
  if (tile.writer()) {
    double* o = part + 4 * tile.partial();
#pragma unroll
    for (int i = 0; i < 4; ++i) o[i] = r[i];
  }
}

// One block per group: gmean[2 gi + {0, 1}] = the group means of dn and dn * n.
__global__ void __launch_bounds__(kThreads)
norm_bwd_group_kernel(const NormGeo g, const double* __restrict__ part, float* __restrict__ gmean) {
  const int64_t gi = blockIdx.x;
  const GroupRef r = group_of(g, gi);
  const int64_t K = g.Cg * g.Tg * g.nseg;
  Sum2 s{0.0, 0.0};
  for (int64_t j = threadIdx.x; j < K; j += kThreads) {
    const double* p = part + 4 * group_partial(g, r, j);
    s = add(s, Sum2{p[0], p[1]});
  }
  s = block_reduce(s, [](const Sum2& a, const Sum2& b) { return add(a, b); });
  if (threadIdx.x == 0) {
    const double count = static_cast<double>(g.Cg * g.Tg * g.HW);
    gmean[2 * gi] = static_cast<float>(s.a / count);
    gmean[2 * gi + 1] = static_cast<float>(s.b / count);
  }
}

// One block per channel: grad_weight[c] = sum of dz * n, grad_bias[c] = sum of dz.
__global__ void __launch_bounds__(kThreads)
norm_bwd_param_kernel(const NormGeo g, const double* __restrict__ part, float* __restrict__ gw,
                      float* __restrict__ gb) {
  const int64_t c = blockIdx.x;
  const int64_t K = g.B * g.T * g.nseg;
  Sum2 s{0.0, 0.0};
  for (int64_t j = threadIdx.x; j < K; j += kThreads) {
    int64_t q, b;
    const int64_t seg = g.div_nseg.divmod(j, q);
    const int64_t t = g.div_T.divmod(q, b);
    const double* p = part + 4 * g.partial_index(b, c, t, seg);
    s = add(s, Sum2{p[2], p[3]});
  }
  s = block_reduce(s, [](const Sum2& a, const Sum2& b) { return add(a, b); });
  if (threadIdx.x == 0) {
    if (gw != nullptr) gw[c] = static_cast<float>(s.a);
    if (gb != nullptr) gb[c] = static_cast<float>(s.b);
  }
}

// dx = norm_input_grad(dn, n, mean(dn), mean(dn * n), rstd).
template <typename scalar_t, class Tile>
__global__ void __launch_bounds__(kThreads)
norm_dx_kernel(const NormGeo g, const scalar_t* __restrict__ x, const scalar_t* __restrict__ dy,
               scalar_t* __restrict__ dx, const float* __restrict__ mean,
               const float* __restrict__ rstd, const float* __restrict__ gmean,
               const NormParams<scalar_t> prm) {
  const Tile tile(g);
  if (!tile.active) return;  // no barriers in this kernel
  const int64_t gi = g.stat_index(tile.b, g.div_Cg.div(tile.c), tile.t);
  const float mu = mean[gi], rs = rstd[gi];
  const float m_dn = gmean[2 * gi], m_dnn = gmean[2 * gi + 1];
  const Coefs<scalar_t, Tile> cf(g, tile, prm);
#pragma unroll
  for (int k0 = 0; k0 < Tile::K; k0 += Tile::kBatch) {
    float xv[Tile::kBatch], gv[Tile::kBatch];
#pragma unroll
    for (int i = 0; i < Tile::kBatch; ++i) {
      const bool ok = tile.valid(k0 + i);
      xv[i] = ok ? static_cast<float>(x[tile.offset(k0 + i)]) : 0.f;
      gv[i] = ok ? static_cast<float>(dy[tile.offset(k0 + i)]) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < Tile::kBatch; ++i) {
      const int k = k0 + i;
      if (!tile.valid(k)) continue;
      const float2 cs = cf.at(g, tile, tile.hw(k));
      const float n = normalize(xv[i], mu, rs);
      const float dz = element_dz(gv[i], n, cs, g.act);
      const float dn = __fmul_rn(dz, cs.x);  // never fused: the same dn in both passes
      dx[tile.offset(k)] =
          static_cast<scalar_t>(norm_input_grad(dn, n, m_dn, m_dnn, rs, g.center));
    }
  }
}

// grad_gamma / grad_beta: a team of TPE threads per element of gamma (in memory order) sums
// dz * n and dz over the x positions that read it: frames {0} (tl = 0), all (Tl = 1) or
// ((tl - 1) r, tl r]; pixels [hl sh, (hl + 1) sh) x [wl sw, (wl + 1) sw). The team strides
// over them in (frame, row, column) order. Sums are fp32 over at most kFlush terms, then
// double.
struct GammaGeo {
  int64_t numel, sh, sw;
  IdxDiv div_Wl, div_Hl, div_Tl, div_C, div_sw, div_sh;
};

constexpr int kFlush = 64;   // fp32 terms per thread before they move to the double sums
constexpr int kGather = 4;   // positions whose loads are issued together

template <typename scalar_t, int TPE>
__global__ void __launch_bounds__(kThreads)
norm_gamma_grad_kernel(const NormGeo g, const GammaGeo q, const scalar_t* __restrict__ x,
                       const scalar_t* __restrict__ dy, const float* __restrict__ mean,
                       const float* __restrict__ rstd, const scalar_t* __restrict__ gamma,
                       const scalar_t* __restrict__ beta, float* __restrict__ ggamma,
                       float* __restrict__ gbeta) {
  static_assert(TPE == 1 || TPE == kWarpSize || TPE == kThreads, "team: thread, warp or block");
  constexpr int kTeams = kThreads / TPE;
  const int member = threadIdx.x % TPE;
  const int64_t e = int64_t(blockIdx.x) * kTeams + threadIdx.x / TPE;
  const bool active = e < q.numel;  // uniform over a team
  double s_zn = 0.0, s_z = 0.0;
  if (active) {
    int64_t b, c, tl, hl, wl, rest;
    if (g.ncthw) {  // (B, C, Tl, Hl, Wl)
      wl = q.div_Wl.divmod(e, rest);
      hl = q.div_Hl.divmod(rest, rest);
      tl = q.div_Tl.divmod(rest, rest);
      c = q.div_C.divmod(rest, b);
    } else {  // (B, Tl, Hl, Wl, C)
      c = q.div_C.divmod(e, rest);
      wl = q.div_Wl.divmod(rest, rest);
      hl = q.div_Hl.divmod(rest, rest);
      tl = q.div_Tl.divmod(rest, b);
    }
    int64_t t_lo = 0, frames = 1;
    if (g.Tl == 1) {
      frames = g.T;
    } else if (tl > 0) {
      t_lo = (tl - 1) * g.r + 1;
      frames = g.r;
    }
    const float2 cs = make_float2(1.f + static_cast<float>(gamma[e]),
                                  beta != nullptr ? static_cast<float>(beta[e]) : 0.f);
    const int64_t grp = g.div_Cg.div(c);
    const int64_t h0 = hl * q.sh, w0 = wl * q.sw;
    float a_zn = 0.f, a_z = 0.f;
    if constexpr (TPE == 1) {
      const int64_t wstep = g.ncthw ? 1 : g.C;  // x offset step between neighbouring pixels
      // frames * sh * sw <= 64 positions (see the launch), so fp32 sums throughout; per
      // frame, the sh * sw pixels kGather at a time (their loads issued together).
      const uint32_t cell = static_cast<uint32_t>(q.sh * q.sw);
      for (int64_t t = t_lo; t < t_lo + frames; ++t) {
        const int64_t gi = g.stat_index(b, grp, t);
        const float mu = mean[gi], rs = rstd[gi];
        const int64_t hw0 = h0 * g.W + w0;
        const int64_t o0 = g.ncthw ? ((b * g.C + c) * g.T + t) * g.HW + hw0
                                   : ((b * g.T + t) * g.HW + hw0) * g.C + c;
        for (uint32_t j0 = 0; j0 < cell; j0 += kGather) {
          float xv[kGather], gv[kGather];
#pragma unroll
          for (int i = 0; i < kGather; ++i) {
            const uint32_t j = j0 + i;
            xv[i] = gv[i] = 0.f;
            if (j < cell) {
              uint32_t hh;
              const uint32_t ww = q.div_sw.divmod(j, hh);
              const int64_t off = o0 + (int64_t(hh) * g.W + ww) * wstep;
              xv[i] = static_cast<float>(x[off]);
              gv[i] = static_cast<float>(dy[off]);
            }
          }
#pragma unroll
          for (int i = 0; i < kGather; ++i) {
            if (j0 + i < cell) {
              const float n = normalize(xv[i], mu, rs);
              const float dz = element_dz(gv[i], n, cs, g.act);
              a_zn += dz * n;
              a_z += dz;
            }
          }
        }
      }
    } else {
      // This thread's positions p = member + TPE i (frame, row, column order), kGather at a
      // time: their loads are issued together, then used.
      const int64_t P = frames * q.sh * q.sw;
      int pending = 0;
      for (int64_t p0 = member; p0 < P; p0 += int64_t(kGather) * TPE) {
        float xv[kGather], gv[kGather], mu[kGather], rs[kGather];
#pragma unroll
        for (int i = 0; i < kGather; ++i) {
          const int64_t p = p0 + int64_t(i) * TPE;
          xv[i] = gv[i] = mu[i] = rs[i] = 0.f;
          if (p < P) {
            int64_t pr, ti;
            const int64_t ww = q.div_sw.divmod(p, pr);
            const int64_t hh = q.div_sh.divmod(pr, ti);
            const int64_t t = t_lo + ti;
            const int64_t hw = (h0 + hh) * g.W + w0 + ww;
            const int64_t off = g.ncthw ? ((b * g.C + c) * g.T + t) * g.HW + hw
                                        : ((b * g.T + t) * g.HW + hw) * g.C + c;
            const int64_t gi = g.stat_index(b, grp, t);
            xv[i] = static_cast<float>(x[off]);
            gv[i] = static_cast<float>(dy[off]);
            mu[i] = mean[gi];
            rs[i] = rstd[gi];
          }
        }
#pragma unroll
        for (int i = 0; i < kGather; ++i) {
          if (p0 + int64_t(i) * TPE < P) {
            const float n = normalize(xv[i], mu[i], rs[i]);
            const float dz = element_dz(gv[i], n, cs, g.act);
            a_zn += dz * n;
            a_z += dz;
          }
        }
        if (++pending == kFlush / kGather) {
          s_zn += a_zn;
          s_z += a_z;
          a_zn = a_z = 0.f;
          pending = 0;
        }
      }
    }
    s_zn += a_zn;
    s_z += a_z;
  }
  if constexpr (TPE == kWarpSize) {
    s_zn = cuda::warp_allreduce_sum(s_zn);
    s_z = cuda::warp_allreduce_sum(s_z);
  } else if constexpr (TPE == kThreads) {
    const Sum2 s = block_reduce(Sum2{s_zn, s_z}, [](const Sum2& a, const Sum2& b) { return add(a, b); });
    s_zn = s.a;
    s_z = s.b;
  }
  if (active && member == 0) {
    if (ggamma != nullptr) ggamma[e] = static_cast<float>(s_zn);
    if (gbeta != nullptr) gbeta[e] = static_cast<float>(s_z);
  }
}

// ---- host side ----------------------------------------------------------------------
NormGeo make_geo(const NormArgs& a) {
  TORCH_CHECK(a.H * a.W <= cuda::kInt32Max, "bootvid: CUDA norm kernels take frames of fewer "
              "than 2^31 pixels, got ", a.H, "x", a.W);
  NormGeo g;
  g.B = a.B;
  g.C = a.C;
  g.T = a.T;
  g.HW = a.H * a.W;
  g.W = a.W;
  g.G = a.G;
  g.Cg = a.C / a.G;
  g.Ts = a.per_frame ? a.T : 1;
  g.Tg = a.per_frame ? 1 : a.T;
  g.ncthw = a.layout == Layout::NCTHW;
  g.nseg = cuda::ceil_div(g.HW, g.ncthw ? kSegLen : kTileRows);
  g.ctiles = cuda::ceil_div(g.C, kWarpSize);
  g.Tl = a.Tl;
  g.HlWl = a.Hl * a.Wl;
  g.Wl = a.Wl;
  g.r = a.r;
  g.div_nseg = IdxDiv(g.nseg);
  g.div_T = IdxDiv(g.T);
  g.div_Tg = IdxDiv(g.Tg);
  g.div_C = IdxDiv(g.C);
  g.div_Cg = IdxDiv(g.Cg);
  g.div_ctiles = IdxDiv(g.ctiles);
  g.div_W = IdxDiv(g.W);
  g.div_sh = IdxDiv(a.sh);
  g.div_sw = IdxDiv(a.sw);
  g.act = a.act;
  g.per_frame = a.per_frame;
  g.center = a.center;
  return g;
}

int64_t num_partials(const NormGeo& g) { return g.B * g.C * g.T * g.nseg; }

template <class Tile>
unsigned int tile_grid(const NormGeo& g) {
  if constexpr (std::is_same_v<Tile, NcthwTile>) {
    return cuda::grid_1d(cuda::ceil_div(num_partials(g), kWarps), "norm (NCTHW tiles)");
  } else {
    return cuda::grid_1d(g.B * g.T * g.nseg * g.ctiles, "norm (NTHWC tiles)");
  }
}

template <typename scalar_t>
NormParams<scalar_t> norm_params(const NormArgs& a) {
  NormParams<scalar_t> p{nullptr, nullptr, nullptr, nullptr};
  if (a.modulated()) {
    p.gamma = a.gamma.const_data_ptr<scalar_t>();
    if (a.beta.defined()) p.beta = a.beta.const_data_ptr<scalar_t>();
  } else {
    if (a.weight.defined()) p.weight = a.weight.const_data_ptr<float>();
    if (a.bias.defined()) p.bias = a.bias.const_data_ptr<float>();
  }
  return p;
}

// f(std::type_identity<Tile>{}) with x's layout's tiling.
template <class F>
void with_tiling(const NormGeo& g, F&& f) {
  if (g.ncthw) f(std::type_identity<NcthwTile>{});
  else f(std::type_identity<NthwcTile>{});
}

#define BOOTVID_DISPATCH_NORM(TYPE, NAME, ...)                 \
  AT_DISPATCH_SWITCH(TYPE, NAME,                               \
                     AT_DISPATCH_CASE(at::kFloat, __VA_ARGS__) \
                     AT_DISPATCH_CASE(at::kBFloat16, __VA_ARGS__) \
                     AT_DISPATCH_CASE(at::kHalf, __VA_ARGS__))

void check_norm_inputs(const NormArgs& a) {
  TORCH_CHECK(a.x.is_cuda(), "bootvid (internal): norm_cuda on a ", a.x.device(), " tensor");
  TORCH_CHECK(a.mean.scalar_type() == at::kFloat && a.rstd.scalar_type() == at::kFloat &&
                  a.mean.is_contiguous() && a.rstd.is_contiguous(),
              "bootvid (internal): norm_cuda needs fp32 contiguous statistics");
}

}  // namespace

void norm_forward_cuda(const NormArgs& a, at::Tensor& y) {
  check_norm_inputs(a);
  const c10::cuda::CUDAGuard guard(a.x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const NormGeo g = make_geo(a);
  at::Tensor part = at::empty({3 * num_partials(g)}, a.x.options().dtype(at::kDouble));
  const unsigned int groups = cuda::grid_1d(g.B * g.G * g.Ts, "norm (groups)");
  BOOTVID_DISPATCH_NORM(a.x.scalar_type(), "bootvid_norm_forward_cuda", [&] {
    const scalar_t* x = a.x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    float* mean = a.mean.mutable_data_ptr<float>();
    float* rstd = a.rstd.mutable_data_ptr<float>();
    double* pp = part.mutable_data_ptr<double>();
    const NormParams<scalar_t> prm = norm_params<scalar_t>(a);
    with_tiling(g, [&](auto tag) {
      using Tile = typename decltype(tag)::type;
      const unsigned int blocks = tile_grid<Tile>(g);
      norm_stats_kernel<scalar_t, Tile><<<blocks, kThreads, 0, stream>>>(g, x, pp);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      norm_finalize_kernel<<<groups, kThreads, 0, stream>>>(g, pp, mean, rstd, a.eps);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      norm_apply_kernel<scalar_t, Tile><<<blocks, kThreads, 0, stream>>>(g, x, yp, mean, rstd, prm);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void norm_backward_cuda(const NormArgs& a, const at::Tensor& grad_y, at::Tensor& grad_x,
                        at::Tensor& grad_weight, at::Tensor& grad_bias, at::Tensor& grad_gamma,
                        at::Tensor& grad_beta) {
  check_norm_inputs(a);
  const c10::cuda::CUDAGuard guard(a.x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const NormGeo g = make_geo(a);
  const int64_t n_groups = g.B * g.G * g.Ts;
  at::Tensor part = at::empty({4 * num_partials(g)}, a.x.options().dtype(at::kDouble));
  at::Tensor gmean = at::empty({2 * n_groups}, a.x.options().dtype(at::kFloat));
  const unsigned int groups = cuda::grid_1d(n_groups, "norm (groups)");
  BOOTVID_DISPATCH_NORM(a.x.scalar_type(), "bootvid_norm_backward_cuda", [&] {
    const scalar_t* x = a.x.const_data_ptr<scalar_t>();
    const scalar_t* dy = grad_y.const_data_ptr<scalar_t>();
    scalar_t* dx = grad_x.mutable_data_ptr<scalar_t>();
    const float* mean = a.mean.const_data_ptr<float>();
    const float* rstd = a.rstd.const_data_ptr<float>();
    double* pp = part.mutable_data_ptr<double>();
    float* gm = gmean.mutable_data_ptr<float>();
    const NormParams<scalar_t> prm = norm_params<scalar_t>(a);
    with_tiling(g, [&](auto tag) {
      using Tile = typename decltype(tag)::type;
      const unsigned int blocks = tile_grid<Tile>(g);
      norm_bwd_sums_kernel<scalar_t, Tile>
          <<<blocks, kThreads, 0, stream>>>(g, x, dy, mean, rstd, prm, pp);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      norm_bwd_group_kernel<<<groups, kThreads, 0, stream>>>(g, pp, gm);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (!a.modulated() && (grad_weight.defined() || grad_bias.defined())) {
        norm_bwd_param_kernel<<<cuda::grid_1d(g.C, "norm (channels)"), kThreads, 0, stream>>>(
            g, pp, grad_weight.defined() ? grad_weight.mutable_data_ptr<float>() : nullptr,
            grad_bias.defined() ? grad_bias.mutable_data_ptr<float>() : nullptr);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
      norm_dx_kernel<scalar_t, Tile>
          <<<blocks, kThreads, 0, stream>>>(g, x, dy, dx, mean, rstd, gm, prm);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    if (a.modulated() && (grad_gamma.defined() || grad_beta.defined())) {
      GammaGeo q;
      q.numel = a.B * a.C * a.Tl * a.Hl * a.Wl;
      q.sh = a.sh;
      q.sw = a.sw;
      q.div_Wl = IdxDiv(a.Wl);
      q.div_Hl = IdxDiv(a.Hl);
      q.div_Tl = IdxDiv(a.Tl);
      q.div_C = IdxDiv(a.C);
      q.div_sw = IdxDiv(a.sw);
      q.div_sh = IdxDiv(a.sh);
      // x positions per gamma element (the most, over its frames): a thread for a few, a
      // warp for up to a few thousand, a block beyond.
      const int64_t positions = (a.Tl == 1 ? a.T : a.r) * a.sh * a.sw;
      const scalar_t* gam = a.gamma.const_data_ptr<scalar_t>();
      const scalar_t* bet = a.beta.defined() ? a.beta.const_data_ptr<scalar_t>() : nullptr;
      float* gg = grad_gamma.defined() ? grad_gamma.mutable_data_ptr<float>() : nullptr;
      float* gb = grad_beta.defined() ? grad_beta.mutable_data_ptr<float>() : nullptr;
      auto launch = [&](auto tpe) {
        constexpr int TPE = decltype(tpe)::value;
        const unsigned int blocks =
            cuda::grid_1d(cuda::ceil_div(q.numel, kThreads / TPE), "norm (gamma gradient)");
        norm_gamma_grad_kernel<scalar_t, TPE><<<blocks, kThreads, 0, stream>>>(
            g, q, x, dy, mean, rstd, gam, bet, gg, gb);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      if (positions <= 64) launch(std::integral_constant<int, 1>{});
      else if (positions <= 4096) launch(std::integral_constant<int, kWarpSize>{});
      else launch(std::integral_constant<int, kThreads>{});
    }
  });
}

}  // namespace bootvid
