"""xai: explanation methods for Keras image classifiers (never imports experiments).

    from xai import explain
    maps = explain(model, images, "gradcam", target="predicted")   # (N, H, W) in [0, 1]
"""

from xai.explain import CAM_METHODS, GRADIENT_METHODS, METHODS, explain, logit_model

__all__ = ["CAM_METHODS", "GRADIENT_METHODS", "METHODS", "explain", "logit_model"]
