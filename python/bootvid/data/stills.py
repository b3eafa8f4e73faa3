"""Training video made from still photos: a virtual camera pans, zooms and rotates over a
photo along a smooth random path, optionally with a cut-out of another photo moving over it.

Real textures with known, varied motion, from a folder of images: where a video corpus is not
at hand, or to add variety to a few videos. Sampling is anti-aliased (a triangle-filtered mip
pyramid, blended between levels, and 2x2 supersampling), so a zoom does not jump in sharpness
between frames and detail finer than the clip's pixels does not alias into moire: measured on
a 2.5-pixel grating, about 1% of its contrast survives from a 3x zoom-out on, 9-21% at 1.5-2x
(views start at 1.5x; photos rarely hold such detail). Only the part of the photo the camera
path covers is decoded, JPEGs at a reduced scale (libjpeg's DCT scaling) when the view does
not need full resolution. Transparent pixels are shown over mid grey; 16-bit images are
refused (skipped with a warning).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F

from ._base import EndlessClipDataset, FileSkips
from ._checks import integer, positive_int
from .seeding import item_generator
from .video_io import find_media

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")

_OWNER = "StillMotionDataset"
_FOREGROUND_STREAM = 1  # item_generator stream of the foreground (stream 0: the camera)


def find_images(paths: str | os.PathLike | Iterable[str | os.PathLike],
                extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Image files under ``paths``, as :func:`~bootvid.data.find_videos` finds videos."""
    return find_media(paths, extensions, "image")


@dataclass
class CameraPath:
    """Where the camera looks in each frame, in the photo's pixels: the view's ``center``
    ``(T, 2)`` as (x, y), the ``side`` ``(T,)`` of the square view, its rotation ``angle``
    ``(T,)`` in radians."""

    center: torch.Tensor
    side: torch.Tensor
    angle: torch.Tensor

    def corners(self) -> torch.Tensor:
        """The view's four corners per frame, ``(T, 4, 2)`` in photo pixels."""
        c, s = torch.cos(self.angle), torch.sin(self.angle)
        unit = torch.tensor([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
        u, v = unit[:, 0].view(1, 4), unit[:, 1].view(1, 4)
        h = self.side.view(-1, 1)
        x = self.center[:, :1] + h * (c.view(-1, 1) * u - s.view(-1, 1) * v)
        y = self.center[:, 1:] + h * (s.view(-1, 1) * u + c.view(-1, 1) * v)
        return torch.stack([x, y], dim=-1)


@dataclass
class StillClip:
    """One item of :class:`StillMotionDataset` with how it was made (tests, previews)."""

    video: torch.Tensor  # (3, T, size, size) float32 in [-1, 1]
    photo: str
    photo_size: tuple[int, int]  # (width, height) of the photo, upright
    camera: CameraPath
    foreground: str | None = None  # the photo the moving cut-out comes from
    alpha: torch.Tensor | None = None  # (T, size, size) coverage of the cut-out, in [0, 1]


# Formats whose EXIF orientation Pillow reads from the header (for a PNG, getexif() decodes
# the whole image; PNGs are taken as stored).
_EXIF_FORMATS = ("JPEG", "MPO", "WEBP", "TIFF")
# Modes that convert to 8-bit RGB faithfully (16-bit and float ones would clip to white).
_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")


def _oriented_size(im) -> tuple[int, int]:
    w, h = im.size
    turned = im.format in _EXIF_FORMATS and im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    return (h, w) if turned else (w, h)


def _photo_size(path: str) -> tuple[int, int]:
    """(width, height) of an image as it is shown (EXIF orientation applied), from its header;
    ValueError for modes that do not convert to 8-bit RGB."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in _MODES:
            raise ValueError(f"mode {im.mode} (16-bit or float samples) is not supported; "
                             "convert it to 8-bit RGB")
        return _oriented_size(im)


def _load_photo(path: str, scale: float, box=None) -> tuple[torch.Tensor, float, tuple]:
    """The photo, upright, decoded at ``scale`` of its size or larger (JPEG DCT scaling: 1/2,
    1/4, 1/8 of the work), cut to ``box`` = (left, top, right, bottom) in the upright photo's
    pixels (plus what rounding outward adds), as float ``(3, h, w)`` in 0..255; transparent
    pixels over mid grey. Returns the pixels, the scale decoded and the box in decoded pixels."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        w, h = _oriented_size(im)
        if scale < 1:
            sw, sh = im.size
            im.draft("RGB", (max(1, math.ceil(sw * scale)), max(1, math.ceil(sh * scale))))
        if im.format in _EXIF_FORMATS:
            im = ImageOps.exif_transpose(im)
        decoded = im.size[0] / w
        if box is not None:
            left, top = (max(0, math.floor(v * decoded)) for v in box[:2])
            right = min(im.size[0], math.ceil(box[2] * decoded))
            bottom = min(im.size[1], math.ceil(box[3] * decoded))
            box = (left, top, max(right, left + 1), max(bottom, top + 1))
            im = im.crop(box)
        else:
            box = (0, 0, *im.size)
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            im = im.convert("RGBA")
            im = Image.alpha_composite(Image.new("RGBA", im.size, (128, 128, 128, 255)), im)
        rgb = np.asarray(im.convert("RGB"))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float(), decoded, box


class _BrokenPhoto(OSError):
    """A photo that failed to decode while training: ``index`` says which."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3 - 2 * x)


def _rate_profile(g: torch.Generator, frames: int, dims: int, max_rate: float,
                  static_prob: float, turn_prob: float) -> torch.Tensor:
    """A smooth random per-frame rate ``(frames, dims)`` (dims 1 or 2): a speed (near zero with
    probability ``static_prob``, else log-uniform in [max_rate / 20, max_rate]), a random
    direction, a linear acceleration or deceleration (x0.4 .. x1.6 over the clip) and, with
    probability ``turn_prob``, one direction change eased over a few frames (in 1D: slowing
    down and reversing)."""
    u = torch.rand(7, generator=g).tolist()
    if frames == 1 or max_rate == 0:
        return torch.zeros(frames, dims)
    if u[0] < static_prob:
        speed = max_rate * 0.02 * u[1]
    else:
        speed = max_rate * math.exp(math.log(1 / 20) * (1 - u[1]))
    t = torch.arange(frames, dtype=torch.float32)
    accel = 1 + 0.6 * (2 * u[2] - 1) * (2 * t / (frames - 1) - 1)
    turn = torch.zeros(frames)
    if u[3] < turn_prob:
        at = (0.25 + 0.5 * u[4]) * (frames - 1)
        width = max(2.0, frames / 6)
        turn = _smoothstep((t - at) / width + 0.5)
    if dims == 1:
        sign = 1.0 if u[5] < 0.5 else -1.0
        return (speed * sign * accel * (1 - 2 * turn)).view(frames, 1)
    angle = 2 * math.pi * u[5] + (1 if u[6] < 0.5 else -1) * math.pi * (0.35 + 0.65 * u[6]) * turn
    return speed * accel.view(-1, 1) * torch.stack([torch.cos(angle), torch.sin(angle)], -1)


def _positions(rate: torch.Tensor) -> torch.Tensor:
    """Offsets from frame 0 of a per-frame rate: ``p_0 = 0``, ``p_t = sum_{u<t} rate_u``."""
    return torch.cat([torch.zeros_like(rate[:1]), rate[:-1].cumsum(0)])


def _fit_offset(disp: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                g: torch.Generator) -> torch.Tensor:
    """A start ``c0`` with ``lo_t <= c0 + disp_t <= hi_t`` for every frame (per column),
    shrinking the motion (halving it, then none) when it does not fit; returns ``c0 + disp``
    (the motion as fitted)."""
    for attempt in range(9):
        first = (lo - disp).amax(0)
        last = (hi - disp).amin(0)
        if bool((first <= last).all()):
            break
        disp = disp * (0.5 if attempt < 7 else 0.0)
    c0 = first + (last - first) * torch.rand(first.shape, generator=g)
    return c0 + disp


class _MipSampler:
    """Anti-aliased sampling of one photo: a pyramid of 2x reductions with a triangle filter
    (a box filter's sidelobes let fine gratings alias through), blended between the two levels
    around each frame's footprint (trilinear filtering, so a zoom changes sharpness smoothly),
    biased half a level coarser (measured: a 2.5-pixel grating zoomed out 3x leaves 1% of its
    contrast instead of 9%, at the cost of ~13% contrast at 3 output pixels per period)."""

    LOD_BIAS = 0.5

    def __init__(self, photo: torch.Tensor, max_level: int) -> None:
        self.levels = [photo]
        while len(self.levels) <= max_level and min(self.levels[-1].shape[-2:]) >= 2:
            h, w = self.levels[-1].shape[-2:]
            self.levels.append(F.interpolate(self.levels[-1][None], size=(h // 2, w // 2),
                                             mode="bilinear", antialias=True,
                                             align_corners=False)[0])

    def sample(self, grid: torch.Tensor, lod: torch.Tensor) -> torch.Tensor:
        """``grid`` ``(T, h, w, 2)`` in grid_sample's normalised coordinates of the whole
        photo; ``lod`` ``(T,)`` the pyramid level (fractional) per frame -> ``(T, 3, h, w)``."""
        out = []
        top = len(self.levels) - 1
        for t in range(grid.shape[0]):
            level = min(max(float(lod[t]) + self.LOD_BIAS, 0.0), float(top))
            low = int(level)
            frac = level - low
            g = grid[t:t + 1]
            x = F.grid_sample(self.levels[low][None], g, mode="bilinear",
                              padding_mode="border", align_corners=False)
            if frac > 1e-3 and low < top:
                y = F.grid_sample(self.levels[low + 1][None], g, mode="bilinear",
                                  padding_mode="border", align_corners=False)
                x = x + frac * (y - x)
            out.append(x)
        return torch.cat(out)


class StillMotionDataset(FileSkips, EndlessClipDataset):
    """Clips ``(3, frames, size, size)`` float32 in [-1, 1] filmed by a virtual camera moving
    over still photos.

    Per clip: a photo, and a square view of it (its side log-uniform between ``1.5 * size``
    photo pixels, close to native resolution, and the whole shorter side) that pans by up to
    ``max_pan`` of the view per frame, zooms by up to ``max_zoom`` (log scale per frame, with
    probability ``zoom_prob``) and rotates by up to ``max_rotation`` radians per frame (with
    probability ``rotate_prob``). Each motion has its own smooth random profile: a speed that
    is near zero with probability ``static_prob``, an acceleration, and with probability
    ``turn_prob`` a direction change eased over a few frames. The path always stays inside the
    photo (motion that would leave it is scaled down). With probability ``foreground_prob``, a
    cut-out of another photo (a soft-edged superellipse a quarter to a half of the frame wide)
    moves along its own path (up to ``foreground_speed`` of the frame per frame, sometimes
    turning) over the background, occluding it. ``hflip`` mirrors half of the clips.
    ``frames=1`` gives images.

    Item ``i`` is a deterministic function of ``(seed, i)`` and the files: the same in every
    DataLoader worker and run. ``len()`` is ``length`` (the epoch size a sampler sees); any
    index >= 0 works. Images smaller than ``size`` or unreadable are left out at construction
    with a warning (``skipped`` lists them); one that fails to decode later is warned about
    and the item falls through to another photo, drawn from its own random stream (the item is
    the same wherever it is computed, as long as the photo fails every time). Needs Pillow.
    """

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike], frames: int,
                 size: int, length: int = 100_000, seed: int = 0, max_pan: float = 0.05,
                 max_zoom: float = 0.02, max_rotation: float = 0.01, zoom_prob: float = 0.5,
                 rotate_prob: float = 0.3, static_prob: float = 0.15, turn_prob: float = 0.3,
                 foreground_prob: float = 0.5, foreground_speed: float = 0.05,
                 hflip: bool = True,
                 extensions: Iterable[str] = IMAGE_EXTENSIONS):
        self.frames = positive_int(_OWNER, "frames", frames)
        self.size = positive_int(_OWNER, "size", size)
        self.length = positive_int(_OWNER, "length", length)
        self.seed = integer(_OWNER, "seed", seed)
        for name, v, hi in (("max_pan", max_pan, 0.5), ("max_zoom", max_zoom, 0.5),
                            ("max_rotation", max_rotation, 0.5), ("zoom_prob", zoom_prob, 1),
                            ("rotate_prob", rotate_prob, 1), ("static_prob", static_prob, 1),
                            ("turn_prob", turn_prob, 1),
                            ("foreground_prob", foreground_prob, 1),
                            ("foreground_speed", foreground_speed, 0.5)):
            try:
                ok = 0 <= float(v) <= hi
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{_OWNER}: {name} must be a number in [0, {hi}], got {v!r}")
            setattr(self, name, float(v))
        self.hflip = bool(hflip)
        try:
            from PIL import Image  # noqa: F401
        except ImportError:
            raise ImportError(f"{_OWNER} reads images with Pillow: pip install pillow") from None

        self.paths = ([os.fspath(paths)] if isinstance(paths, (str, os.PathLike))
                      else [os.fspath(p) for p in paths])
        files = find_images(self.paths, extensions)
        self.photos: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self._init_skips()
        for path in files:
            try:
                w, h = _photo_size(path)
            except Exception as e:  # PIL raises many types for damaged files
                self._skip(path, f"not a readable image ({type(e).__name__}: {e})")
                continue
            if min(w, h) < self.size:
                self._skip(path, f"is {w}x{h}, smaller than the clips ({self.size}x{self.size})")
                continue
            self.photos.append(path)
            self.sizes.append((w, h))
        if not self.photos:
            raise self._none_usable(len(files), "images")

    def _frames_changed(self) -> None:
        self._copy_skips()

    def __repr__(self) -> str:
        return (f"{_OWNER}({len(self.photos) - len(self._bad)} photos, {len(self.skipped)} "
                f"skipped, frames={self.frames}, size={self.size}, length={self.length}, "
                f"seed={self.seed}, foreground_prob={self.foreground_prob})")

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.clip(index).video

    def clip(self, index: int) -> StillClip:
        """Item ``index`` with its photo, camera path and foreground coverage."""
        i = self._item_index(index)
        n = len(self.photos)
        # Attempt k draws its photos from stream 2k; a photo known to be broken ends the
        # attempt just as finding it broken does, so an item is the same in a process that
        # knows and one that does not (as long as the photo fails every time).
        for k in range(4 * n + 8):
            g = item_generator(self.seed, i, 2 * k)
            p = int(torch.randint(0, n, (), generator=g))
            if p in self._bad:
                continue
            try:
                return self._render(p, g, item_generator(self.seed, i, 2 * k + _FOREGROUND_STREAM))
            except _BrokenPhoto as e:  # the background's or the cut-out's photo
                self._bad.add(e.index)
                self._skip(self.photos[e.index], f"failed while training: {e}")
        # Unlucky draws: the first good photo from i on, without a cut-out.
        for k in range(n):
            p = (i + k) % n
            if p in self._bad:
                continue
            try:
                return self._render(p, item_generator(self.seed, i, 2 * (4 * n + 8)), None)
            except _BrokenPhoto as e:
                self._bad.add(e.index)
                self._skip(self.photos[e.index], f"failed while training: {e}")
        raise RuntimeError(f"{_OWNER}: every photo failed to decode; the last reasons: "
                           f"{self.skipped[-3:]}")

    # ---- the camera -------------------------------------------------------------------------

    def camera_path(self, width: int, height: int, g: torch.Generator) -> CameraPath:
        """A random camera path over a ``width x height`` photo, inside it in every frame."""
        T, S = self.frames, self.size
        u = torch.rand(4, generator=g).tolist()
        rotating = u[0] < self.rotate_prob
        spin = _rate_profile(g, T, 1, self.max_rotation if rotating else 0.0,
                             self.static_prob, self.turn_prob)[:, 0]
        angle = (0.08 * (2 * u[1] - 1) if rotating else 0.0) + _positions(spin.view(-1, 1))[:, 0]
        zoom_rate = _rate_profile(g, T, 1, self.max_zoom if u[2] < self.zoom_prob else 0.0,
                                  self.static_prob, self.turn_prob)[:, 0]
        log_zoom = _positions(zoom_rate.view(-1, 1))[:, 0]
        short = float(min(width, height))
        for _ in range(12):
            # A view of side s rotated by a spans s * (|cos a| + |sin a|) on both axes.
            spread = angle.cos().abs() + angle.sin().abs()
            hi = float((short / (spread * log_zoom.exp())).min())
            # Views from 1.5x the clip size (close to the photo's native detail) up.
            lo = min(short, 1.5 * S) / float(log_zoom.exp().min())
            if lo <= hi:
                break
            log_zoom = log_zoom * 0.5  # too much zoom or rotation for this photo: less of both
            angle = angle * 0.5
        else:
            log_zoom, angle = torch.zeros(T), torch.zeros(T)
            spread, hi, lo = torch.ones(T), short, min(short, 1.5 * S)
        side0 = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u[3])
        side = side0 * log_zoom.exp()
        pan = _rate_profile(g, T, 2, self.max_pan, self.static_prob, self.turn_prob)
        disp = _positions(pan * side.view(-1, 1))
        half = (side * spread / 2).view(-1, 1)
        dims = torch.tensor([[float(width), float(height)]])
        center = _fit_offset(disp, half, dims - half, g)
        return CameraPath(center, side, angle)

    # ---- rendering --------------------------------------------------------------------------

    def _render(self, p: int, g: torch.Generator, g_fg: torch.Generator | None) -> StillClip:
        """Photo ``p`` filmed along a path drawn from ``g``, with a cut-out drawn from
        ``g_fg`` (None: no cut-out); _BrokenPhoto when a photo fails."""
        (w, h), path = self.sizes[p], self.photos[p]
        cam = self.camera_path(w, h, g)
        video = self._film(p, cam)  # (frames, 3, 2 size, 2 size), 0..255
        fg_path = alpha = None
        flip = self.hflip and bool(torch.rand((), generator=g) < 0.5)
        if g_fg is not None and torch.rand((), generator=g_fg) < self.foreground_prob:
            n = len(self.photos)
            q = (p + 1 + int(torch.randint(0, max(1, n - 1), (), generator=g_fg))) % n
            if q in self._bad:
                raise _BrokenPhoto(q, OSError("known to be broken"))
            fg_path = self.photos[q]
            video, alpha = self._add_foreground(video, q, g_fg)
        video = F.avg_pool2d(video, 2)  # 2x2 supersampling -> size x size
        video = (video / 127.5 - 1.0).clamp_(-1.0, 1.0).permute(1, 0, 2, 3)
        if alpha is not None:
            alpha = F.avg_pool2d(alpha, 2)[:, 0]
        if flip:
            video = video.flip(-1)
            alpha = alpha.flip(-1) if alpha is not None else None
        return StillClip(video.contiguous(), path, (w, h), cam, fg_path, alpha)

    def view(self, photo: int, camera: CameraPath) -> torch.Tensor:
        """What ``camera`` sees of photo number ``photo`` (an index into ``photos``), without
        foreground or flip: ``(3, T, size, size)`` in [-1, 1], T the camera path's length."""
        video = F.avg_pool2d(self._film(photo, camera), 2)
        return (video / 127.5 - 1.0).clamp_(-1.0, 1.0).permute(1, 0, 2, 3).contiguous()

    def _film(self, p: int, cam: CameraPath, grid_size: int | None = None) -> torch.Tensor:
        """What the camera sees of photo ``p``, supersampled: ``(T, 3, 2 grid_size,
        2 grid_size)`` in 0..255 (``grid_size`` defaults to ``size``)."""
        n = 2 * (grid_size or self.size)  # supersamples per side
        # Photo pixels per supersample, per frame; decode only as finely as the closest view
        # needs (JPEG draft scaling), then pick pyramid levels for the rest.
        step = cam.side / n
        scale = min(1.0, 1.0 / float(step.min()))
        # Decode only the part of the photo the path covers, with a margin for the pyramid's
        # filters (a view near native resolution of a large photo is a small part of it).
        xy = cam.corners().reshape(-1, 2)
        reach = float(step.max()) * 2 ** 3 + 2
        box = (float(xy[:, 0].min()) - reach, float(xy[:, 1].min()) - reach,
               float(xy[:, 0].max()) + reach, float(xy[:, 1].max()) + reach)
        try:
            photo, decoded, (left, top, right, bottom) = _load_photo(self.photos[p], scale, box)
        except Exception as e:  # PIL raises many types for damaged files
            raise _BrokenPhoto(p, e) from e
        lod = torch.log2((step * decoded).clamp(min=1.0))
        mip = _MipSampler(photo, math.ceil(float(lod.max()) + _MipSampler.LOD_BIAS))
        # Supersample centres in view units [-0.5, 0.5], rotated and placed per frame.
        a = (torch.arange(n, dtype=torch.float32) + 0.5) / n - 0.5
        vy, vx = torch.meshgrid(a, a, indexing="ij")
        c, s = torch.cos(cam.angle).view(-1, 1, 1), torch.sin(cam.angle).view(-1, 1, 1)
        side = cam.side.view(-1, 1, 1)
        x = cam.center[:, 0].view(-1, 1, 1) + side * (c * vx - s * vy)
        y = cam.center[:, 1].view(-1, 1, 1) + side * (s * vx + c * vy)
        # photo pixels -> the decoded crop's grid_sample coordinates
        grid = torch.stack([2 * (x * decoded - left) / (right - left) - 1,
                            2 * (y * decoded - top) / (bottom - top) - 1], dim=-1)
        return mip.sample(grid, lod)

    def _add_foreground(self, video: torch.Tensor, q: int,
                        g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Composite a moving, soft-edged cut-out of photo ``q`` over the supersampled clip;
        returns the clip and the cut-out's coverage ``(T, 1, 2S, 2S)``."""
        T, n = video.shape[0], video.shape[-1]
        u = torch.rand(8, generator=g).tolist()
        patch = 0.25 + 0.25 * u[0]  # cut-out width, in frames
        tex_px = max(4, round(patch * self.size))
        # The cut-out's texture: a still view of photo q at a random scale and place.
        (w, h) = self.sizes[q]
        tex_cam = CameraPath(torch.zeros(1, 2), torch.zeros(1), torch.zeros(1))
        short = float(min(w, h))
        lo = min(short, 1.5 * tex_px)
        side = math.exp(math.log(lo) + (math.log(short) - math.log(lo)) * u[1])
        tex_cam.side[0] = side
        tex_cam.center[0, 0] = side / 2 + (w - side) * u[2]
        tex_cam.center[0, 1] = side / 2 + (h - side) * u[3]
        texture = self._film(q, tex_cam, grid_size=tex_px)  # (1, 3, 2p, 2p)
        # Its path over the frame (frame units, centre at 0): own speed, turns, spin.
        rate = _rate_profile(g, T, 2, self.foreground_speed, self.static_prob, self.turn_prob)
        disp = _positions(rate)
        bound = torch.full((1, 2), 0.5 - patch / 4)
        pos = _fit_offset(disp, -bound, bound, g)
        spin = _rate_profile(g, T, 1, 0.03 if u[4] < 0.5 else 0.0, self.static_prob,
                             self.turn_prob)[:, 0]
        phi = 2 * math.pi * u[5] * (u[4] < 0.5) + _positions(spin.view(-1, 1))[:, 0]
        # Supersample centres in frame units, to cut-out units (half-width 0.5).
        a = (torch.arange(n, dtype=torch.float32) + 0.5) / n - 0.5
        fy, fx = torch.meshgrid(a, a, indexing="ij")
        dx = fx - pos[:, 0].view(-1, 1, 1)
        dy = fy - pos[:, 1].view(-1, 1, 1)
        c, s = torch.cos(phi).view(-1, 1, 1), torch.sin(phi).view(-1, 1, 1)
        lx, ly = (c * dx + s * dy) / patch, (c * dy - s * dx) / patch
        # A superellipse |x/ax|^k + |y/ay|^k <= 1: from diamond-like to a rounded square.
        k = 1.5 + 4.5 * u[6]
        ax, ay = 0.5, 0.5 * (0.6 + 0.4 * u[7])
        r = ((lx.abs() / ax) ** k + (ly.abs() / ay) ** k).clamp(min=1e-12) ** (1 / k)
        # (1 - r) * the smaller half-axis ~ distance to the edge; one supersample soft edge.
        edge = (1 - r) * min(ax, ay) * patch * n
        alpha = (edge + 0.5).clamp(0.0, 1.0).unsqueeze(1)  # (T, 1, n, n)
        tex_grid = torch.stack([2 * lx, 2 * ly], dim=-1)  # cut-out units -> texture [-1, 1]
        fg = F.grid_sample(texture.expand(T, -1, -1, -1), tex_grid, mode="bilinear",
                           padding_mode="border", align_corners=False)
        return video + alpha * (fg - video), alpha
