"""Pictures of an evaluation: per-frame PSNR curves with the latent boundaries marked (flicker
at chunk or latent boundaries shows as teeth), frame grids, and model comparisons.

matplotlib is imported when a plot is drawn (``pip install matplotlib``)."""

from __future__ import annotations

import os
from collections.abc import Sequence


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def latent_boundaries(frames: int, temporal_compression: int) -> list[float]:
    """x positions between frames where the next latent frame starts: latent 0 is frame 0,
    latent k >= 1 covers frames ``(k-1)*tc + 1 .. k*tc``."""
    tc = temporal_compression
    return [k * tc + 0.5 for k in range(0, (frames - 1) // tc + 1) if k * tc + 1 < frames]


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    from ..fileio import atomic_write

    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"),
                        suffix=".tmp.png")


def plot_psnr_per_frame(summary: dict, path: str) -> str:
    """One curve per video of an eval summary, latent boundaries as dotted lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for v in summary["videos"]:
        ys = [float(p) for p in v["psnr_per_frame"]]
        ax.plot(range(len(ys)), ys, marker=".", lw=1, label=os.path.basename(v["path"]))
    frames = summary["frames"]
    if frames == "all":  # whole videos: up to the longest
        frames = max(len(v["psnr_per_frame"]) for v in summary["videos"])
    for x in latent_boundaries(frames, summary["temporal_compression"]):
        ax.axvline(x, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("frame (dotted: a new latent frame starts)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{summary['model']}: {summary['temporal_compression']}x temporal, "
                 f"mean {float(summary['psnr']):.2f} dB")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    plt.close(fig)
    return path


def save_frame_grid(ref, rec, path: str, max_frames: int = 6, title: str = "",
                    error_gain: float = 4.0) -> str:
    """A labelled grid of uint8 clips ``(T, H, W, 3)``: rows input / reconstruction /
    |error| x ``error_gain``, columns ``max_frames`` evenly spaced frames (their indices
    under them), ``title`` above (e.g. the model and PSNR)."""
    import torch

    plt = _pyplot()
    T = ref.shape[0]
    idx = torch.linspace(0, T - 1, min(T, max_frames)).round().long().tolist()
    err = ((ref.float() - rec.float()).abs() * error_gain).clamp(0, 255).byte()
    rows = [("input", ref), ("reconstruction", rec), (f"|error| x{error_gain:g}", err)]
    h, w = ref.shape[1:3]
    scale = 1.6 / max(h, w)
    fig, axes = plt.subplots(3, len(idx), squeeze=False,
                             figsize=(max(3.0, len(idx) * w * scale), 3 * h * scale + 0.6))
    for r, (label, clip) in enumerate(rows):
        for c, t in enumerate(idx):
            ax = axes[r][c]
            ax.imshow(clip[t].cpu().numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel(f"frame {t}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)
    plt.close(fig)
    return path


def plot_comparison(summaries: Sequence[dict], path: str) -> str:
    """Grouped bars: PSNR per video (groups) and per model (bars), with the means."""
    plt = _pyplot()
    videos = [os.path.basename(v["path"]) for v in summaries[0]["videos"]] + ["mean"]
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.7 * len(videos) * len(summaries))), 3.8))
    width = 0.8 / len(summaries)
    for i, s in enumerate(summaries):
        ys = [float(v["psnr"]) for v in s["videos"]] + [float(s["psnr"])]
        xs = [j + (i - (len(summaries) - 1) / 2) * width for j in range(len(videos))]
        ax.bar(xs, ys, width, label=f"{s['model']} ({s['temporal_compression']}x)")
    ax.set_xticks(range(len(videos)), videos, rotation=20, fontsize=8)
    ax.set_ylabel("PSNR (dB)")
    lo = min(float(v["psnr"]) for s in summaries for v in s["videos"])
    ax.set_ylim(max(0.0, lo - 3), None)
    if len(summaries) > 4:  # many models: the legend beside the plot, not over the bars
        ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return path


def plot_means(summaries: Sequence[dict], path: str, groups: Sequence[str] | None = None) -> str:
    """Horizontal bars of each model's mean PSNR, in the given order, coloured by group."""
    plt = _pyplot()
    groups = list(groups) if groups is not None else ["" for _ in summaries]
    palette = {g: plt.get_cmap("tab10")(i) for i, g in enumerate(dict.fromkeys(groups))}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(summaries) + 1.2))
    ys = list(range(len(summaries)))[::-1]
    vals = [float(s["psnr"]) for s in summaries]
    ax.barh(ys, vals, color=[palette[g] for g in groups])
    ax.set_yticks(ys, [f"{s['model']} ({s['temporal_compression']}x)" for s in summaries],
                  fontsize=8)
    for y, v in zip(ys, vals):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
    ax.set_xlim(max(0.0, min(vals) - 2), max(vals) + 1)
    ax.set_xlabel("mean PSNR (dB)")
    if any(groups):
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=g) for g, c in palette.items()], fontsize=7,
                  loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return path


def plot_curves(curves: dict[str, Sequence[dict]], path: str) -> str:
    """Held-out PSNR against total training compute (log scale), one line per arm: points with
    ``total_flops`` (or ``train_flops``) and ``psnr``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # tab20, not the default 10-colour cycle: a full plan has 12 arms, and repeated colours
    # made two arms indistinguishable; a seed arm is dashed beside its first seed.
    colours = plt.get_cmap("tab20").colors
    for i, (name, points) in enumerate(curves.items()):
        pts = [(p.get("total_flops", p.get("train_flops")), float(p["psnr"])) for p in points
               if p.get("total_flops", p.get("train_flops"))]
        if pts:
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, marker="o", markersize=3, label=name, color=colours[i % 20],
                    linestyle="--" if "-seed" in name else "-")
    ax.set_xscale("log")
    ax.set_xlabel("total training compute (FLOPs)")
    ax.set_ylabel("held-out PSNR (dB)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    _save(fig, path)
    plt.close(fig)
    return path
