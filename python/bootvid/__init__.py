"""bootvid: causal video tokenizers with high temporal compression, grown progressively.

Importing bootvid is light: it loads torch and the compiled ops (``bootvid.ops``); the
tokenizer, training and evaluation modules are imported when used.
"""

__version__ = "0.1.0"

from . import ops  # noqa: E402  (registers the ops and their autograd/fake kernels)

__all__ = ["ops", "__version__"]
