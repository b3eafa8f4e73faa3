// CPU kernels of space_to_depth_3d / depth_to_space_3d: one gather pass over the output in
// its memory order. Index math runs once per output row (the innermost memory dimension),
// so the inner loops are plain strided copies.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <vector>

#include "bootvid/kernels.h"

namespace bootvid {
namespace {

struct Strides5 {
  std::array<int64_t, 5> s;
  explicit Strides5(const at::Tensor& t) {
    for (int i = 0; i < 5; ++i) s[i] = t.stride(i);
  }
  int64_t at(int64_t b, int64_t c, int64_t t, int64_t h, int64_t w) const {
    return b * s[0] + c * s[1] + t * s[2] + h * s[3] + w * s[4];
  }
};

constexpr int64_t kGrain = 64;  // rows per parallel task, at least

// dst[i * ds] = src[i * ss] for i < n.
template <typename T>
inline void strided_copy(T* dst, int64_t ds, const T* src, int64_t ss, int64_t n) {
  if (ds == 1 && ss == 1) {
    std::copy(src, src + n, dst);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i * ds] = src[i * ss];
  }
}

// dst[i] = src[i * FW] for i < n: with FW a constant the compiler vectorises the gather.
template <int FW, typename T>
inline void deinterleave(T* __restrict__ dst, const T* __restrict__ src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i * FW];
}

// Row i of the output of space_to_depth: dst[i * ds] = src[i * fw * ss] (n values).
template <typename T>
inline void gather_every(T* dst, int64_t ds, const T* src, int64_t ss, int64_t fw, int64_t n) {
  if (ds == 1 && ss == 1) {
    switch (fw) {
      case 1: std::copy(src, src + n, dst); return;
      case 2: deinterleave<2>(dst, src, n); return;
      case 4: deinterleave<4>(dst, src, n); return;
      default: break;
    }
  }
  strided_copy(dst, ds, src, fw * ss, n);
}

// dst[i * FW + k] = src[k][i] for i < n, k < FW: fixed-FW interleaving stores, which the
// compiler turns into vector shuffles.
template <int FW, typename T>
inline void interleave(T* __restrict__ dst, const T* const* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < FW; ++k) dst[i * FW + k] = src[k][i];
}

// A row of the output of depth_to_space: dst[(i * fw + k) * ds] = src[k][i * ss].
template <typename T>
inline void scatter_interleaved(T* dst, int64_t ds, const T* const* src, int64_t ss, int64_t fw,
                                int64_t n) {
  if (ds == 1 && ss == 1) {
    switch (fw) {
      case 1: std::copy(src[0], src[0] + n, dst); return;
      case 2: interleave<2>(dst, src, n); return;
      case 4: interleave<4>(dst, src, n); return;
      default: break;
    }
  }
  for (int64_t k = 0; k < fw; ++k) strided_copy(dst + k * ds, fw * ds, src[k], ss, n);
}

template <typename T>
inline void strided_fill_zero(T* dst, int64_t ds, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i * ds] = T(0);
}

template <typename scalar_t>
void s2d_impl(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw, int front) {
  const scalar_t* xp = x.const_data_ptr<scalar_t>();
  scalar_t* op = out.mutable_data_ptr<scalar_t>();
  const Strides5 xs(x), os(out);
  const int64_t B = out.size(0), CO = out.size(1), TP = out.size(2), HO = out.size(3), WO = out.size(4);
  const int64_t F = ft * fh * fw;
  if (layout_of(out) == Layout::NCTHW) {
    // Rows along wo: out[b, co, tp, ho, :] = x[b, c, s, ho*fh + ih, iw :: fw]. Tasks are
    // (b, co) planes, so the per-row index math stays out of the inner loops.
    at::parallel_for(0, B * CO, 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t co = plane % CO, b = plane / CO;
        const int64_t c = co / F, rem = co % F;
        const int64_t it = rem / (fh * fw), ih = (rem / fw) % fh, iw = rem % fw;
        for (int64_t tp = 0; tp < TP; ++tp) {
          const int64_t s = s2d_source_frame(tp * ft + it, ft, front);
          for (int64_t ho = 0; ho < HO; ++ho) {
            scalar_t* dst = op + os.at(b, co, tp, ho, 0);
            if (s < 0) {
              strided_fill_zero(dst, os.s[4], WO);
            } else {
              gather_every(dst, os.s[4], xp + xs.at(b, c, s, ho * fh + ih, iw), xs.s[4], fw, WO);
            }
          }
        }
      }
    });
  } else {
    // Rows along the channels: out[b, :, tp, ho, wo], co = c*F + (it*fh + ih)*fw + iw.
    const int64_t C = CO / F;
    at::parallel_for(0, B * TP * HO * WO, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t pos = begin; pos < end; ++pos) {
        const int64_t wo = pos % WO, ho = (pos / WO) % HO, tp = (pos / (WO * HO)) % TP;
        const int64_t b = pos / (WO * HO * TP);
        for (int64_t it = 0; it < ft; ++it) {
          const int64_t s = s2d_source_frame(tp * ft + it, ft, front);
          for (int64_t ih = 0; ih < fh; ++ih) {
            for (int64_t iw = 0; iw < fw; ++iw) {
              scalar_t* dst = op + os.at(b, depth_channel(0, it, ih, iw, ft, fh, fw), tp, ho, wo);
              if (s < 0) {
                strided_fill_zero(dst, F * os.s[1], C);
              } else {
                strided_copy(dst, F * os.s[1], xp + xs.at(b, 0, s, ho * fh + ih, wo * fw + iw),
                             xs.s[1], C);
              }
            }
          }
        }
      }
    });
  }
}

template <typename scalar_t>
void d2s_impl(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw, int front) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* xp = x.const_data_ptr<scalar_t>();
  scalar_t* op = out.mutable_data_ptr<scalar_t>();
  const Strides5 xs(x), os(out);
  const int64_t B = out.size(0), C = out.size(1), T = out.size(2), H = out.size(3), W = out.size(4);
  const int64_t ff = front_frames(ft, front);
  const int64_t WI = W / fw;
  // Padded frames that land on output frame t: just t + ff, except frame 0 of the replicate
  // adjoint, which also gathers (sums) the ft - 1 front frames.
  auto first_p = [&](int64_t t) { return (front == kFrontReplicate && t == 0) ? 0 : t + ff; };
  if (layout_of(out) == Layout::NCTHW) {
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> acc;
      std::vector<const scalar_t*> srcs(fw);
      for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t c = plane % C, b = plane / C;
        for (int64_t t = 0; t < T; ++t) {
          const int64_t p0 = first_p(t), p1 = t + ff;
          for (int64_t h = 0; h < H; ++h) {
            const int64_t ih = h % fh, ho = h / fh;
            scalar_t* dst = op + os.at(b, c, t, h, 0);
            if (p0 == p1) {
              for (int64_t iw = 0; iw < fw; ++iw)
                srcs[iw] = xp + xs.at(b, depth_channel(c, p1 % ft, ih, iw, ft, fh, fw), p1 / ft, ho, 0);
              scatter_interleaved(dst, os.s[4], srcs.data(), xs.s[4], fw, WI);
              continue;
            }
            acc.assign(W, acc_t(0));
            for (int64_t p = p0; p <= p1; ++p) {
              for (int64_t iw = 0; iw < fw; ++iw) {
                const scalar_t* src =
                    xp + xs.at(b, depth_channel(c, p % ft, ih, iw, ft, fh, fw), p / ft, ho, 0);
                for (int64_t wo = 0; wo < WI; ++wo) acc[wo * fw + iw] += static_cast<acc_t>(src[wo * xs.s[4]]);
              }
            }
            for (int64_t w = 0; w < W; ++w) dst[w * os.s[4]] = static_cast<scalar_t>(acc[w]);
          }
        }
      }
    });
  } else {
    const int64_t F = ft * fh * fw;
    at::parallel_for(0, B * T * H * W, kGrain, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> acc;
      for (int64_t pos = begin; pos < end; ++pos) {
        const int64_t w = pos % W, h = (pos / W) % H, t = (pos / (W * H)) % T, b = pos / (W * H * T);
        const int64_t ih = h % fh, iw = w % fw, ho = h / fh, wo = w / fw;
        scalar_t* dst = op + os.at(b, 0, t, h, w);
        const int64_t p0 = first_p(t), p1 = t + ff;
        if (p0 == p1) {
          const int64_t ch0 = depth_channel(0, p1 % ft, ih, iw, ft, fh, fw);
          strided_copy(dst, os.s[1], xp + xs.at(b, ch0, p1 / ft, ho, wo), F * xs.s[1], C);
        } else {
          acc.assign(C, acc_t(0));
          for (int64_t p = p0; p <= p1; ++p) {
            const scalar_t* src = xp + xs.at(b, depth_channel(0, p % ft, ih, iw, ft, fh, fw), p / ft, ho, wo);
            for (int64_t c = 0; c < C; ++c) acc[c] += static_cast<acc_t>(src[c * F * xs.s[1]]);
          }
          for (int64_t c = 0; c < C; ++c) dst[c * os.s[1]] = static_cast<scalar_t>(acc[c]);
        }
      }
    });
  }
}

}  // namespace

void space_to_depth_cpu(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                        int front) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "space_to_depth_cpu",
                                  [&] { s2d_impl<scalar_t>(x, out, ft, fh, fw, front); });
}

void depth_to_space_cpu(const at::Tensor& x, at::Tensor& out, int64_t ft, int64_t fh, int64_t fw,
                        int front) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "depth_to_space_cpu",
                                  [&] { d2s_impl<scalar_t>(x, out, ft, fh, fw, front); });
}

}  // namespace bootvid
