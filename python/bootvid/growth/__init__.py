"""ProMAG's progressive growing (Stage II/III): higher temporal compression bootstrapped on a
frozen lower tokenizer.

>>> from bootvid.growth import grow
>>> tok8 = grow(tok4)                      # 8x time, same space and latent channels
>>> opt = torch.optim.Adam(tok8.trainable_parameters(), lr=1e-4)
>>> tok16 = grow(tok8, mixing="channel_scale")
>>> tok16.save_pretrained(d); VideoTokenizer.from_pretrained(d)  # rebuilds the nested model
"""

from .mixing import DEFAULT_MIXING, MIXING_MODES, FeatureMixing
from .model import GROWTH_FACTORS, GrownTokenizer, from_config, grow
from .stages import GrownDecoder, GrownEncoder, encoder_features

__all__ = [
    "DEFAULT_MIXING",
    "FeatureMixing",
    "GROWTH_FACTORS",
    "GrownDecoder",
    "GrownEncoder",
    "GrownTokenizer",
    "MIXING_MODES",
    "encoder_features",
    "from_config",
    "grow",
]
