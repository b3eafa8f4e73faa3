// Op schemas and front-ends: argument checks with clear messages, layout handling and
// output allocation, then a call into the CPU or CUDA kernel of the input's device.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>

#include "bootvid/kernels.h"
#include "bootvid/ops.h"

namespace bootvid {

Layout layout_of(const at::Tensor& x) {
  if (x.dim() == 5 && !x.is_contiguous() &&
      x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) {
    return Layout::NTHWC;
  }
  return Layout::NCTHW;
}

at::Tensor to_layout(const at::Tensor& x, Layout layout) {
  return layout == Layout::NTHWC ? x.contiguous(at::MemoryFormat::ChannelsLast3d) : x.contiguous();
}

at::Tensor empty_in_layout(at::IntArrayRef sizes, const at::TensorOptions& opts, Layout layout) {
  return at::empty(sizes, opts.memory_format(layout == Layout::NTHWC
                                                 ? at::MemoryFormat::ChannelsLast3d
                                                 : at::MemoryFormat::Contiguous));
}

namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_video(const at::Tensor& x, const char* op, const char* name = "x") {
  TORCH_CHECK(x.dim() == 5, "bootvid.", op, ": expected ", name,
              " of shape (B, C, T, H, W), got a ", x.dim(), "-D tensor of shape ", shape_str(x));
  TORCH_CHECK(x.is_floating_point(), "bootvid.", op, ": expected a floating-point ", name,
              ", got ", x.scalar_type());
}

void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* op, const char* na,
                       const char* nb) {
  TORCH_CHECK(a.device() == b.device(), "bootvid.", op, ": ", na, " is on ", a.device(), " but ",
              nb, " is on ", b.device(), "; move them to one device");
}

void check_kernel_dtype(const at::Tensor& x, const char* op) {
  const auto t = x.scalar_type();
  const bool ok = t == at::kFloat || t == at::kBFloat16 || t == at::kHalf ||
                  (t == at::kDouble && x.device().is_cpu());
  TORCH_CHECK(ok, "bootvid.", op, ": unsupported dtype ", t, " on ", x.device().type(),
              "; expected float32, bfloat16 or float16 (float64 on CPU)");
}

int parse_act(const std::string& act, const char* op) {
  if (act == "silu") return kActSilu;
  if (act == "none") return kActNone;
  TORCH_CHECK(false, "bootvid.", op, ": act must be \"silu\" or \"none\", got \"", act, "\"");
}

// The dtype of the norm kernels' parameters, statistics and parameter gradients: fp32, or
// float64 for float64 inputs (fp32 statistics would make float64 results fp32-accurate).
at::ScalarType param_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// Per-channel affine parameters as param_dtype (C) tensors (they are tiny).
at::Tensor channel_param(const std::optional<at::Tensor>& p, int64_t C, const at::Tensor& x,
                         const char* op, const char* name) {
  if (!p.has_value() || !p->defined()) return at::Tensor();
  TORCH_CHECK(p->dim() == 1 && p->size(0) == C, "bootvid.", op, ": expected ", name,
              " of shape (", C, ",) for ", C, " channels, got ", shape_str(*p));
  check_same_device(x, *p, op, "x", name);
  return p->to(param_dtype(x)).contiguous();
}

NormArgs make_norm_args(const at::Tensor& x_in, int64_t num_groups, double eps, bool per_frame,
                        bool center, const std::string& act, const char* op) {
  check_video(x_in, op);
  check_kernel_dtype(x_in, op);
  NormArgs a;
  a.layout = layout_of(x_in);
  a.x = to_layout(x_in, a.layout);
  a.B = x_in.size(0);
  a.C = x_in.size(1);
  a.T = x_in.size(2);
  a.H = x_in.size(3);
  a.W = x_in.size(4);
  TORCH_CHECK(num_groups >= 1 && a.C % num_groups == 0, "bootvid.", op, ": num_groups (",
              num_groups, ") must be >= 1 and divide the channel count (", a.C, ")");
  TORCH_CHECK(eps >= 0, "bootvid.", op, ": eps must be >= 0, got ", eps);
  a.G = num_groups;
  a.eps = static_cast<float>(eps);
  a.per_frame = per_frame;
  a.center = center;
  a.act = parse_act(act, op);
  return a;
}

void set_modulation(NormArgs& a, const at::Tensor& gamma, const std::optional<at::Tensor>& beta,
                    const char* op) {
  check_video(gamma, op, "gamma");
  check_same_device(a.x, gamma, op, "x", "gamma");
  TORCH_CHECK(gamma.size(0) == a.B && gamma.size(1) == a.C, "bootvid.", op,
              ": gamma must have x's batch and channels (", a.B, ", ", a.C, "), got ",
              shape_str(gamma));
  a.Tl = gamma.size(2);
  a.Hl = gamma.size(3);
  a.Wl = gamma.size(4);
  TORCH_CHECK(a.Tl >= 1 && a.Hl >= 1 && a.Wl >= 1, "bootvid.", op, ": gamma has an empty dimension ",
              shape_str(gamma));
  if (a.Tl == 1) {
    a.r = 1;
  } else {
    TORCH_CHECK(a.T > 1 && (a.T - 1) % (a.Tl - 1) == 0, "bootvid.", op, ": x has ", a.T,
                " frames and gamma ", a.Tl, "; causal alignment needs T = 1 + r * (Tl - 1) for an"
                " integer r >= 1, or Tl = 1 to broadcast");
    a.r = (a.T - 1) / (a.Tl - 1);
  }
  TORCH_CHECK(a.H % a.Hl == 0 && a.W % a.Wl == 0, "bootvid.", op, ": x's spatial size ", a.H, "x",
              a.W, " must be an integer multiple of gamma's ", a.Hl, "x", a.Wl,
              " (nearest-neighbour alignment), or gamma's must be 1x1 to broadcast");
  a.sh = a.H / a.Hl;
  a.sw = a.W / a.Wl;
  a.gamma = to_layout(gamma.to(a.x.scalar_type()), a.layout);
  if (beta.has_value() && beta->defined()) {
    TORCH_CHECK(beta->sizes() == gamma.sizes(), "bootvid.", op,
                ": beta must have gamma's shape ", shape_str(gamma), ", got ", shape_str(*beta));
    check_same_device(a.x, *beta, op, "x", "beta");
    a.beta = to_layout(beta->to(a.x.scalar_type()), a.layout);
  }
}

void alloc_stats(NormArgs& a) {
  const int64_t Ts = a.per_frame ? a.T : 1;
  auto opts = a.x.options().dtype(param_dtype(a.x)).memory_format(at::MemoryFormat::Contiguous);
  a.mean = at::empty({a.B, a.G, Ts}, opts);
  a.rstd = at::empty({a.B, a.G, Ts}, opts);
}

void use_stats(NormArgs& a, const at::Tensor& mean, const at::Tensor& rstd, const char* op) {
  const int64_t Ts = a.per_frame ? a.T : 1;
  TORCH_CHECK(mean.numel() == a.B * a.G * Ts && rstd.numel() == a.B * a.G * Ts, "bootvid.", op,
              ": saved statistics do not match x (expected ", a.B * a.G * Ts, " values each)");
  a.mean = mean.to(param_dtype(a.x)).contiguous();
  a.rstd = rstd.to(param_dtype(a.x)).contiguous();
}

void run_forward(const NormArgs& a, at::Tensor& y) {
  if (a.B * a.C * a.T * a.H * a.W == 0) return;
  if (a.x.is_cuda()) {
#ifdef BOOTVID_WITH_CUDA
    norm_forward_cuda(a, y);
    return;
#else
    TORCH_CHECK(false, "bootvid: this build has no CUDA kernels (rebuild with BOOTVID_CUDA=1)");
#endif
  }
  norm_forward_cpu(a, y);
}

void run_backward(const NormArgs& a, const at::Tensor& gy, at::Tensor& gx, at::Tensor& gw,
                  at::Tensor& gb, at::Tensor& gg, at::Tensor& gbeta) {
  if (a.B * a.C * a.T * a.H * a.W == 0) {
    gx.zero_();
    for (at::Tensor* t : {&gw, &gb, &gg, &gbeta})
      if (t->defined()) t->zero_();
    return;
  }
  if (a.x.is_cuda()) {
#ifdef BOOTVID_WITH_CUDA
    norm_backward_cuda(a, gy, gx, gw, gb, gg, gbeta);
    return;
#else
    TORCH_CHECK(false, "bootvid: this build has no CUDA kernels (rebuild with BOOTVID_CUDA=1)");
#endif
  }
  norm_backward_cpu(a, gy, gx, gw, gb, gg, gbeta);
}

at::Tensor grad_like_video(const at::Tensor& grad_y, const NormArgs& a, const char* op) {
  TORCH_CHECK(grad_y.sizes() == a.x.sizes(), "bootvid.", op, ": grad_y has shape ",
              shape_str(grad_y), " but x has ", shape_str(a.x));
  return to_layout(grad_y.to(a.x.scalar_type()), a.layout);
}

}  // namespace

// ---- group_norm_act ----------------------------------------------------------------
std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_act(
    const at::Tensor& x, int64_t num_groups, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, double eps, bool per_frame, bool center,
    const std::string& act) {
  const char* op = "group_norm_act";
  NormArgs a = make_norm_args(x, num_groups, eps, per_frame, center, act, op);
  a.weight = channel_param(weight, a.C, x, op, "weight");
  a.bias = channel_param(bias, a.C, x, op, "bias");
  alloc_stats(a);
  at::Tensor y = empty_in_layout(x.sizes(), x.options(), a.layout);
  run_forward(a, y);
  return {y, a.mean, a.rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_act_backward(
    const at::Tensor& grad_y, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const std::optional<at::Tensor>& bias, const at::Tensor& mean, const at::Tensor& rstd,
    int64_t num_groups, bool per_frame, bool center, const std::string& act) {
  const char* op = "group_norm_act_backward";
  NormArgs a = make_norm_args(x, num_groups, 0.0, per_frame, center, act, op);
  a.weight = channel_param(weight, a.C, x, op, "weight");
  a.bias = channel_param(bias, a.C, x, op, "bias");
  use_stats(a, mean, rstd, op);
  at::Tensor gy = grad_like_video(grad_y, a, op);
  at::Tensor gx = empty_in_layout(x.sizes(), x.options(), a.layout);
  auto fopts = x.options().dtype(param_dtype(x));
  at::Tensor gw = at::empty({a.C}, fopts), gb = at::empty({a.C}, fopts), none1, none2;
  run_backward(a, gy, gx, gw, gb, none1, none2);
  const auto pdtype = weight.has_value() && weight->defined() ? weight->scalar_type() : x.scalar_type();
  return {gx, gw.to(pdtype), gb.to(pdtype)};
}

// ---- adaptive_group_norm -----------------------------------------------------------
std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_group_norm(
    const at::Tensor& x, const at::Tensor& gamma, const std::optional<at::Tensor>& beta,
    int64_t num_groups, double eps, bool per_frame, bool center, const std::string& act) {
  const char* op = "adaptive_group_norm";
  NormArgs a = make_norm_args(x, num_groups, eps, per_frame, center, act, op);
  set_modulation(a, gamma, beta, op);
  alloc_stats(a);
  at::Tensor y = empty_in_layout(x.sizes(), x.options(), a.layout);
  run_forward(a, y);
  return {y, a.mean, a.rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_group_norm_backward(
    const at::Tensor& grad_y, const at::Tensor& x, const at::Tensor& gamma,
    const std::optional<at::Tensor>& beta, const at::Tensor& mean, const at::Tensor& rstd,
    int64_t num_groups, bool per_frame, bool center, const std::string& act) {
  const char* op = "adaptive_group_norm_backward";
  NormArgs a = make_norm_args(x, num_groups, 0.0, per_frame, center, act, op);
  set_modulation(a, gamma, beta, op);
  use_stats(a, mean, rstd, op);
  at::Tensor gy = grad_like_video(grad_y, a, op);
  at::Tensor gx = empty_in_layout(x.sizes(), x.options(), a.layout);
  auto fopts = x.options().dtype(param_dtype(x));
  at::Tensor gg = empty_in_layout(gamma.sizes(), fopts, a.layout);
  at::Tensor gbeta = empty_in_layout(gamma.sizes(), fopts, a.layout);
  at::Tensor none1, none2;
  run_backward(a, gy, gx, none1, none2, gg, gbeta);
  return {gx, gg.to(gamma.scalar_type()), gbeta.to(gamma.scalar_type())};
}

// ---- space_to_depth_3d / depth_to_space_3d -----------------------------------------
namespace {

void check_factors(at::IntArrayRef f, int64_t front, const char* op) {
  TORCH_CHECK(f.size() == 3 && f[0] >= 1 && f[1] >= 1 && f[2] >= 1, "bootvid.", op,
              ": factors must be three integers >= 1 (ft, fh, fw), got ", f);
  TORCH_CHECK(front >= 0 && front <= 2, "bootvid.", op, ": front must be 0, 1 or 2, got ", front);
}

void check_shuffle_dtype(const at::Tensor& x, const char* op) {
  const auto t = x.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kBFloat16 || t == at::kHalf || t == at::kDouble,
              "bootvid.", op, ": unsupported dtype ", t,
              "; expected float32, bfloat16, float16 or float64");
}

at::Tensor empty_like_layout(at::IntArrayRef sizes, const at::Tensor& x) {
  return empty_in_layout(sizes, x.options(), layout_of(x));
}

}  // namespace

at::Tensor space_to_depth_3d(const at::Tensor& x, at::IntArrayRef factors, int64_t front) {
  const char* op = "pixel_unshuffle_3d";
  check_video(x, op);
  check_shuffle_dtype(x, op);
  check_factors(factors, front, op);
  const int64_t ft = factors[0], fh = factors[1], fw = factors[2];
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  TORCH_CHECK(H % fh == 0 && W % fw == 0, "bootvid.", op, ": H and W (", H, "x", W,
              ") must be multiples of the spatial factors (", fh, ", ", fw, ")");
  const int64_t padded = T + front_frames(ft, static_cast<int>(front));
  if (front == kFrontNone) {
    TORCH_CHECK(T >= 1 && T % ft == 0, "bootvid.", op, ": non-causal: T (", T,
                ") must be a positive multiple of ft (", ft, ")");
  } else {
    TORCH_CHECK(T >= 1 && (T - 1) % ft == 0, "bootvid.", op, ": causal: T (", T,
                ") must be 1 + ft * k frames for ft = ", ft, " (e.g. ", 1, ", ", 1 + ft, ", ",
                1 + 2 * ft, ")");
  }
  at::Tensor out = empty_like_layout({B, C * ft * fh * fw, padded / ft, H / fh, W / fw}, x);
  if (out.numel() == 0) return out;
  if (x.is_cuda()) {
#ifdef BOOTVID_WITH_CUDA
    space_to_depth_cuda(x, out, ft, fh, fw, static_cast<int>(front));
    return out;
#else
    TORCH_CHECK(false, "bootvid: this build has no CUDA kernels (rebuild with BOOTVID_CUDA=1)");
#endif
  }
  space_to_depth_cpu(x, out, ft, fh, fw, static_cast<int>(front));
  return out;
}

at::Tensor depth_to_space_3d(const at::Tensor& x, at::IntArrayRef factors, int64_t front) {
  const char* op = "pixel_shuffle_3d";
  check_video(x, op);
  check_shuffle_dtype(x, op);
  check_factors(factors, front, op);
  const int64_t ft = factors[0], fh = factors[1], fw = factors[2];
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t F = ft * fh * fw;
  TORCH_CHECK(C % F == 0, "bootvid.", op, ": channels (", C,
              ") must be a multiple of ft * fh * fw = ", F);
  TORCH_CHECK(T >= 1, "bootvid.", op, ": x has no frames");
  const int64_t Tout = T * ft - front_frames(ft, static_cast<int>(front));
  at::Tensor out = empty_like_layout({B, C / F, Tout, H * fh, W * fw}, x);
  if (out.numel() == 0) return out;
  if (x.is_cuda()) {
#ifdef BOOTVID_WITH_CUDA
    depth_to_space_cuda(x, out, ft, fh, fw, static_cast<int>(front));
    return out;
#else
    TORCH_CHECK(false, "bootvid: this build has no CUDA kernels (rebuild with BOOTVID_CUDA=1)");
#endif
  }
  depth_to_space_cpu(x, out, ft, fh, fw, static_cast<int>(front));
  return out;
}

}  // namespace bootvid

TORCH_LIBRARY(bootvid, m) {
  m.def("causal_conv3d(Tensor x, Tensor weight, Tensor? bias, int[3] stride, int[2] padding, "
        "str pad_mode, Tensor? cache) -> (Tensor, Tensor)");
  m.def("causal_conv3d_backward(Tensor grad_y, Tensor? grad_new_cache, Tensor x, Tensor weight, "
        "Tensor? cache, int[3] stride, int[2] padding, str pad_mode, bool[3] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor)");
  m.def("group_norm_act(Tensor x, int num_groups, Tensor? weight, Tensor? bias, float eps, "
        "bool per_frame, bool center, str act) -> (Tensor, Tensor, Tensor)");
  m.def("group_norm_act_backward(Tensor grad_y, Tensor x, Tensor? weight, Tensor? bias, "
        "Tensor mean, Tensor rstd, int num_groups, bool per_frame, bool center, str act) "
        "-> (Tensor, Tensor, Tensor)");
  m.def("adaptive_group_norm(Tensor x, Tensor gamma, Tensor? beta, int num_groups, float eps, "
        "bool per_frame, bool center, str act) -> (Tensor, Tensor, Tensor)");
  m.def("adaptive_group_norm_backward(Tensor grad_y, Tensor x, Tensor gamma, Tensor? beta, "
        "Tensor mean, Tensor rstd, int num_groups, bool per_frame, bool center, str act) "
        "-> (Tensor, Tensor, Tensor)");
  m.def("space_to_depth_3d(Tensor x, int[3] factors, int front) -> Tensor");
  m.def("depth_to_space_3d(Tensor x, int[3] factors, int front) -> Tensor");
}

// The front-ends are device-generic (they dispatch on x.device() themselves); register them
// for each backend with kernels. Autograd and fake (meta) kernels are registered in Python.
#define BOOTVID_IMPL_ALL(m)                                                   \
  m.impl("causal_conv3d", &bootvid::causal_conv3d);                           \
  m.impl("causal_conv3d_backward", &bootvid::causal_conv3d_backward);         \
  m.impl("group_norm_act", &bootvid::group_norm_act);                         \
  m.impl("group_norm_act_backward", &bootvid::group_norm_act_backward);       \
  m.impl("adaptive_group_norm", &bootvid::adaptive_group_norm);               \
  m.impl("adaptive_group_norm_backward", &bootvid::adaptive_group_norm_backward); \
  m.impl("space_to_depth_3d", &bootvid::space_to_depth_3d);                   \
  m.impl("depth_to_space_3d", &bootvid::depth_to_space_3d);

TORCH_LIBRARY_IMPL(bootvid, CPU, m) { BOOTVID_IMPL_ALL(m) }

#ifdef BOOTVID_WITH_CUDA
TORCH_LIBRARY_IMPL(bootvid, CUDA, m) { BOOTVID_IMPL_ALL(m) }
#endif
