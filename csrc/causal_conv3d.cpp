// causal_conv3d: a 3D convolution whose time axis is causal (frames only see the past), with
// a streaming cache. The GEMM work goes to the vendor convolution (oneDNN on CPU, cuDNN on
// CUDA); this file never builds the time-padded input. Output frames whose window touches the
// front (cache or replicated/zero frames) are computed from a small head tensor; the rest
// read x in place, in a few time chunks, so temporaries stay a fraction of the video.
#include <ATen/ATen.h>
#include <ATen/Config.h>
#if AT_MKLDNN_ENABLED() && __has_include(<ATen/native/ConvUtils.h>)
#include <ATen/native/ConvUtils.h>
#define BOOTVID_MKLDNN_BACKWARD 1
#endif

#include <algorithm>
#include <string>

#include "bootvid/kernels.h"
#include "bootvid/ops.h"

namespace bootvid {
namespace {

constexpr int64_t kMaxChunkBytes = int64_t(64) << 20;  // cap on one chunk's output (CPU)

// Body chunks per forward call. CPU: 2 keeps the temporaries at half the output (speed is at
// parity: the time is oneDNN's GEMM). CUDA: one piece; 4 chunks measured 0.34x cuDNN's
// F.pad + conv3d on an H100 (launches and copies per chunk). The backward runs the body in
// one piece on both (see causal_conv3d_backward): fwd + bwd peak 207 vs F.pad + conv3d's
// 218 MiB at 1x128x17x64x64, its input gradient being x's own.
int64_t chunks_per_call(const at::Tensor& x) { return x.is_cuda() ? 1 : 2; }

// Outputs follow the layout rule of every bootvid op (channels_last_3d only when x is
// channels_last_3d-contiguous), which the fake kernels in Python mirror.
at::MemoryFormat format_of(const at::Tensor& x) {
  return layout_of(x) == Layout::NTHWC ? at::MemoryFormat::ChannelsLast3d
                                       : at::MemoryFormat::Contiguous;
}

struct ConvPlan {
  int64_t B, Cin, T, H, W;
  int64_t Cout, kt, kh, kw, groups;
  int64_t st, sh, sw, ph, pw;
  int64_t L;      // front frames (cache length, or kt - 1)
  int64_t n_out;  // output frames
  int64_t h;      // head outputs: windows that touch the front
  int64_t Ho, Wo;
  bool replicate;
  bool has_cache;
};

ConvPlan make_plan(const at::Tensor& x, const at::Tensor& w, at::IntArrayRef stride,
                   at::IntArrayRef padding, const std::string& pad_mode,
                   const std::optional<at::Tensor>& cache) {
  const char* op = "bootvid.causal_conv3d";
  TORCH_CHECK(x.dim() == 5, op, ": expected x of shape (B, C, T, H, W), got a ", x.dim(),
              "-D tensor of shape ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), op, ": expected a floating-point x, got ", x.scalar_type());
  TORCH_CHECK(w.dim() == 5, op, ": expected weight of shape (C_out, C_in / groups, kt, kh, kw), got ",
              w.sizes());
  TORCH_CHECK(w.device() == x.device(), op, ": x is on ", x.device(), " but weight is on ",
              w.device());
  TORCH_CHECK(w.scalar_type() == x.scalar_type(), op, ": x is ", x.scalar_type(), " but weight is ",
              w.scalar_type(), "; cast them to one dtype");
  TORCH_CHECK(stride.size() == 3 && padding.size() == 2, op,
              ": stride must have 3 entries (t, h, w) and padding 2 (h, w)");
  ConvPlan p;
  p.B = x.size(0); p.Cin = x.size(1); p.T = x.size(2); p.H = x.size(3); p.W = x.size(4);
  p.Cout = w.size(0); p.kt = w.size(2); p.kh = w.size(3); p.kw = w.size(4);
  TORCH_CHECK(w.size(1) >= 1 && p.Cin % w.size(1) == 0, op, ": x has ", p.Cin,
              " channels, which weight's C_in / groups (", w.size(1), ") does not divide");
  p.groups = p.Cin / w.size(1);
  TORCH_CHECK(p.Cout % p.groups == 0, op, ": C_out (", p.Cout, ") must be divisible by groups (",
              p.groups, ")");
  p.st = stride[0]; p.sh = stride[1]; p.sw = stride[2]; p.ph = padding[0]; p.pw = padding[1];
  TORCH_CHECK(p.st >= 1 && p.sh >= 1 && p.sw >= 1, op, ": strides must be >= 1, got ", stride);
  TORCH_CHECK(p.ph >= 0 && p.pw >= 0, op, ": padding must be >= 0, got ", padding);
  TORCH_CHECK(p.st <= p.kt, op, ": the temporal stride (", p.st,
              ") must not exceed the temporal kernel size (", p.kt, ") for a causal conv");
  TORCH_CHECK(p.T >= 1, op, ": x has no frames");
  TORCH_CHECK(pad_mode == "replicate" || pad_mode == "zeros", op,
              ": pad_mode must be \"replicate\" or \"zeros\", got \"", pad_mode, "\"");
  p.replicate = pad_mode == "replicate";
  p.Ho = (p.H + 2 * p.ph - p.kh) / p.sh + 1;
  p.Wo = (p.W + 2 * p.pw - p.kw) / p.sw + 1;
  TORCH_CHECK(p.H + 2 * p.ph >= p.kh && p.W + 2 * p.pw >= p.kw, op, ": spatial size ", p.H, "x",
              p.W, " with padding (", p.ph, ", ", p.pw, ") is smaller than the kernel ", p.kh, "x",
              p.kw);
  p.has_cache = cache.has_value() && cache->defined();
  if (p.has_cache) {
    const at::Tensor& c = *cache;
    TORCH_CHECK(c.dim() == 5 && c.size(0) == p.B && c.size(1) == p.Cin && c.size(3) == p.H &&
                    c.size(4) == p.W,
                op, ": cache must be (B, C, L, H, W) = (", p.B, ", ", p.Cin, ", L, ", p.H, ", ",
                p.W, "), got ", c.sizes(), " (pass the new_cache this op returned for the previous chunk)");
    TORCH_CHECK(c.device() == x.device() && c.scalar_type() == x.scalar_type(), op,
                ": cache must match x's device and dtype (", x.device(), ", ", x.scalar_type(),
                "), got ", c.device(), ", ", c.scalar_type());
    p.L = c.size(2);
    TORCH_CHECK(p.L + p.T >= p.kt - p.st, op, ": cache (", p.L, " frames) and x (", p.T,
                ") together must hold at least kt - st = ", p.kt - p.st, " frames");
  } else {
    p.L = p.kt - 1;
  }
  p.n_out = p.L + p.T >= p.kt ? (p.L + p.T - p.kt) / p.st + 1 : 0;
  p.h = std::min(p.n_out, (p.L + p.st - 1) / p.st);
  return p;
}

// The first `n` frames of the front (cache, replicated first frame, or zeros).
at::Tensor front_tensor(const ConvPlan& p, const at::Tensor& x,
                        const std::optional<at::Tensor>& cache, int64_t n) {
  if (p.has_cache) return cache->narrow(2, 0, n);
  if (p.replicate) return x.narrow(2, 0, 1).expand({p.B, p.Cin, n, p.H, p.W});
  return at::zeros({p.B, p.Cin, n, p.H, p.W}, x.options());
}

// Frames [a, b) of the padded sequence P = cat(front, x), as a tensor (a view when possible).
at::Tensor padded_range(const ConvPlan& p, const at::Tensor& x,
                        const std::optional<at::Tensor>& cache, int64_t a, int64_t b) {
  if (a >= p.L) return x.narrow(2, a - p.L, b - a);
  const int64_t nf = std::min(b, p.L) - a;
  at::Tensor f = front_tensor(p, x, cache, std::min(b, p.L)).narrow(2, a, nf);
  if (b <= p.L) return f.contiguous(format_of(x));
  return at::cat({f, x.narrow(2, 0, b - p.L)}, 2);
}

// Output chunks [j0, j1) of the body (outputs from p.h on), in `chunks` pieces (and pieces of
// at most kMaxChunkBytes of output on the CPU).
std::vector<std::pair<int64_t, int64_t>> body_chunks(const ConvPlan& p, const at::Tensor& x,
                                                     int64_t chunks) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t n = p.n_out - p.h;
  if (n <= 0) return out;
  int64_t cs = (n + chunks - 1) / chunks;
  if (!x.is_cuda()) {
    const int64_t frame_bytes = std::max<int64_t>(1, p.B * p.Cout * p.Ho * p.Wo * x.element_size());
    cs = std::max<int64_t>(1, std::min(cs, kMaxChunkBytes / frame_bytes));
  }
  for (int64_t j = p.h; j < p.n_out; j += cs) out.emplace_back(j, std::min(p.n_out, j + cs));
  return out;
}

// Whether ATen would run a conv of these operands on its slow im2col path (slow_conv3d)
// instead of oneDNN: fp32 on the CPU, batch 1, groups 1, small kernels and
// B*C*T*H <= 20480 (ATen's ConvParams::use_mkldnn).
bool slow_conv_path(const at::Tensor& in, const at::Tensor& w, int64_t groups) {
#if AT_MKLDNN_ENABLED()
  return in.is_cpu() && in.scalar_type() == at::kFloat &&
         at::globalContext().userEnabledMkldnn() && groups == 1 && in.size(0) == 1 &&
         !(w.size(-1) > 3 && w.size(-2) > 3) &&
         in.size(0) * in.size(1) * in.size(2) * in.size(3) <= 20480;
#else
  (void)in;
  (void)w;
  (void)groups;
  return false;
#endif
}

at::Tensor conv_piece(const ConvPlan& p, const at::Tensor& in, const at::Tensor& w,
                      const std::optional<at::Tensor>& bias) {
#if AT_MKLDNN_ENABLED()
  // ATen sends fp32 convs with batch 1 and B*C*T*H <= 20480 to its im2col path (slow_conv3d),
  // which is what the head pieces, time chunks and deep, small layers of a tokenizer are:
  // oneDNN measured 1.7-5x faster on those (e.g. 1x128x4x32x32, 3x3x3: 9.6 vs 47 ms).
  // (1x1x1 kernels excepted: there the im2col path is a plain GEMM, faster than oneDNN.)
  if (in.is_cpu() && in.scalar_type() == at::kFloat && at::globalContext().userEnabledMkldnn() &&
      p.kt * p.kh * p.kw > 1) {
    return at::mkldnn_convolution(in, w, bias, {0, p.ph, p.pw}, {p.st, p.sh, p.sw}, {1, 1, 1},
                                  p.groups);
  }
#endif
  return at::conv3d(in, w, bias, {p.st, p.sh, p.sw}, {0, p.ph, p.pw}, {1, 1, 1}, p.groups);
}

// The (input, weight) gradients of one piece (conv_piece's backward; mask as
// at::convolution_backward's, an unasked gradient comes back undefined). ATen's backward
// picks its im2col path (slow_conv3d_backward) for the same small batch-1 fp32 pieces as the
// forward, 1.5-3x slower than oneDNN there except for 1x1x1 kernels (a plain GEMM): those
// pieces go to oneDNN's backward instead.
std::tuple<at::Tensor, at::Tensor> conv_piece_backward(const ConvPlan& p, const at::Tensor& in,
                                                       const at::Tensor& g, const at::Tensor& w,
                                                       std::array<bool, 3> mask) {
  at::Tensor gi, gw;
  if (slow_conv_path(in, w, p.groups) && p.kt * p.kh * p.kw > 1) {
#ifdef BOOTVID_MKLDNN_BACKWARD
    // What ATen's mkldnn_convolution_backward_stub dispatches to (registered alike for every
    // CPU capability): the stub's call operator is not exported from libtorch, its
    // per-capability pointers are.
    if (const auto mkldnn_backward =
            at::native::mkldnn_convolution_backward_stub_DECLARE_DISPATCH_type::DEFAULT) {
      const auto mf = at::native::mkldnn_conv_use_channels_last(in, w)
                          ? at::MemoryFormat::ChannelsLast3d
                          : at::MemoryFormat::Contiguous;
      const at::Tensor in_c = in.contiguous(mf), g_c = g.contiguous(mf), w_c = w.contiguous(mf);
      const std::array<int64_t, 3> pad{0, p.ph, p.pw}, str{p.st, p.sh, p.sw}, dil{1, 1, 1};
      std::tie(gi, gw, std::ignore) = mkldnn_backward(in_c, g_c, w_c, pad, str, dil, p.groups,
                                                      mask);
      return {gi, gw};
    }
#endif
    // Without it: batch 2 sends ATen to oneDNN; a zero sample adds nothing to the weight
    // gradient, and its input gradient is dropped.
    std::tie(gi, gw, std::ignore) = at::convolution_backward(
        at::cat({g, at::zeros_like(g)}), at::cat({in, at::zeros_like(in)}), w, std::nullopt,
        {p.st, p.sh, p.sw}, {0, p.ph, p.pw}, {1, 1, 1}, false, {0, 0, 0}, p.groups, mask);
    return {gi.defined() ? gi.narrow(0, 0, 1) : gi, gw};
  }
  std::tie(gi, gw, std::ignore) = at::convolution_backward(
      g, in, w, std::nullopt, {p.st, p.sh, p.sw}, {0, p.ph, p.pw}, {1, 1, 1}, false, {0, 0, 0},
      p.groups, mask);
  return {gi, gw};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> causal_conv3d(const at::Tensor& x, const at::Tensor& weight,
                                                 const std::optional<at::Tensor>& bias,
                                                 at::IntArrayRef stride, at::IntArrayRef padding,
                                                 const std::string& pad_mode,
                                                 const std::optional<at::Tensor>& cache) {
  const ConvPlan p = make_plan(x, weight, stride, padding, pad_mode, cache);
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == p.Cout, "bootvid.causal_conv3d: expected bias of shape (",
                p.Cout, ",), got ", bias->sizes());
  }
  const auto fmt = format_of(x);
  at::Tensor y = at::empty({p.B, p.Cout, p.n_out, p.Ho, p.Wo}, x.options().memory_format(fmt));
  if (p.h > 0) {
    const at::Tensor head = padded_range(p, x, cache, 0, (p.h - 1) * p.st + p.kt);
    y.narrow(2, 0, p.h).copy_(conv_piece(p, head, weight, bias));
  }
  for (const auto& [j0, j1] : body_chunks(p, x, chunks_per_call(x))) {
    const at::Tensor in = padded_range(p, x, cache, j0 * p.st, (j1 - 1) * p.st + p.kt);
    y.narrow(2, j0, j1 - j0).copy_(conv_piece(p, in, weight, bias));
  }
  // new_cache = P[len(P) - (kt - st):], a fresh tensor (never a view of x or cache).
  const int64_t len = p.L + p.T, keep = p.kt - p.st;
  at::Tensor new_cache = padded_range(p, x, cache, len - keep, len).contiguous(fmt).clone(fmt);
  return {y, new_cache};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> causal_conv3d_backward(
    const at::Tensor& grad_y, const std::optional<at::Tensor>& grad_new_cache, const at::Tensor& x,
    const at::Tensor& weight, const std::optional<at::Tensor>& cache, at::IntArrayRef stride,
    at::IntArrayRef padding, const std::string& pad_mode, std::array<bool, 3> output_mask) {
  const ConvPlan p = make_plan(x, weight, stride, padding, pad_mode, cache);
  TORCH_CHECK(grad_y.dim() == 5 && grad_y.size(0) == p.B && grad_y.size(1) == p.Cout &&
                  grad_y.size(2) == p.n_out && grad_y.size(3) == p.Ho && grad_y.size(4) == p.Wo,
              "bootvid.causal_conv3d_backward: grad_y has shape ", grad_y.sizes(),
              " but the output has (", p.B, ", ", p.Cout, ", ", p.n_out, ", ", p.Ho, ", ", p.Wo, ")");
  const auto fmt = format_of(x);
  at::Tensor gy = grad_y.to(x.scalar_type());
  // gx and gfront are written piece by piece: the first piece to reach a frame copies its
  // gradient there, later ones (windows overlap by kt - st frames) add to it. No zero fill
  // and no read-modify-write of the whole gradient.
  // output_mask: (x and cache, weight, bias). A gradient not asked for is not computed (a
  // frozen layer's weight gradient, the input video's gradient) and comes back empty.
  const bool need_in = output_mask[0], need_w = output_mask[1];
  // (A fresh empty tensor each: outputs must not alias one another.)
  auto none = [&] { return at::empty({0}, x.options()); };
  at::Tensor gx;
  at::Tensor gw = need_w ? at::zeros_like(weight, at::MemoryFormat::Contiguous) : none();
  at::Tensor gb = !output_mask[2] ? none()
                  : p.n_out > 0   ? gy.sum({0, 2, 3, 4})
                                  : at::zeros({p.Cout}, x.options());
  // Gradient with respect to the front frames [0, L).
  at::Tensor gfront = need_in ? at::empty({p.B, p.Cin, p.L, p.H, p.W}, x.options()) : none();
  const std::array<bool, 3> mask = {need_in, need_w, false};
  // Padded frames [a, b) of the gradient g (its frames from 0) go to the front and to x,
  // added to what is there or copied over it.
  auto route = [&](const at::Tensor& g, int64_t a, int64_t b, bool add) {
    if (b <= a) return;
    auto put = [add](at::Tensor dst, const at::Tensor& src) {
      if (add) dst.add_(src);
      else dst.copy_(src);
    };
    if (a < p.L) {
      const int64_t nf = std::min(b, p.L) - a;
      put(gfront.narrow(2, a, nf), g.narrow(2, 0, nf));
    }
    if (b > p.L) {
      const int64_t a_x = std::max(a, p.L);
      put(gx.narrow(2, a_x - p.L, b - a_x), g.narrow(2, a_x - a, b - a_x));
    }
  };
  int64_t done = 0;  // padded frames [0, done) hold (part of) their gradient
  // Pieces come in time order and each starts at or before the end of the previous one
  // (j0 * st <= (j0 - 1) * st + kt as st <= kt), so [a, done) is the overlap.
  auto scatter = [&](const at::Tensor& g, int64_t a, int64_t b) {
    const int64_t mid = std::clamp(done, a, b);
    route(g, a, mid, /*add=*/true);
    route(g.narrow(2, mid - a, b - mid), mid, b, /*add=*/false);
    done = std::max(done, b);
  };
  // The input gradient of outputs [j0, j1) (padded frames [j0 * st, (j1 - 1) * st + kt));
  // the weight gradient is accumulated into gw.
  auto piece_grad = [&](int64_t j0, int64_t j1) {
    const at::Tensor in = padded_range(p, x, cache, j0 * p.st, (j1 - 1) * p.st + p.kt);
    auto [gi, gwp] = conv_piece_backward(p, in, gy.narrow(2, j0, j1 - j0), weight, mask);
    if (need_w) gw.add_(gwp);
    return gi;  // undefined when !need_in
  };
  // The backward runs the body in one piece (up to kMaxChunkBytes of output on the CPU):
  // every piece is a conv backward call, and head + 2 body pieces made a tokenizer training
  // step 1.47x slower than one piece. When the piece reads exactly x (stride 1, or stride 2
  // over an odd clip), its input gradient is x's: kept as gx instead of copied, the head's
  // added to it.
  const auto body = body_chunks(p, x, 1);
  const int64_t len = p.L + p.T;
  if (!need_in) {  // the weight gradient alone: no routing
    if (need_w && p.h > 0) piece_grad(0, p.h);
    if (need_w) for (const auto& [j0, j1] : body) piece_grad(j0, j1);
    return {none(), gw, gb, none()};
  }
  const bool body_is_x = body.size() == 1 && body[0].first * p.st == p.L &&
                         (body[0].second - 1) * p.st + p.kt == len;
  if (body_is_x) {
    at::Tensor gi = piece_grad(body[0].first, body[0].second);
    // (Not when it is the first sample of a batch-padded piece: that holds twice the memory.)
    const bool own = gi.is_contiguous(fmt) && gi.storage().nbytes() == gi.nbytes();
    gx = own ? gi : gi.clone(fmt);
    if (p.h > 0) {
      const int64_t hb = (p.h - 1) * p.st + p.kt;  // head frames [0, hb), hb > L
      const at::Tensor gh = piece_grad(0, p.h);
      route(gh.narrow(2, 0, p.L), 0, p.L, /*add=*/false);
      route(gh.narrow(2, p.L, hb - p.L), p.L, hb, /*add=*/true);
    } else if (p.L > 0) {
      gfront.zero_();
    }
    done = len;
  } else {
    gx = at::empty_like(x, fmt);
    if (p.h > 0) scatter(piece_grad(0, p.h), 0, (p.h - 1) * p.st + p.kt);
    for (const auto& [j0, j1] : body) scatter(piece_grad(j0, j1), j0 * p.st, (j1 - 1) * p.st + p.kt);
  }
  // Frames no window reads (a short tail when st > 1, or all when there is no output).
  if (done < len) {
    route(at::zeros({p.B, p.Cin, len - done, p.H, p.W}, x.options()), done, len, false);
  }
  if (grad_new_cache.has_value() && grad_new_cache->defined() && grad_new_cache->numel() > 0) {
    const int64_t keep = p.kt - p.st;
    route(grad_new_cache->to(x.scalar_type()), len - keep, len, /*add=*/true);
  }
  at::Tensor gcache;
  if (p.has_cache) {
    gcache = gfront;
  } else {
    if (p.replicate && p.L > 0) gx.narrow(2, 0, 1).add_(gfront.sum(2, /*keepdim=*/true));
    gcache = at::empty({0}, x.options());
  }
  return {gx, gw, gb, gcache};
}

}  // namespace bootvid
