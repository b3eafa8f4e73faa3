// Scalar math shared by the CPU and CUDA kernels. Every formula a kernel evaluates per
// element lives here once, so the CPU tests also cover the arithmetic the GPU runs.
#pragma once

#include <cstdint>
#include <cmath>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define BOOTVID_HD __host__ __device__ __forceinline__
#else
#define BOOTVID_HD inline
#endif

namespace bootvid {

// Activation codes, shared by the op schemas ("silu" / "none") and the kernels.
enum Act : int { kActNone = 0, kActSilu = 1 };

// ---- activations -------------------------------------------------------------------
BOOTVID_HD float sigmoidf_(float z) { return 1.0f / (1.0f + expf(-z)); }

BOOTVID_HD float act_forward(float z, int act) {
  return act == kActSilu ? z * sigmoidf_(z) : z;
}

// d act(z) / dz
BOOTVID_HD float act_grad(float z, int act) {
  if (act != kActSilu) return 1.0f;
  const float s = sigmoidf_(z);
  return s * (1.0f + z * (1.0f - s));
}

// ---- group normalisation -----------------------------------------------------------
// Statistics of one group: `center` subtracts the mean (GroupNorm); without it the group
// is divided by its RMS (ProMAG's custom norm), and mean is reported as 0.
struct GroupStats {
  float mean;
  float rstd;
};

// From the sum and the sum of squared deviations (center) or of squares (no center).
BOOTVID_HD GroupStats finalize_stats(double sum, double sq, int64_t count, float eps, bool center) {
  GroupStats s;
  const double n = static_cast<double>(count);
  if (center) {
    s.mean = static_cast<float>(sum / n);
    const double var = sq / n;  // sq holds sum((x - mean)^2)
    s.rstd = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  } else {
    s.mean = 0.0f;
    s.rstd = static_cast<float>(1.0 / sqrt(sq / n + static_cast<double>(eps)));
  }
  return s;
}

// The normalised value n = (x - mean) * rstd (mean is 0 for the custom norm).
BOOTVID_HD float normalize(float x, float mean, float rstd) { return (x - mean) * rstd; }

// Backward of n with respect to x, given dn and the group means of dn and dn * n:
//   center:    dx = rstd * (dn - mean(dn) - n * mean(dn * n))
//   no center: dx = rstd * (dn - n * mean(dn * n))
BOOTVID_HD float norm_input_grad(float dn, float n, float mean_dn, float mean_dn_n, float rstd,
                                 bool center) {
  return rstd * (dn - (center ? mean_dn : 0.0f) - n * mean_dn_n);
}

// ---- adaptive group norm: where x's element reads gamma/beta ------------------------
// Causal time alignment: x frame 0 -> latent frame 0, x frame t > 0 -> ceil(t / r), with
// T = 1 + r * (Tl - 1); Tl == 1 broadcasts.
BOOTVID_HD int64_t causal_time_source(int64_t t, int64_t r, int64_t Tl) {
  if (Tl == 1 || t == 0) return 0;
  return (t + r - 1) / r;
}

// ---- causal space/time <-> depth ---------------------------------------------------
// Front modes of space_to_depth_3d / depth_to_space_3d (each one's adjoint shares the code):
//   0: no causal front; 1: ft-1 copies of frame 0 in front (replicate) / their adjoint,
//   which drops them after folding them into frame 0; 2: ft-1 zero frames / dropping them.
enum Front : int { kFrontNone = 0, kFrontReplicate = 1, kFrontZeros = 2 };

// Frames in front of the video before it is split into groups of ft.
BOOTVID_HD int64_t front_frames(int64_t ft, int front) { return front == kFrontNone ? 0 : ft - 1; }

// The channel of the depth tensor that holds sub-position (it, ih, iw) of channel c, in the
// order torch.nn.functional.pixel_shuffle uses for its sub-pixels.
BOOTVID_HD int64_t depth_channel(int64_t c, int64_t it, int64_t ih, int64_t iw, int64_t ft,
                                 int64_t fh, int64_t fw) {
  return c * (ft * fh * fw) + (it * fh + ih) * fw + iw;
}

// For space_to_depth: the source frame of padded frame p (p counts the front), or -1 when
// it is a zero frame.
BOOTVID_HD int64_t s2d_source_frame(int64_t p, int64_t ft, int front) {
  const int64_t f = front_frames(ft, front);
  if (p >= f) return p - f;
  return front == kFrontReplicate ? 0 : -1;
}

}  // namespace bootvid
