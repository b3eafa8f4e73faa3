"""Initialising a tokenizer from another one's weights (ProMAG's "direct extension" baseline:
a from-scratch 8x/16x tokenizer started from a trained 4x one where the shapes allow)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .model import VideoTokenizer


@dataclass
class TransferReport:
    """What :func:`init_from_lower` did, by state-dict key."""

    copied: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)  # same name, other shape: left as is
    missing: list[str] = field(default_factory=list)  # not in the source: left as is

    def __str__(self) -> str:
        return (f"copied {len(self.copied)} tensors; kept {len(self.shape_mismatch)} of other "
                f"shapes ({', '.join(self.shape_mismatch[:4])}"
                f"{', ...' if len(self.shape_mismatch) > 4 else ''}) and {len(self.missing)} "
                "absent from the source at their initialisation")


@torch.no_grad()
def init_from_lower(tok: VideoTokenizer, source: VideoTokenizer) -> TransferReport:
    """Copy into ``tok`` every parameter and buffer of ``source`` with the same name and shape.

    A direct 8x tokenizer is the 4x architecture with one more temporal stride: everything
    transfers but the decoder's upsampling conv that gains the temporal factor (its output
    channels double). At 16x the stride-4 step's kernel and two upsampling convs also keep
    their fresh initialisation. Both models must be plain (not grown) tokenizers.
    """
    for name, t in (("tok", tok), ("source", source)):
        if not isinstance(t, VideoTokenizer) or t.config.growth:
            raise TypeError(f"init_from_lower: {name} must be a plain VideoTokenizer (not grown), "
                            f"got {type(t).__name__}")
    if tok.latent_channels != source.latent_channels:
        raise ValueError(f"init_from_lower: latent channels differ ({tok.latent_channels} vs "
                         f"{source.latent_channels}); transfer between tokenizers of one latent "
                         "width")
    src = source.state_dict()
    report = TransferReport()
    for key, value in tok.state_dict().items():
        if key not in src:
            report.missing.append(key)
        elif src[key].shape != value.shape:
            report.shape_mismatch.append(key)
        else:
            value.copy_(src[key])
            report.copied.append(key)
    return report
