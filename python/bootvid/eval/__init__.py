"""Judging and using a tokenizer on real videos: the fixed evaluation protocol (PSNR, SSIM),
plots, and streamed file reconstruction / encoding / decoding.

>>> from bootvid.eval import evaluate, reconstruct_file
>>> summary = evaluate(tok, ["clip.mp4"], frames=33, size=128)   # bootvid eval
>>> reconstruct_file(tok, "long.mp4", "recon.mp4", side_by_side=True)  # bootvid reconstruct
"""

from .codec import LatentMismatchError, decode_file, encode_file, read_latents, reconstruct_file
from .metrics import psnr, psnr_per_frame, ssim, ssim_per_frame
from .protocol import evaluate, evaluate_video, format_table, load_reference

__all__ = ["LatentMismatchError", "decode_file", "encode_file", "evaluate", "evaluate_video",
           "format_table", "load_reference", "psnr", "psnr_per_frame", "read_latents",
           "reconstruct_file", "ssim", "ssim_per_frame"]
