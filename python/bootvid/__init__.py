"""bootvid: causal video tokenizers with high temporal compression, grown progressively.

Importing bootvid is light: it loads torch and the compiled ops (``bootvid.ops``); the
tokenizer, training and evaluation modules are imported when used.
"""

__version__ = "0.1.0"

from . import ops  # noqa: E402  (registers the ops and their autograd/fake kernels)

__all__ = ["ops", "nn", "tokenizer", "growth", "data", "train", "eval", "experiment",
           "VideoTokenizer", "TokenizerConfig", "grow", "__version__"]

# Imported on first use, so `import bootvid` stays light.
_LAZY_MODULES = {"nn", "tokenizer", "growth", "data", "train", "eval", "experiment"}
_LAZY_ATTRS = {"VideoTokenizer": "tokenizer", "TokenizerConfig": "tokenizer", "grow": "growth"}


def __getattr__(name: str):
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(f".{_LAZY_ATTRS[name]}", __name__), name)
    raise AttributeError(f"module 'bootvid' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRS))
