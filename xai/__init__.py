"""xai: explanation methods for Keras image classifiers, black-box ones for any function of images
(xai.predict); never imports experiments.

    from xai import explain
    maps = explain(model, images, "gradcam", target="predicted")   # (N, H, W) in [0, 1]

The names below load their modules (and Keras) when first used, so `xai.methods`, the registry
of methods, can be read without loading Keras (experiments.config reads it; experiments.models
loads Keras itself, quietly).
"""

import sys
import types
from importlib import import_module

_EXPORTS = {
    "CAM_METHODS": "xai.explain",
    "GRADIENT_METHODS": "xai.explain",
    "METHODS": "xai.explain",
    "cascading_randomisation": "xai.sanity",
    "deletion_insertion": "xai.faithfulness",
    "explain": "xai.explain",
    "logit_model": "xai.explain",
    "overlay": "xai.overlay",
    "similarity": "xai.similarity",
}

__all__ = sorted(_EXPORTS)


class _Package(types.ModuleType):
    """The package's module object: an exported name loads its module on first use, and stays the
    function when a submodule of the same name loads (`xai.explain`, `xai.overlay`), as it was
    when this file imported them eagerly."""

    def __getattr__(self, name: str):
        if name not in _EXPORTS:
            raise AttributeError(f"module 'xai' has no attribute {name!r}")
        return getattr(import_module(_EXPORTS[name]), name)

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the import system binding the submodule: the exported function keeps the name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
