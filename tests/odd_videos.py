"""Writers of valid but unusual video files for the tests: a display matrix (rotation /
mirror metadata, as phones write) and variable frame rates. Imported as ``odd_videos``
(tests/ is on sys.path)."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest


def write_with_display_matrix(path, frames, degrees, hflip=False, vflip=False):
    """An mp4 (libx264, keyframe every 4 frames) whose display matrix is set as PyAV / ffmpeg
    define it: a counterclockwise rotation, then the mirrors."""
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip(f"PyAV {av.__version__} cannot write a display matrix (needs PyAV >= 18)")
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=12, options={"qp": "0"})
    s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
    s.codec_context.gop_size = 4
    s.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
    for f in frames:
        for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    return str(path)


def write_variable_rate(path, frames, gaps_ms, gop=4):
    """An mp4 / mkv whose frame i is shown at sum(gaps_ms[:i]) milliseconds (irregular)."""
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=30, options={"qp": "0"})
    s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
    s.codec_context.gop_size = gop
    s.time_base = Fraction(1, 1000)
    s.codec_context.time_base = Fraction(1, 1000)
    pts = 0
    for f, gap in zip(frames, gaps_ms):
        frame = av.VideoFrame.from_ndarray(f, format="rgb24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for p in s.encode(frame):
            c.mux(p)
        pts += gap
    for p in s.encode():
        c.mux(p)
    c.close()
    return str(path)
