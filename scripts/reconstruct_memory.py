"""Peak memory of `bootvid reconstruct` against video length: runs it in child processes on the
first N frames of one video for each N and prints each child's peak RSS.

    python scripts/reconstruct_memory.py --model DIR --video ../shared/data/videos/vtest.avi \\
        --size 256 --frames 33 795

Streaming keeps memory flat: the longest run should stay within ~20% of the shortest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"reconstruct_memory: {' '.join(cmd)} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--chunk-frames", type=int, default=16)
    ap.add_argument("--frames", type=int, nargs="+", default=[33, 795])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            cmd = [sys.executable, "-m", "bootvid.cli.main", "reconstruct", "--model",
                   args.model, args.video, os.path.join(tmp, f"r{n}.mp4"), "--size",
                   str(args.size), "--max-frames", str(n), "--chunk-frames",
                   str(args.chunk_frames), "--no-progress"]
            rss, sec = peak_rss_mib(cmd)
            rows.append((n, rss, sec))
            print(f"{n:6d} frames: peak RSS {rss:8.1f} MiB, {sec:7.1f} s", flush=True)
    print(f"ratio longest/shortest: {rows[-1][1] / rows[0][1]:.3f}")


if __name__ == "__main__":
    main()
