"""Training data: video file I/O, clip datasets and their augmentation.

Every dataset item is a float32 clip ``(3, T, H, W)`` in [-1, 1] (a DataLoader batch is the
tokenizer's ``(B, 3, T, H, W)``), and a deterministic function of ``(seed, index)``: the same
in every DataLoader worker and run::

    from torch.utils.data import DataLoader
    from bootvid.data import SyntheticVideoDataset, VideoFolderDataset

    data = VideoFolderDataset(["videos/"], frames=17, size=128, frame_stride=2)
    # or, with no files at hand: SyntheticVideoDataset(frames=17, size=128)
    # or a camera moving over photos: StillMotionDataset("photos/", frames=17, size=128)
    # or several at once, a quarter of the items single frames, batched by length:
    #   mixed = MixedDataset([data, stills], weights=[1, 1], image_ratio=0.25)
    #   DataLoader(mixed, batch_size=8, collate_fn=collate_by_length)  # [(positions, clips)]
    loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=4)
    for video in loader:  # (8, 3, 17, 128, 128)
        ...

    from bootvid.data import read_frames, write_video, probe_video
    frames = read_frames("clip.mp4", start=100, count=17)   # uint8 (17, H, W, 3)
    write_video("out.mp4", frames, fps=probe_video("clip.mp4").fps)

    # Any length in constant memory: decode and encode a chunk of frames at a time.
    from bootvid.data import VideoWriter, iter_frames
    with VideoWriter("copy.mp4", fps=probe_video("clip.mp4").fps) as writer:
        for chunk in iter_frames("clip.mp4", chunk_frames=16):   # uint8 (<=16, H, W, 3)
            writer.write(chunk)

File I/O needs PyAV (``pip install av``), imported only when a file is read or written.
"""

from .folder import VideoFolderDataset
from .mixed import MixedDataset, collate_by_length
from .seeding import item_generator
from .stills import IMAGE_EXTENSIONS, CameraPath, StillClip, StillMotionDataset, find_images
from .synthetic import SyntheticVideoDataset
from .cuts import CutDetector, detect_cuts
from .transforms import center_crop_resize, random_resized_crop
from .video_io import (VIDEO_EXTENSIONS, VideoInfo, VideoReadError, VideoWriter, find_videos,
                       iter_frames, probe_video, read_frames, write_video)

__all__ = [
    "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "CameraPath", "CutDetector", "MixedDataset",
    "StillClip",
    "StillMotionDataset", "SyntheticVideoDataset", "VideoFolderDataset", "VideoInfo",
    "VideoReadError", "VideoWriter", "center_crop_resize", "collate_by_length", "find_images",
    "find_videos", "item_generator", "iter_frames", "probe_video", "random_resized_crop",
    "read_frames", "write_video", "detect_cuts",
]
