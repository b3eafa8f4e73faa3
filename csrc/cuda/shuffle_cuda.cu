// CUDA kernels of space_to_depth_3d / depth_to_space_3d: one thread per output element
// (grid-stride loop), output elements taken in out's memory order so that the writes are
// coalesced whatever its strides; x is read through its own strides (any). Index math is
// math.h's (depth_channel, s2d_source_frame, front_frames), in 32-bit arithmetic where every
// size and offset of the problem is at most 2^30 (fits32), else in 64-bit; divisions by the
// run-time sizes use IdxDiv (a multiply-high where operands fit in 31 bits). The two layouts
// the front-ends allocate get a compile-time dimension order; others a run-time one.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <array>
#include <type_traits>

#include "bootvid/kernels.h"
#include "cuda_utils.cuh"

namespace bootvid {
namespace {

using cuda::IdxDiv;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 16;  // the grid-stride loop covers the rest

struct ShuffleGeo {
  int64_t numel;  // of out
  // out's dims in memory order, innermost first: dim[i], its size (as a divider) and stride.
  int dim[5];
  IdxDiv size[5];
  int64_t ostride_in_order[5];
  int64_t xs[5];  // x's strides, by dimension (b, c, t, h, w)
  int64_t ft, fh, fw;
  IdxDiv div_F, div_ft, div_fh, div_fw;
  int front;
  int order;    // kOrderContiguous, kOrderChannelsLast or kOrderAny
  bool fits32;  // every index below 2^31: sizes, offsets and numel at most 2^30
};

// Out's dims in memory order (innermost first): a fixed order for the two layouts the
// front-ends allocate (so that the coordinates need no run-time permutation), else g.dim.
constexpr int kOrderContiguous = 0, kOrderChannelsLast = 1, kOrderAny = 2;
template <int kOrder>
__device__ __forceinline__ constexpr int order_dim(int i) {
  if constexpr (kOrder == kOrderContiguous) return 4 - i;  // w h t c b
  else return i == 0 ? 1 : i == 4 ? 0 : 5 - i;              // c w h t b
}

// Out element li (in out's memory order) -> its coordinates (b, c, t, h, w) and offset.
// I: uint32_t when every index of the problem is below 2^31 (make_geo's fits32), else int64_t.
template <typename I, int kOrder>
__device__ __forceinline__ void out_coords(const ShuffleGeo& g, I li, I (&at)[5], I& off) {
  I ci[5];  // coordinates in memory order, innermost first
  I rest = li;
#pragma unroll
  for (int i = 0; i < 4; ++i) ci[i] = g.size[i].divmod(rest, rest);
  ci[4] = rest;
  off = 0;
#pragma unroll
  for (int i = 0; i < 5; ++i) off += ci[i] * static_cast<I>(g.ostride_in_order[i]);
  if constexpr (kOrder != kOrderAny) {
#pragma unroll
    for (int i = 0; i < 5; ++i) at[order_dim<kOrder>(i)] = ci[i];
  } else {
    // at[d] = ci[i] for the i with dim[i] == d, without a dynamically indexed array (it
    // would live in local memory).
#pragma unroll
    for (int d = 0; d < 5; ++d) {
      I v = 0;
#pragma unroll
      for (int i = 0; i < 5; ++i) v = g.dim[i] == d ? ci[i] : v;
      at[d] = v;
    }
  }
}

// out[b, depth_channel(c, it, ih, iw), tp, ho, wo] = x[b, c, s, ho fh + ih, wo fw + iw],
// s = s2d_source_frame(tp ft + it) (a zero where s < 0).
template <typename scalar_t, typename I, int kOrder>
__global__ void __launch_bounds__(kThreads)
space_to_depth_kernel(const ShuffleGeo g, const scalar_t* __restrict__ x, scalar_t* __restrict__ out) {
  const I n = static_cast<I>(g.numel);
  const I step = static_cast<I>(gridDim.x) * kThreads;
  const I fh = static_cast<I>(g.fh), fw = static_cast<I>(g.fw);
  for (I li = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; li < n; li += step) {
    I at[5], off;
    out_coords<I, kOrder>(g, li, at, off);
    const I b = at[0], co = at[1], tp = at[2], ho = at[3], wo = at[4];
    // co = depth_channel(c, it, ih, iw) = c F + (it fh + ih) fw + iw.
    I c, q, it;
    const I sub = g.div_F.divmod(co, c);
    const I iw = g.div_fw.divmod(sub, q);
    const I ih = g.div_fh.divmod(q, it);
    const int64_t s = s2d_source_frame(int64_t(tp) * g.ft + int64_t(it), g.ft, g.front);
    scalar_t v = static_cast<scalar_t>(0.0f);
    if (s >= 0) {
      v = x[b * static_cast<I>(g.xs[0]) + c * static_cast<I>(g.xs[1]) +
            static_cast<I>(s) * static_cast<I>(g.xs[2]) + (ho * fh + ih) * static_cast<I>(g.xs[3]) +
            (wo * fw + iw) * static_cast<I>(g.xs[4])];
    }
    out[off] = v;
  }
}

// out[b, c, t, h, w] = x[b, depth_channel(c, p % ft, h % fh, w % fw), p / ft, h / fh, w / fw],
// p = t + front_frames; with the replicate front's adjoint, out frame 0 sums p = 0 .. ft-1.
template <typename scalar_t, typename I, int kOrder>
__global__ void __launch_bounds__(kThreads)
depth_to_space_kernel(const ShuffleGeo g, const scalar_t* __restrict__ x, scalar_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  const I n = static_cast<I>(g.numel);
  const I step = static_cast<I>(gridDim.x) * kThreads;
  const I ff = static_cast<I>(front_frames(g.ft, g.front));
  for (I li = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; li < n; li += step) {
    I at[5], off;
    out_coords<I, kOrder>(g, li, at, off);
    const I b = at[0], c = at[1], t = at[2], h = at[3], w = at[4];
    I hq, wq;
    const I ih = g.div_fh.divmod(h, hq);
    const I iw = g.div_fw.divmod(w, wq);
    const I base = b * static_cast<I>(g.xs[0]) + hq * static_cast<I>(g.xs[3]) +
                   wq * static_cast<I>(g.xs[4]);
    auto src = [&](I p) {
      I tq;
      const I it = g.div_ft.divmod(p, tq);
      const I ch = static_cast<I>(depth_channel(c, it, ih, iw, g.ft, g.fh, g.fw));
      return x[base + ch * static_cast<I>(g.xs[1]) + tq * static_cast<I>(g.xs[2])];
    };
    const I p1 = t + ff;
    const I p0 = (g.front == kFrontReplicate && t == 0) ? I(0) : p1;
    if (p0 == p1) {
      out[off] = src(p1);
    } else {
      acc_t acc = acc_t(0);
      for (I p = p0; p <= p1; ++p) acc += static_cast<acc_t>(src(p));
      out[off] = static_cast<scalar_t>(acc);
    }
  }
}

ShuffleGeo make_geo(const at::Tensor& x, const at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                    int front) {
  TORCH_CHECK(x.dim() == 5 && out.dim() == 5, "bootvid (internal): shuffle of non-5-D tensors");
  ShuffleGeo g;
  g.numel = out.numel();
  // out's dims from the smallest stride to the largest (size-1 dims last: any place is right
  // for them); ties keep the later dimension innermost.
  std::array<int, 5> order{4, 3, 2, 1, 0};
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const bool a1 = out.size(a) == 1, b1 = out.size(b) == 1;
    if (a1 != b1) return b1;
    return out.stride(a) < out.stride(b);
  });
  for (int i = 0; i < 5; ++i) {
    g.dim[i] = order[i];
    g.size[i] = IdxDiv(out.size(order[i]));
    g.ostride_in_order[i] = out.stride(order[i]);
    g.xs[i] = x.stride(i);
  }
  g.ft = ft;
  g.fh = fh;
  g.fw = fw;
  g.div_F = IdxDiv(ft * fh * fw);
  g.div_ft = IdxDiv(ft);
  g.div_fh = IdxDiv(fh);
  g.div_fw = IdxDiv(fw);
  g.front = front;
  const std::array<int, 5> contiguous{4, 3, 2, 1, 0}, channels_last{1, 4, 3, 2, 0};
  g.order = order == contiguous ? kOrderContiguous
            : order == channels_last ? kOrderChannelsLast
                                     : kOrderAny;
  auto max_offset = [](const at::Tensor& t) {
    int64_t m = 0;
    for (int i = 0; i < t.dim(); ++i) m += (t.size(i) - 1) * t.stride(i);
    return m;
  };
  const int64_t k30 = int64_t(1) << 30;
  g.fits32 = out.numel() <= k30 && x.numel() <= k30 && max_offset(x) <= k30 &&
             max_offset(out) <= k30 && ft * fh * fw <= k30;
  return g;
}

// f(std::type_identity<I>, std::integral_constant<int, order>) for g's variant. The 64-bit
// variant serves every layout through the run-time permutation (it is for huge tensors).
template <class F>
void with_variant(const ShuffleGeo& g, F&& f) {
  using Any = std::integral_constant<int, kOrderAny>;
  if (!g.fits32) return f(std::type_identity<int64_t>{}, Any{});
  using U = std::type_identity<uint32_t>;
  if (g.order == kOrderContiguous) return f(U{}, std::integral_constant<int, kOrderContiguous>{});
  if (g.order == kOrderChannelsLast) return f(U{}, std::integral_constant<int, kOrderChannelsLast>{});
  f(U{}, Any{});
}

template <class Launch>
void run_shuffle(const at::Tensor& x, at::Tensor& out, const char* name, Launch&& launch) {
  if (out.numel() == 0) return;
  TORCH_CHECK(x.is_cuda() && out.is_cuda() && x.device() == out.device(),
              "bootvid (internal): ", name, " needs x and out on one CUDA device");
  TORCH_CHECK(x.scalar_type() == out.scalar_type(), "bootvid (internal): ", name,
              ": x and out dtypes differ");
  const c10::cuda::CUDAGuard guard(x.device());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const unsigned int blocks =
      static_cast<unsigned int>(std::min(cuda::ceil_div(out.numel(), kThreads), kMaxBlocks));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "bootvid_shuffle_cuda", [&] {
    launch(static_cast<scalar_t*>(nullptr), blocks, stream);
  });
}

}  // namespace

void space_to_depth_cuda(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                         int front) {
  run_shuffle(x, out, "space_to_depth_cuda", [&](auto* tag, unsigned int blocks, cudaStream_t stream) {
    using scalar_t = std::remove_pointer_t<decltype(tag)>;
    const ShuffleGeo g = make_geo(x, out, ft, fh, fw, front);
    with_variant(g, [&](auto idx, auto order) {
      using I = typename decltype(idx)::type;
      space_to_depth_kernel<scalar_t, I, decltype(order)::value><<<blocks, kThreads, 0, stream>>>(
          g, x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void depth_to_space_cuda(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                         int front) {
  run_shuffle(x, out, "depth_to_space_cuda", [&](auto* tag, unsigned int blocks, cudaStream_t stream) {
    using scalar_t = std::remove_pointer_t<decltype(tag)>;
    const ShuffleGeo g = make_geo(x, out, ft, fh, fw, front);
    with_variant(g, [&](auto idx, auto order) {
      using I = typename decltype(idx)::type;
      depth_to_space_kernel<scalar_t, I, decltype(order)::value><<<blocks, kThreads, 0, stream>>>(
          g, x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace bootvid
