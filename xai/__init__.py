"""xai: explanation methods for Keras image classifiers (never imports experiments).

    from xai import explain
    maps = explain(model, images, "gradcam", target="predicted")   # (N, H, W) in [0, 1]
"""

from xai.explain import CAM_METHODS, GRADIENT_METHODS, METHODS, explain, logit_model
from xai.faithfulness import deletion_insertion
from xai.overlay import overlay
from xai.sanity import cascading_randomisation
from xai.similarity import similarity

__all__ = [
    "CAM_METHODS",
    "GRADIENT_METHODS",
    "METHODS",
    "cascading_randomisation",
    "deletion_insertion",
    "explain",
    "logit_model",
    "overlay",
    "similarity",
]
