"""Shots: a video cut into segments that a causal tokenizer encodes separately.

A latent frame of a 4x-16x tokenizer spans 4-16 frames; across a hard cut it would blend two
shots (and the causal stream would carry the old shot into the new one). Encoding each shot as
a video of its own (its first frame encoded as a first frame, as an image is) keeps every latent
frame inside one shot. A shot of ``n`` frames has ``1 + ceil((n - 1) / r)`` latent frames; the
latents of the shots are concatenated in time, and the cuts (frame indices where shots start)
are all that decoding needs to split them again.
"""

from __future__ import annotations

from collections.abc import Sequence


def check_cuts(cuts: Sequence[int] | None, num_frames: int) -> list[int]:
    """``cuts`` as a sorted list of frame indices in ``1 .. num_frames - 1`` (each the first
    frame of a new shot); ValueError otherwise."""
    if cuts is None:
        return []
    out = []
    for c in cuts:
        if isinstance(c, bool) or not isinstance(c, int) and not hasattr(c, "__index__"):
            raise ValueError(f"cuts: frame indices (ints), got {c!r}")
        out.append(int(c))
    if out != sorted(set(out)) or (out and not 0 < out[0] <= out[-1] < num_frames):
        raise ValueError(f"cuts: increasing frame indices in 1..{num_frames - 1} (the first "
                         f"frame of each new shot), got {list(cuts)!r}")
    return out


def shot_ranges(num_frames: int, cuts: Sequence[int] | None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` frame ranges of the shots."""
    bounds = [0, *check_cuts(cuts, num_frames), num_frames]
    return list(zip(bounds[:-1], bounds[1:]))


def latent_length(num_frames: int, temporal_compression: int) -> int:
    """Latent frames of a causal clip of ``num_frames``: the first frame alone, then one per
    ``temporal_compression`` frames (``1 + ceil((T - 1) / tc)``)."""
    return 1 + -(-(num_frames - 1) // temporal_compression)


def latent_ranges(num_frames: int, cuts: Sequence[int] | None,
                  temporal_compression: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` latent-frame ranges of the shots, in the concatenated latent."""
    out, t = [], 0
    for a, b in shot_ranges(num_frames, cuts):
        n = latent_length(b - a, temporal_compression)
        out.append((t, t + n))
        t += n
    return out
