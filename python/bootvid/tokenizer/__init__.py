"""bootvid's causal video tokenizer (ProMAG Stage I: MagViT-v2 architecture, KL latent).

>>> from bootvid.tokenizer import VideoTokenizer, TokenizerConfig
>>> tok = VideoTokenizer(TokenizerConfig.preset("tiny")).eval()
>>> post = tok.encode(video)                      # (B, 3, T, H, W) in [-1, 1]
>>> recon = tok.decode(post.mode(), num_frames=video.shape[2])
>>> post = tok.encode(long_video, chunk_frames=16)  # streamed: same result, constant memory
"""

from .config import TokenizerConfig
from .model import TokenizerOutput, VideoTokenizer
from .persistence import CheckpointError, read_config
from .posterior import DiagonalGaussian
from .streaming import (
    StreamDecoder,
    StreamEncoder,
    decode_latents,
    encode_chunk_sizes,
    encode_video,
    reconstruct_video,
    stream_reconstruct,
)
from .transfer import TransferReport, init_from_lower
from .video import frames_to_video, synthetic_video, video_to_frames

__all__ = [
    "CheckpointError",
    "DiagonalGaussian",
    "StreamDecoder",
    "StreamEncoder",
    "TokenizerConfig",
    "TokenizerOutput",
    "TransferReport",
    "VideoTokenizer",
    "decode_latents",
    "encode_chunk_sizes",
    "encode_video",
    "frames_to_video",
    "init_from_lower",
    "read_config",
    "reconstruct_video",
    "stream_reconstruct",
    "synthetic_video",
    "video_to_frames",
]
