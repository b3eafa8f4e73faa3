"""Latent caches: a video folder encoded once by a tokenizer, read back by DiT training.

Layout of a cache directory::

    cache.json                 settings (tokenizer fingerprint and config, clip length, size,
                               the videos and their classes): a second call with other
                               settings is refused, the same settings resume
    shards/000000.safetensors  one per video: "latents" [n, C, t, h, w] (posterior means of its
                               n clips), "labels" [n], per-channel "sum" / "sumsq" (float64)
    latents.json               the index written when every video is cached: shards, clip
                               count, latent shape, per-channel mean / std

Each video is cut into consecutive clips of ``clip_frames`` frames (the remainder is dropped;
with ``cuts="auto"``, the default, clips start at each shot's first frame and never straddle a
hard cut, see :mod:`bootvid.data.cuts`),
centre-cropped to ``size`` x ``size`` after resizing its shorter side, and encoded with the
tokenizer's streaming encoder. Shards are written atomically, one per video, so an interrupted
run resumes at the first missing shard; under torchrun rank ``r`` of ``N`` encodes videos
``r, r + N, ...`` into its own shards. Class labels come from the first folder level under the
data folder (``data/cats/a.mp4`` is class ``cats``); videos directly in the data folder make an
unconditional cache.
"""

from __future__ import annotations

import json
import os
import warnings

import torch

from ..data._base import EndlessClipDataset
from ..fileio import atomic_write, atomic_write_text

FORMAT = "bootvid-latent-cache-v1"
SETTINGS_NAME = "cache.json"
INDEX_NAME = "latents.json"
SHARD_DIR = "shards"
#: Settings whose change makes an existing cache unusable for a new call.
_SETTING_KEYS = ("format", "tokenizer_fingerprint", "clip_frames", "size", "videos", "cuts")
#: What a cache written before a setting existed used.
_SETTING_DEFAULTS = {"cuts": "off"}


class LatentCacheError(ValueError):
    """A cache directory that cannot be used as asked."""


def _relpaths(videos: list[str], root: str) -> list[str]:
    """The videos' paths relative to ``root`` (a folder, or a file's folder)."""
    root = os.path.abspath(root)
    base = root if os.path.isdir(root) else os.path.dirname(root)
    return [os.path.relpath(os.path.abspath(v), base) for v in videos]


def video_classes(videos: list[str], root: str) -> tuple[list[int] | None, list[str]]:
    """Per-video class index from the first folder level under ``root``, and the class names
    (sorted); ``(None, [])`` when some video lies directly in ``root``."""
    parts = [rel.split(os.sep) for rel in _relpaths(videos, root)]
    if any(len(p) < 2 for p in parts):
        return None, []
    classes = sorted({p[0] for p in parts})
    return [classes.index(p[0]) for p in parts], classes


def check_clip(tokenizer, clip_frames: int, size: int) -> None:
    """``clip_frames`` must be 1 + k * temporal compression; ``size`` a multiple of the
    spatial compression."""
    tc, sc = tokenizer.temporal_compression, tokenizer.spatial_compression
    if not isinstance(clip_frames, int) or clip_frames < 1 or (clip_frames - 1) % tc:
        k = max(1, round((clip_frames - 1) / tc)) if isinstance(clip_frames, int) else 2
        raise ValueError(f"--clip-frames: a {tc}x tokenizer encodes clips of 1 + k*{tc} frames, "
                         f"got {clip_frames!r}; use e.g. {1 + k * tc}")
    if not isinstance(size, int) or size < sc or size % sc:
        raise ValueError(f"--size: must be a positive multiple of the tokenizer's spatial "
                         f"compression {sc}, got {size!r}")


def _settings(tokenizer, tokenizer_ref: str, data: str, videos: list[str], clip_frames: int,
              size: int, cuts: str = "off") -> dict:
    from ..tokenizer.persistence import model_fingerprint

    labels, classes = video_classes(videos, data)
    C, t, h, w = tokenizer.latent_shape(clip_frames, size, size)
    return {"format": FORMAT, "tokenizer": tokenizer_ref,
            "tokenizer_fingerprint": model_fingerprint(tokenizer),
            "tokenizer_config": tokenizer.config.to_dict(),
            "temporal_compression": tokenizer.temporal_compression,
            "spatial_compression": tokenizer.spatial_compression,
            "clip_frames": clip_frames, "size": size, "latent_shape": [C, t, h, w],
            "cuts": cuts,
            "data": os.path.abspath(data), "videos": _relpaths(videos, data),
            "labels": labels, "classes": classes}


def _check_or_write_settings(out: str, settings: dict) -> None:
    path = os.path.join(out, SETTINGS_NAME)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        changed = [k for k in _SETTING_KEYS
                   if old.get(k, _SETTING_DEFAULTS.get(k)) != settings[k]]
        if changed:
            hint = (" (caches made before bootvid found scene cuts used --cuts off)"
                    if "cuts" in changed else "")
            raise LatentCacheError(
                f"{out} already holds a latent cache made with other settings ({', '.join(changed)}"
                f" differ){hint}; choose another --out, or delete it to start over")
        return
    os.makedirs(os.path.join(out, SHARD_DIR), exist_ok=True)
    atomic_write_text(path, json.dumps(settings, indent=1))


def shard_path(out: str, video_index: int) -> str:
    return os.path.join(out, SHARD_DIR, f"{video_index:06d}.safetensors")


@torch.no_grad()
def _encode_video(tokenizer, path: str, clip_frames: int, size: int, device,
                  cuts: str = "off") -> list[torch.Tensor]:
    """Posterior means ``[C, t, h, w]`` of the video's consecutive full clips (with
    ``cuts="auto"``: within each shot, so that no clip straddles a hard cut)."""
    from ..data import center_crop_resize, detect_cuts, iter_frames
    from ..data.cuts import by_shot
    from ..tokenizer.streaming import encode_video

    dtype = next(tokenizer.parameters()).dtype
    shots = detect_cuts(path) if cuts == "auto" else []
    out, pending, current = [], [], None
    for shot, piece in by_shot(iter_frames(path, chunk_frames=clip_frames), shots):
        if shot != current:  # a shot's leftover frames (less than a clip) are dropped
            pending, current = [], shot
        pending.append(piece)
        while sum(len(p) for p in pending) >= clip_frames:
            frames = torch.cat(pending)
            pending = [frames[clip_frames:]]
            x = center_crop_resize(frames[:clip_frames], size).unsqueeze(0).to(device=device,
                                                                               dtype=dtype)
            out.append(encode_video(tokenizer, x).mean[0].float().cpu())
    return out


def cache_latents(tokenizer, data: str | os.PathLike, out: str | os.PathLike,
                  clip_frames: int = 33, size: int = 128, *, tokenizer_ref: str = "",
                  rank: int = 0, world_size: int = 1, device=None,
                  progress: bool = True, cuts: str = "auto") -> dict:
    """Encode this process's share of the videos under ``data`` into shards under ``out``
    (skipping shards already there). Returns ``{"encoded", "skipped", "clips"}`` counts for
    this process; :func:`finalize_cache` then writes the index. ``cuts``: ``"auto"`` (clips
    within shots) or ``"off"`` (consecutive clips from the first frame)."""
    from ..data import find_videos

    data, out = os.fspath(data), os.fspath(out)
    check_clip(tokenizer, clip_frames, size)
    videos = find_videos(data)
    if cuts not in ("auto", "off"):
        raise ValueError(f"cuts: auto or off, got {cuts!r}")
    settings = _settings(tokenizer, tokenizer_ref, data, videos, clip_frames, size, cuts)
    _check_or_write_settings(out, settings)
    device = device if device is not None else next(tokenizer.parameters()).device
    tokenizer.eval()
    mine = [i for i in range(len(videos)) if i % world_size == rank]
    bar = None
    if progress:  # by frames, so that the ETA holds for videos of different lengths
        from tqdm.auto import tqdm

        from ..data import probe_video

        lengths = {i: probe_video(videos[i]).frames for i in mine}
        print(f"bootvid: {len(mine)} videos, {sum(lengths.values())} frames to encode"
              + (f" on rank {rank}" if world_size > 1 else ""), flush=True)
        bar = tqdm(total=sum(lengths.values()), unit="frame",
                   desc=f"latents (rank {rank})" if world_size > 1 else "latents",
                   dynamic_ncols=True)
    counts = {"encoded": 0, "skipped": 0, "clips": 0}
    labels = settings["labels"]
    try:
        for i in mine:
            path = shard_path(out, i)
            if os.path.isfile(path):  # a finished shard (written atomically): resume past it
                counts["skipped"] += 1
            else:
                clips = _encode_video(tokenizer, videos[i], clip_frames, size, device, cuts)
                _write_shard(path, clips, settings, -1 if labels is None else labels[i],
                             settings["videos"][i])
                counts["encoded"] += 1
                counts["clips"] += len(clips)
                if not clips:
                    warnings.warn(f"{videos[i]}: shorter than one clip of {clip_frames} frames; "
                                  "no latents from it", stacklevel=2)
            if bar is not None:
                bar.update(lengths[i])
    finally:
        if bar is not None:
            bar.close()
    return counts


def _write_shard(path: str, clips: list[torch.Tensor], settings: dict, label: int,
                 video: str) -> None:
    from safetensors.torch import save_file

    C = settings["latent_shape"][0]
    z = (torch.stack(clips) if clips else torch.zeros(0, *settings["latent_shape"]))
    flat = z.transpose(0, 1).reshape(C, -1).double()
    tensors = {"latents": z.contiguous(), "labels": torch.full((len(clips),), label),
               "sum": flat.sum(1), "sumsq": flat.pow(2).sum(1)}
    atomic_write(path, lambda p: save_file(tensors, p, metadata={"video": video,
                                                                   "clips": str(len(clips))}))


def finalize_cache(out: str | os.PathLike) -> dict:
    """Write ``latents.json`` from the settings and every video's shard (per-channel mean and
    std pooled over all clips); raises when a shard is missing."""
    from safetensors import safe_open

    out = os.fspath(out)
    settings = read_settings(out)
    missing = [v for i, v in enumerate(settings["videos"]) if not os.path.isfile(shard_path(out, i))]
    if missing:
        raise LatentCacheError(f"{out}: {len(missing)} of {len(settings['videos'])} videos are not "
                               f"cached yet (e.g. {missing[0]}); run the same command again to "
                               "finish (it resumes)")
    C = settings["latent_shape"][0]
    total, total_sq, shards, n = torch.zeros(C, dtype=torch.float64), torch.zeros(
        C, dtype=torch.float64), [], 0
    for i, video in enumerate(settings["videos"]):
        with safe_open(shard_path(out, i), "pt") as f:
            clips = f.get_slice("latents").get_shape()[0]
            total += f.get_tensor("sum")
            total_sq += f.get_tensor("sumsq")
        shards.append({"file": os.path.relpath(shard_path(out, i), out), "video": video,
                       "clips": clips})
        n += clips
    if n == 0:
        raise LatentCacheError(f"{out}: no video is as long as one clip of "
                               f"{settings['clip_frames']} frames: nothing to train on")
    per_channel = n * int(torch.tensor(settings["latent_shape"][1:]).prod())
    mean = total / per_channel
    std = (total_sq / per_channel - mean ** 2).clamp_min(1e-12).sqrt()
    index = {k: v for k, v in settings.items()}
    index.update(num_clips=n, shards=shards, mean=mean.tolist(), std=std.tolist())
    atomic_write_text(os.path.join(out, INDEX_NAME), json.dumps(index, indent=1))
    return index


def read_settings(out: str) -> dict:
    path = os.path.join(out, SETTINGS_NAME)
    if not os.path.isfile(path):
        raise LatentCacheError(f"{out} is not a latent cache (no {SETTINGS_NAME}); make one with "
                               "`bootvid latents --model DIR --data DIR --out DIR`")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_index(root: str | os.PathLike) -> dict:
    """The ``latents.json`` of a finished cache."""
    root = os.fspath(root)
    path = os.path.join(root, INDEX_NAME)
    if not os.path.isfile(path):
        if os.path.isfile(os.path.join(root, SETTINGS_NAME)):
            raise LatentCacheError(f"{root}: the latent cache is not finished (no {INDEX_NAME}); "
                                   "run the same `bootvid latents` command again")
        raise LatentCacheError(f"{root} is not a latent cache (no {INDEX_NAME}); make one with "
                               "`bootvid latents --model DIR --data DIR --out DIR`")
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if index.get("format") != FORMAT:
        raise LatentCacheError(f"{path}: unknown format {index.get('format')!r} (expected {FORMAT})")
    return index


class LatentDataset(EndlessClipDataset):
    """The clips of a finished cache as ``(latent, label)``: the latent ``[C, t, h, w]``
    float32, normalised per channel with the cache's mean / std (``normalize=False``: raw);
    label -1 for an unconditional cache.

    Index ``i`` is clip ``perm_e[i % n]`` of epoch ``e = i // n``, with a permutation drawn from
    ``(seed, e)``: every index is a clip (the trainer's sampler counts on) and each epoch visits
    every clip once in a new order."""

    def __init__(self, root: str | os.PathLike, normalize: bool = True, seed: int = 0) -> None:
        self.root = os.fspath(root)
        self.index = read_index(self.root)
        self.normalize = normalize
        self.seed = seed
        inside = os.path.realpath(self.root)
        for s in self.index["shards"]:  # an edited index must not read files elsewhere
            path = os.path.realpath(os.path.join(self.root, s["file"]))
            if os.path.commonpath([inside, path]) != inside:
                raise LatentCacheError(f"{self.root}/{INDEX_NAME}: shard {s['file']!r} lies "
                                       "outside the cache directory; the index was edited or "
                                       "is not a bootvid latent cache")
        self._rows = [(s["file"], r) for s in self.index["shards"] for r in range(s["clips"])]
        self.length = len(self._rows)
        C = self.index["latent_shape"][0]
        self.mean = torch.tensor(self.index["mean"], dtype=torch.float32).view(C, 1, 1, 1)
        self.std = torch.tensor(self.index["std"], dtype=torch.float32).view(C, 1, 1, 1)
        self._perm: tuple[int, torch.Tensor] | None = None

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        return tuple(self.index["latent_shape"])

    @property
    def classes(self) -> list[str]:
        return list(self.index["classes"])

    @property
    def num_classes(self) -> int:
        return len(self.index["classes"])

    def _clip(self, i: int) -> int:
        from ..data.seeding import item_generator

        epoch, k = divmod(i, self.length)
        if self._perm is None or self._perm[0] != epoch:
            g = item_generator(self.seed, epoch, 0x45504F43)  # "EPOC"
            self._perm = (epoch, torch.randperm(self.length, generator=g))
        return int(self._perm[1][k])

    def raw(self, clip: int) -> tuple[torch.Tensor, int]:
        """Clip number ``clip`` (0 <= clip < len) as stored, and its label."""
        from safetensors import safe_open

        file, row = self._rows[clip]
        with safe_open(os.path.join(self.root, file), "pt") as f:
            z = f.get_slice("latents")[row:row + 1][0].float()
            y = int(f.get_slice("labels")[row:row + 1][0])
        return z, y

    def __getitem__(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        z, y = self.raw(self._clip(self._item_index(index)))
        if self.normalize:
            z = (z - self.mean) / self.std
        return z, torch.tensor(y)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents ``[..., C, t, h, w]`` back to the tokenizer's scale."""
        return z * self.std.to(z) + self.mean.to(z)


__all__ = ["FORMAT", "INDEX_NAME", "LatentCacheError", "LatentDataset", "cache_latents",
           "check_clip", "finalize_cache", "read_index", "shard_path", "video_classes"]
