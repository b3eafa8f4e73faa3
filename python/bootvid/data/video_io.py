"""Reading and writing video files with PyAV: probing, exact frame-range reads, streaming
reads and writes of any length in constant memory, atomic writes.

A frame's index is its position in decoding-from-the-beginning order (the decoded frames,
counted). ``read_frames`` seeks to the keyframe before the range to avoid decoding the whole
file, and falls back to decoding from the beginning whenever the file's timestamps cannot be
trusted to name that same index, so both ways give the same frames. Trusted means: the
packets' pts, sorted, are exactly one frame apart over the whole file (checked once per file
and process by demuxing, which decodes nothing), and the decoded frames' pts are consecutive
from the keyframe the seek landed on, at or before the range. Files with dropped frames,
variable frame rates, packed B-frames (old DivX avi) or pts written as dts are read by
counting from the beginning: correct, but slower.

``iter_frames`` decodes a whole file from the beginning in chunks of frames, and
``VideoWriter`` encodes frames as they come, so that a video of any length goes through one
chunk at a time; ``write_video`` writes a clip held in memory with a ``VideoWriter``.

Frames come out as players show them: a display matrix in the file (phones record portrait
video as landscape frames plus a rotation) is applied, in quarter turns and a mirror, as
ffmpeg's autorotation does; ``probe_video`` reports the size after it. Variable frame rates
are not resampled: the frames are the decoded ones in order, and ``fps`` is the average rate.

PyAV (``pip install av``) is imported only inside the functions that need it, so
``import bootvid.data`` works without it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile
import warnings
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Iterable, Iterator

import numpy as np
import torch

from ..fileio import new_file_mode

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif",
    ".ts")


class VideoReadError(ValueError):
    """A video that cannot be opened or read as asked (the message names the file).

    ``frames_available`` is set when the file decoded fine but had too few frames: the number
    it really has (which can differ from ``probe_video``'s count when that was estimated)."""

    def __init__(self, message: str, frames_available: int | None = None):
        super().__init__(message)
        self.frames_available = frames_available


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` learns from a file's headers (and its first frame).

    ``frames`` comes from the container when it records it, else from counting the packets
    (``frames_estimated``; equal to the decoded frames except in damaged files).
    ``width`` and ``height`` are those of the frames as read, upright: ``rotation`` (degrees
    counterclockwise, a multiple of 90) and ``mirrored`` (left-right, after the rotation) say
    how the stored frames were turned to get them (None when probed with
    ``orientation=False``: the size is then the stored one). ``fps`` is the average frame
    rate."""

    path: str
    frames: int
    fps: float
    width: int
    height: int
    frames_estimated: bool = False
    rotation: int | None = 0
    mirrored: bool | None = False


def _import_av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("bootvid.data needs PyAV to read and write video files: "
                          "pip install av") from e
    return av


def _open_input(av, path: str):
    try:
        container = av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise VideoReadError(f"cannot open video {path!r}: {_reason(e)}") from e
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path!r} has no video stream")
    return container, container.streams.video[0]


def _reason(e: Exception) -> str:
    # FFmpeg errors repeat the file name in str(e); the caller names the file already.
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _frame_rate(stream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def probe_video(path: str | os.PathLike, orientation: bool = True) -> VideoInfo:
    """Frame count, frame rate and size of ``path``, as the frames will be read.

    The count and rate come from the headers; containers that record no frame count (mkv,
    webm) have their packets counted instead (demuxing, no decoding), and their rate is the
    count over the video's time span when that differs from the header's (a variable frame
    rate). The first frame is decoded for its display matrix (the size is the upright one);
    ``orientation=False`` skips that, for scans that need only counts and rates (the size is
    then the stored one, ``rotation`` and ``mirrored`` None).
    Raises ``VideoReadError`` naming the file when it cannot be opened, has no video stream
    or has no frames; ``FileNotFoundError`` when it does not exist."""
    av = _import_av()
    path = os.fspath(path)
    container, stream = _open_input(av, path)
    with container:
        rate = _frame_rate(stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        frames, estimated = int(stream.frames or 0), False
        if frames <= 0:
            frames, seconds = _count_packets(av, container, stream)
            estimated = True
            if frames and seconds > 0:
                average = Fraction(frames) / seconds
                if rate is None or abs(average / rate - 1) > 0.01:
                    rate = average
    if frames <= 0:
        raise VideoReadError(f"{path!r} has no video frames (the container records neither a "
                             f"frame count nor a duration and frame rate)")
    if not width or not height:
        raise VideoReadError(f"{path!r}: the video stream has no frame size ({width}x{height})")
    info = VideoInfo(path=path, frames=frames, fps=float(rate) if rate else 0.0,
                     width=int(width), height=int(height), frames_estimated=estimated,
                     rotation=None, mirrored=None)
    if not orientation:
        return info
    turns, mirrored = _file_orientation(av, path)
    if turns % 2:
        width, height = height, width
    return replace(info, width=int(width), height=int(height), rotation=90 * turns,
                   mirrored=mirrored)


def _count_packets(av, container, stream) -> tuple[int, Fraction]:
    """The video packets, counted, and the time they span in seconds (from the first pts to
    the end of the last packet: the container's duration would count the audio too)."""
    count, first, end = 0, None, None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the flush packet at the end
            count += 1
            if packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
    except (av.FFmpegError, OSError):
        pass  # damaged further on: the readers report it
    if first is None or end is None or stream.time_base is None or end <= first:
        return count, Fraction(0)
    return count, (end - first) * stream.time_base


def _per_file(cache: dict, path: str, compute):
    """``compute()``, looked up once per file and process: keyed by size and mtime too, so a
    rewritten file is looked at again."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in cache:
        if len(cache) > 100_000:
            cache.clear()
        cache[key] = compute()
    return cache[key]


# Per file: (quarter turns, mirrored).
_ORIENTATIONS: dict[tuple[str, int, int], tuple[int, bool]] = {}


def _file_orientation(av, path: str) -> tuple[int, bool]:
    """How to turn ``path``'s frames upright: decided once per file, from its first decoded
    frame (the display matrix reaches us on decoded frames; PyAV does not expose the
    stream's), and applied to every frame alike so a clip never mixes orientations."""
    def first_frame():
        try:
            container, stream = _open_input(av, path)
            with container:
                frame = next(container.decode(stream), None)
        except (VideoReadError, av.FFmpegError, OSError):
            return 0, False  # reading the frames will report what is wrong
        return (0, False) if frame is None else _orientation(frame, path)

    return _per_file(_ORIENTATIONS, path, first_frame)


def _orientation(frame, path: str) -> tuple[int, bool]:
    """(quarter turns counterclockwise, then a left-right mirror) that show ``frame`` upright.

    The display matrix (libavutil/display.h) is a rotation, times a negated first column
    when mirrored (``av_display_matrix_flip``): the sign of its determinant tells which, and
    the angle is ``av_display_rotation_get``'s of the rotation part. Other angles than
    quarter turns (which would need resampling; cameras do not write them) are rounded, with
    a warning."""
    matrix = None
    for data in getattr(frame, "side_data", ()):
        if getattr(data.type, "name", "") == "DISPLAYMATRIX":
            matrix = np.frombuffer(bytes(data), dtype=np.int32)[:9].astype(np.float64)
            break
    if matrix is None or len(matrix) < 9:
        return 0, False
    a, b, c, d = matrix[0], matrix[1], matrix[3], matrix[4]
    if math.hypot(a, c) == 0 or math.hypot(b, d) == 0:
        return 0, False  # degenerate: ffmpeg applies no rotation either
    mirrored = bool(a * d - b * c < 0)
    if mirrored:
        a, c = -a, -c
    angle = -math.degrees(math.atan2(b, a))
    turns = math.floor(angle / 90 + 0.5)
    if abs(angle - 90 * turns) > 1:
        warnings.warn(f"{path!r}: the display matrix rotates by {angle:.1f} degrees; frames are "
                      f"turned by {90 * turns} (quarter turns only)", stacklevel=2)
    return turns % 4, mirrored


def _to_rgb(frame, orientation: tuple[int, bool]) -> np.ndarray:
    # to_ndarray converts any pixel format (gray, rgba, yuv, pal8, ...) to packed rgb24; the
    # result is a view when turned (the callers copy it into their arrays).
    rgb = frame.to_ndarray(format="rgb24")
    turns, mirrored = orientation
    if turns:
        rgb = np.rot90(rgb, turns)
    return rgb[:, ::-1] if mirrored else rgb


def _stack(path: str, frames: list[np.ndarray]) -> torch.Tensor:
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise VideoReadError(f"{path!r}: the frame size changes inside the clip "
                             f"({sorted(shapes)}); cannot stack the frames")
    return torch.from_numpy(np.stack(frames))


def _read_from_beginning(av, path: str, start: int, count: int, stride: int,
                         orientation: tuple[int, bool]) -> torch.Tensor:
    """The reference: decode every frame from the start, counting them."""
    wanted_last = start + (count - 1) * stride
    out: list[np.ndarray] = []
    container, stream = _open_input(av, path)
    with container:
        index = -1
        for index, frame in enumerate(container.decode(stream)):
            if index >= start and (index - start) % stride == 0:
                out.append(_to_rgb(frame, orientation))
                if index == wanted_last:
                    return _stack(path, out)
    available = index + 1
    raise VideoReadError(
        f"{path!r} has {available} frames; reading {count} frames from frame {start} with "
        f"stride {stride} needs {wanted_last + 1}", frames_available=available)


class _SeekUnreliable(Exception):
    """The file's timestamps do not identify frame indices here: decode from the beginning."""


# Per file: the pts of frame 0 when the file's timestamps are regular, else None.
_ORIGINS: dict[tuple[str, int, int], int | None] = {}


def _regular_origin(av, container, stream, path: str,
                    frames_per_tick: Fraction) -> int | None:
    """The smallest packet pts if the packets' pts, sorted, are exactly one frame apart, else
    None.

    Timestamps can name frame indices only if no frame is missing anywhere before the read
    position (dropped-frame avi files, variable-rate captures), which the frames near it
    cannot show. Demuxing reads packet headers and data but decodes nothing: about 1 ms per
    MB, paid once per file and process."""
    return _per_file(_ORIGINS, path, lambda: _origin_of_packets(
        av, container, stream, frames_per_tick))


def _origin_of_packets(av, container, stream, frames_per_tick: Fraction) -> int | None:
    pts: list[int] | None = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the flush packet at the end, or an empty "repeat frame" chunk
            if packet.pts is None:
                pts = None
                break
            pts.append(packet.pts)
    except (av.FFmpegError, OSError):
        pts = None  # damaged further on: let the counting reader get what it can
    origin = None
    if pts:
        pts.sort()
        # Integer test of |(p - origin) * frames_per_tick - k| <= 1/4 (Fractions are slow).
        num, den = frames_per_tick.numerator, frames_per_tick.denominator
        if all(4 * abs((p - pts[0]) * num - k * den) <= den for k, p in enumerate(pts)):
            origin = pts[0]
    return origin


def _read_after_seek(av, path: str, start: int, count: int, stride: int,
                     orientation: tuple[int, bool]) -> torch.Tensor:
    wanted_last = start + (count - 1) * stride
    out: list[np.ndarray] = []
    container, stream = _open_input(av, path)
    with container:
        # The nominal rate (r_frame_rate) names whole frames in constant-rate files; where the
        # average rate differs the frame rate varies and pts do not map to frame counts.
        rate, average, time_base = stream.guessed_rate, stream.average_rate, stream.time_base
        if not rate or not average or not time_base or abs(average / rate - 1) > 0.01:
            raise _SeekUnreliable
        frames_per_tick = Fraction(rate) * time_base  # index = (pts - origin) * frames_per_tick
        origin = _regular_origin(av, container, stream, path, frames_per_tick)
        if origin is None:
            raise _SeekUnreliable
        target = origin + math.floor(Fraction(start) / frames_per_tick)
        try:
            container.seek(target, backward=True, any_frame=False, stream=stream)
        except (av.FFmpegError, OSError) as e:
            raise _SeekUnreliable from e
        previous = None
        for frame in container.decode(stream):
            if frame.pts is None:
                raise _SeekUnreliable
            exact = (frame.pts - origin) * frames_per_tick
            index = round(exact)
            # Trust the decoded frames' pts only while they name consecutive whole frames:
            # packets can be regular while frames are not (packed B-frames in avi, mp4s muxed
            # with pts = dts, whose decoded frames carry shuffled timestamps).
            if abs(exact - index) > 0.25:
                raise _SeekUnreliable
            if previous is None:
                if index > start or not frame.key_frame:
                    raise _SeekUnreliable  # landed after the range, or not on a keyframe
            elif index != previous + 1:
                raise _SeekUnreliable
            previous = index
            if index >= start and (index - start) % stride == 0:
                out.append(_to_rgb(frame, orientation))
                if index == wanted_last:
                    return _stack(path, out)
    # The stream ended early; the counting reader says how many frames there really are.
    raise _SeekUnreliable


def read_frames(path: str | os.PathLike, start: int, count: int, stride: int = 1) -> torch.Tensor:
    """Frames ``start, start + stride, ..., start + (count - 1) * stride`` of ``path`` as a uint8
    RGB tensor ``(count, H, W, 3)``.

    Seeks to the keyframe before ``start`` and decodes forward, identifying frames by their
    timestamps; when those are missing or unreliable it decodes from the beginning instead, so
    the result always equals decoding the whole file and counting frames. Raises
    ``VideoReadError`` (naming the file) when it cannot be decoded or has too few frames
    (``frames_available`` then says how many it has)."""
    av = _import_av()
    path = os.fspath(path)
    for name, value, least in (("start", start, 0), ("count", count, 1), ("stride", stride, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"read_frames: {name} must be an integer >= {least}, got {value!r}")
    start, count, stride = int(start), int(count), int(stride)
    try:
        orientation = _file_orientation(av, path)
        if start > 0:
            try:
                return _read_after_seek(av, path, start, count, stride, orientation)
            except _SeekUnreliable:
                pass
        return _read_from_beginning(av, path, start, count, stride, orientation)
    except (VideoReadError, FileNotFoundError):
        raise
    except (av.FFmpegError, OSError) as e:
        raise VideoReadError(f"cannot decode video {path!r}: {_reason(e)}") from e


def iter_frames(path: str | os.PathLike, chunk_frames: int = 16,
                max_frames: int | None = None) -> Iterator[torch.Tensor]:
    """Decode ``path`` from the beginning, yielding uint8 RGB chunks ``(n, H, W, 3)`` of
    ``chunk_frames`` frames each (the last one can be shorter), up to ``max_frames`` frames
    (all of them when None).

    The frames are the ones ``read_frames(path, 0, N)`` gives, and only one chunk is held at a
    time, so a video of any length streams in constant memory (each chunk is a new tensor: keep
    it as long as needed). The file is opened, and the arguments checked, when this is called:
    ``VideoReadError`` (naming the file) when it cannot be opened or has no video stream,
    ``FileNotFoundError`` when it does not exist; a decoding failure or a frame size change
    further on raises ``VideoReadError`` from the iteration. Leaving the loop early (or
    dropping the iterator) closes the file."""
    av = _import_av()
    path = os.fspath(path)
    for name, value, allow_none in (("chunk_frames", chunk_frames, False),
                                    ("max_frames", max_frames, True)):
        if value is None and allow_none:
            continue
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"iter_frames: {name} must be an integer >= 1"
                             f"{' or None' if allow_none else ''}, got {value!r}")
    orientation = _file_orientation(av, path)
    container, stream = _open_input(av, path)
    return _decode_chunks(av, path, container, stream, int(chunk_frames),
                          None if max_frames is None else int(max_frames), orientation)


def _decode_chunks(av, path: str, container, stream, chunk_frames: int,
                   max_frames: int | None, orientation: tuple[int, bool]) -> Iterator[torch.Tensor]:
    with container:
        decoded = container.decode(stream)
        shape: tuple[int, ...] | None = None  # of every frame, fixed by the first one
        chunk: np.ndarray | None = None
        filled = total = 0
        while max_frames is None or total < max_frames:
            try:
                frame = next(decoded, None)
                if frame is None:
                    break
                rgb = _to_rgb(frame, orientation)
            except (av.FFmpegError, OSError) as e:
                raise VideoReadError(f"cannot decode video {path!r}: {_reason(e)}") from e
            if shape is None:
                shape = rgb.shape
            elif rgb.shape != shape:
                raise VideoReadError(f"{path!r}: the frame size changes at frame {total} "
                                     f"({shape} before, {rgb.shape} there)")
            if chunk is None:  # a fresh array per chunk: the caller may keep the last one
                left = chunk_frames if max_frames is None else max_frames - total
                chunk = np.empty((min(chunk_frames, left), *shape), np.uint8)
            chunk[filled] = rgb
            filled, total = filled + 1, total + 1
            if filled == len(chunk):
                out, chunk, filled = chunk, None, 0
                yield torch.from_numpy(out)
        if chunk is not None:
            yield torch.from_numpy(chunk[:filled])


def _as_frames(frames, who: str = "write_video", single: bool = False) -> np.ndarray:
    """``frames`` as a contiguous uint8 array ``(T, H, W, 3)``; with ``single`` a frame
    ``(H, W, 3)`` is taken as one frame and ``T == 0`` is allowed."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if single and frames.ndim == 3:
        frames = frames[None]
    if (frames.ndim != 4 or frames.shape[-1] != 3
            or 0 in frames.shape[1 if single else 0:]):
        expected = "(T, H, W, 3) or (H, W, 3)" if single else "(T, H, W, 3)"
        raise ValueError(f"{who}: expected frames of shape {expected} with "
                         f"{'H, W' if single else 'T, H, W'} > 0, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise TypeError(f"{who}: expected uint8 frames (0..255), got {frames.dtype}; "
                        f"convert float videos with bootvid.tokenizer.video_to_frames")
    return np.ascontiguousarray(frames)


def _encoder(av, codec: str):
    try:
        return av.Codec(codec, "w")
    except Exception:  # av raises UnknownCodecError (a ValueError) or FFmpegError
        return None


# Default quality (lower is better) when ``crf`` is not given: visually near-lossless.
_CRF_OPTIONS = {"libx264": ("crf", 18), "libx265": ("crf", 20), "libvpx-vp9": ("crf", 30),
                "libaom-av1": ("crf", 30), "libsvtav1": ("crf", 30)}
_QSCALE_CODECS = {"mpeg4", "mjpeg", "msmpeg4", "msmpeg4v2", "mpeg2video", "mpeg1video", "h263"}


class VideoWriter:
    """Write a video chunk by chunk of frames, in constant memory::

        with VideoWriter("out.mp4", fps=25) as writer:
            for chunk in iter_frames("in.mp4"):
                writer.write(chunk)          # uint8 (n, H, W, 3), or one (H, W, 3) frame

    The file is written under a temporary (hidden) name in the same directory, created at the
    first ``write``, and ``close()`` (the end of the ``with`` block) flushes the encoder and
    renames it onto ``path``. An exception inside the ``with`` block, or ``abort()``, deletes
    the temporary file instead: no file appears at ``path``, and a file already there is left
    as it was (as it is by any failed write). Closing a writer that got no frames raises
    ``ValueError`` and writes no file. A writer dropped unclosed is aborted.

    The container comes from the extension. ``codec="libx264"`` falls back to ``"mpeg4"``
    (with a warning) where this ffmpeg lacks libx264; ``codec`` then names the encoder used
    (``"h264"`` becomes ``"libx264"``). ``crf`` is the codec's quality knob, lower is better:
    CRF for libx264 (default 18) / libvpx-vp9 (default 30), qscale 1-31 for mpeg4 / mjpeg
    (default 3). ``pixel_format`` defaults to yuv420p where the codec has it. Chroma-subsampled
    formats such as yuv420p need even sizes, so an odd height or width is padded by one pixel,
    replicating the last row / column (the file is then one pixel larger); pass
    ``pixel_format="yuv444p"`` to keep odd sizes exact. ``gop_size`` is the keyframe interval;
    ``options`` go to the encoder as is. Arguments are checked here, encoder options when the
    first frames are encoded.

    The first frames fix the frame size; ``write`` raises ``ValueError`` for frames of another
    size, or of the wrong shape or dtype, and the writer stays usable. A failure of the encoder
    itself aborts the writer and raises ``ValueError`` naming the file, codec and options.
    ``frames_written`` counts the frames written so far."""

    def __init__(self, path: str | os.PathLike, fps: float, codec: str = "libx264",
                 crf: int | None = None, *, pixel_format: str | None = None,
                 gop_size: int | None = None, options: dict[str, str] | None = None):
        self._setup("VideoWriter", path, fps, codec, crf, pixel_format, gop_size, options)

    def _setup(self, who: str, path, fps, codec, crf, pixel_format, gop_size, options):
        # ``who`` names the public caller in messages; warnings point two frames up from here.
        self._done = True  # until the checks below pass: nothing to clean up
        self._tmp: str | None = None
        self._container = self._stream = None
        self._size: tuple[int, int] | None = None  # (height, width), fixed by the first frames
        self._who = who
        self._av = av = _import_av()
        self.path = path = os.fspath(path)
        self.frames_written = 0
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"{who}: fps must be a positive number, got {fps!r}")
        encoder = _encoder(av, codec)
        if encoder is None and codec == "libx264":
            warnings.warn(f"{who}: this ffmpeg has no libx264 encoder; writing mpeg4 instead",
                          stacklevel=3)
            codec, encoder = "mpeg4", _encoder(av, "mpeg4")
        if encoder is None:
            raise ValueError(f"{who}: ffmpeg (PyAV) has no {codec!r} encoder")
        codec = encoder.name  # "h264" -> "libx264", "vp9" -> "libvpx-vp9"
        supported = [f.name for f in (encoder.video_formats or ())]
        if pixel_format is None:
            # Full-range JPEG formats come first where a codec (mjpeg) rejects limited-range yuv.
            pixel_format = ("yuv420p" if not supported or "yuv420p" in supported
                            and not supported[0].startswith("yuvj") else supported[0])
        elif supported and pixel_format not in supported:
            raise ValueError(f"{who}: codec {codec!r} does not support pixel format "
                             f"{pixel_format!r}; it supports {supported}")
        # Odd sizes are padded for subsampled chroma (a 3x3 frame's chroma plane is not 3x3).
        planes = av.VideoFormat(pixel_format, 3, 3).components
        self._pad_odd = (any(c.height != 3 for c in planes), any(c.width != 3 for c in planes))

        opts = dict(options or {})
        if codec in _CRF_OPTIONS:
            key, default = _CRF_OPTIONS[codec]
            opts.setdefault(key, str(crf if crf is not None else default))
            if codec == "libvpx-vp9":
                opts.setdefault("b", "0")  # constant quality needs a zero target bitrate
        elif codec in _QSCALE_CODECS:
            q = crf if crf is not None else 3
            if not 1 <= q <= 31:
                raise ValueError(f"{who}: qscale for {codec!r} must be in 1..31, got {q}")
            # ffmpeg's -q:v: a fixed quantiser, in lambda units (FF_QP2LAMBDA = 118).
            opts.setdefault("flags", "+qscale")
            opts.setdefault("global_quality", str(q * 118))
        elif crf is not None:
            raise ValueError(f"{who}: crf is not supported for codec {codec!r}; "
                             f"pass encoder options instead")
        self.fps, self.codec, self.pixel_format, self.options = fps, codec, pixel_format, opts
        self._gop_size = gop_size
        self._done = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        try:
            self.abort()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    @property
    def written_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the frames in the file (None before the first frames): the
        frames' size, or one pixel more where the pixel format needs even sizes."""
        if self._size is None:
            return None
        h, w = (n + (n % 2 if pad else 0) for n, pad in zip(self._size, self._pad_odd))
        return w, h

    def write(self, frames) -> None:
        """Encode uint8 RGB frames ``(n, H, W, 3)`` (tensor or array) or one frame
        ``(H, W, 3)``."""
        who = "VideoWriter.write"  # write_video checks its frames before they come here
        if self._done:
            raise ValueError(f"{who}: the writer of {self.path!r} is closed")
        frames = _as_frames(frames, who, single=True)
        size = frames.shape[1:3]
        if self._size is not None and size != self._size:
            raise ValueError(f"{who}: frames of {size[1]}x{size[0]} (width x height) after "
                             f"frames of {self._size[1]}x{self._size[0]}; the frame size of a "
                             f"video is fixed by its first frames")
        if not len(frames):
            return
        self._size = size
        pad_h, pad_w = (n % 2 if pad else 0 for n, pad in zip(size, self._pad_odd))
        if pad_h or pad_w:
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        with self._aborting_on_error():
            if self._container is None:
                self._open(frames.shape[2], frames.shape[1])
            for rgb in frames:
                frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
        self.frames_written += len(frames)

    def close(self) -> None:
        """Flush the encoder and rename the file onto ``path`` (nothing when already closed
        or aborted). Raises ``ValueError`` when no frames were written (no file is made)."""
        if self._done:
            return
        if self._container is None:
            self._done = True
            raise ValueError(f"{self._who}: no frames written; {self.path!r} was not created")
        with self._aborting_on_error():
            for packet in self._stream.encode(None):  # flush delayed frames
                self._container.mux(packet)
            container, self._container = self._container, None
            container.close()
            os.chmod(self._tmp, new_file_mode())  # mkstemp's 0600 would make it private
            os.replace(self._tmp, self.path)
        self._tmp, self._done = None, True

    def abort(self) -> None:
        """Stop without writing ``path``: the temporary file is deleted (nothing when already
        closed or aborted)."""
        self._done = True
        container, self._container = self._container, None
        tmp, self._tmp = self._tmp, None
        try:
            if container is not None:
                container.close()
        except Exception:  # the file is deleted below anyway
            pass
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

    def _open(self, width: int, height: int) -> None:
        directory = os.path.dirname(self.path) or "."
        base, ext = os.path.splitext(os.path.basename(self.path))
        # Same extension, so the container format is still chosen from it; hidden, so a
        # left-over temporary file from a killed process is not picked up by find_videos.
        fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}",
                                         dir=directory)
        os.close(fd)
        self._container = self._av.open(self._tmp, "w")
        self._stream = stream = self._container.add_stream(
            self.codec, rate=Fraction(self.fps).limit_denominator(100_000),
            options=self.options)
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pixel_format
        if self._gop_size is not None:
            stream.codec_context.gop_size = int(self._gop_size)

    @contextlib.contextmanager
    def _aborting_on_error(self):
        try:
            yield
        except BaseException as e:
            self.abort()
            if isinstance(e, self._av.FFmpegError):
                raise ValueError(f"{self._who}: cannot write {self.path!r} with codec "
                                 f"{self.codec!r}, pixel format {self.pixel_format!r}, "
                                 f"options {self.options}: {e}") from e
            raise


def write_video(path: str | os.PathLike, frames, fps: float, codec: str = "libx264",
                crf: int | None = None, *, pixel_format: str | None = None,
                gop_size: int | None = None, options: dict[str, str] | None = None) -> str:
    """Write uint8 frames ``(T, H, W, 3)`` (tensor or array, RGB) to ``path``; returns the codec
    used.

    The arguments are those of ``VideoWriter`` (codec fallback, quality, pixel format, odd-size
    padding), which writes the frames here: under a temporary (hidden) name in the same
    directory, renamed at the end, so a failed write leaves no partial file behind."""
    frames = _as_frames(frames)
    writer = VideoWriter.__new__(VideoWriter)
    writer._setup("write_video", path, fps, codec, crf, pixel_format, gop_size, options)
    with writer:
        writer.write(frames)
    return writer.codec


def find_videos(paths: str | os.PathLike | Iterable[str | os.PathLike],
                extensions: Iterable[str] = VIDEO_EXTENSIONS) -> list[str]:
    """Video files under ``paths`` (a path or a list of them).

    A folder is searched recursively (following symlinks; hidden files and folders skipped)
    for files whose lower-cased extension is in ``extensions``, in sorted order; a file named
    directly is taken whatever its extension. Duplicates are dropped, the order kept.
    Raises ``FileNotFoundError`` naming a path that does not exist, ``ValueError`` naming a
    folder that holds no video file."""
    return find_media(paths, extensions, "video")


def find_media(paths: str | os.PathLike | Iterable[str | os.PathLike],
               extensions: Iterable[str], kind: str) -> list[str]:
    """:func:`find_videos` for any kind of file (``kind`` names it in errors: "image")."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    caller = f"find_{kind}s"
    if not paths:
        raise ValueError(f"{caller}: no paths given")
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    found: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            found.append(p)
        elif os.path.isdir(p):
            in_dir = _walk(p, exts)
            if not in_dir:
                raise ValueError(f"{caller}: no {kind} files in folder {p!r} (searched "
                                 f"recursively for extensions {' '.join(exts)})")
            found.extend(in_dir)
        else:
            raise FileNotFoundError(f"{caller}: {p!r} does not exist")
    return list(dict.fromkeys(found))


def _walk(root: str, exts: tuple[str, ...]) -> list[str]:
    out, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.extend(os.path.join(dirpath, f) for f in filenames
                   if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts)
    return sorted(out)
