"""The attribution methods, one small class each, in one registry (`REGISTRY`, name -> method).

Each method has a `name`, a `family` (gradient, cam, perturbation, baseline), whether its raw maps
are `signed`, whether it `needs_gradients` (the model's gradients and layers: only a Keras model
has them; the others read class probabilities only and explain any callable of images, see
xai.predict; `refusal` says in one line why a gradient method cannot run), and an `Options`
model: a strict pydantic model of the knobs it takes, with their defaults and bounds. An option a
method does not take is an error naming the option and the method (`options_for`); nothing is
silently ignored. `compute` returns the method's own values (N, H, W) for resolved targets;
`xai.explain.explain` is the one entry point that calls it.

This module imports neither Keras nor TensorFlow: the run's configuration reads the method names
from here (experiments.config) without loading them. `compute` imports the computations
(xai.attributions, xai.lime_explain, xai.blackbox) when it first runs.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BATCH_SIZE = 256  # images per compiled pass (xai.compiled.BATCH_SIZE)


class Options(BaseModel):
    """Base of every method's options: unknown names are refused, values checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False)


class BatchOptions(Options):
    batch_size: Annotated[int, Field(ge=1)] = BATCH_SIZE  # images per model pass


class SmoothGradOptions(BatchOptions):
    smooth_samples: Annotated[int, Field(ge=1, le=1000)] = 20  # noisy copies averaged
    smooth_noise: Annotated[float, Field(ge=0, le=1)] = 0.2  # noise sd, as a fraction of the image's value range


class CamOptions(BatchOptions):
    layer: str | None = None  # the convolution explained (default: the last Conv2D)


class FasterScoreCamOptions(CamOptions):
    max_n: Annotated[int, Field(ge=1)] = 10  # channels kept (those with the largest variance)


class LimeOptions(BatchOptions):
    num_samples: Annotated[int, Field(ge=1)] = 1000  # perturbed copies per image
    segments: list[np.ndarray] | None = None  # per image, superpixel labels at model resolution
    display_size: Annotated[int, Field(ge=8, le=4096)] = 256  # without segments: SLIC on a copy this big
    n_segments: Annotated[int, Field(ge=2)] = 50  # without segments: superpixels asked of SLIC


PixelsOrFraction = Annotated[int, Field(ge=1)] | Annotated[float, Field(gt=0, le=1)]


class OcclusionOptions(BatchOptions):
    patch: PixelsOrFraction = 0.25  # side of the square patch: pixels (int) or a fraction of each side (float)
    stride: PixelsOrFraction | None = None  # step between patches, as `patch`; None: half the patch
    fill: Literal["mean"] | Annotated[float, Field(ge=0, le=1)] = "mean"  # the patch's value; mean: the image's colour


class RiseOptions(BatchOptions):
    num_masks: Annotated[int, Field(ge=1, le=100_000)] = 1000  # random masks (Petsiuk et al. used 4000 at 224 px)
    cells: Annotated[int, Field(ge=2, le=64)] = 8  # each mask's grid is cells x cells before upsampling
    p1: Annotated[float, Field(gt=0, le=1)] = 0.5  # chance that a grid cell keeps its pixels

    @model_validator(mode="after")
    def _masks_vary(self):
        if self.p1 == 1:
            raise ValueError("p1 = 1 keeps every pixel in every mask: the map would be flat")
        return self


class Method:
    """One attribution method. `compute(model, images, targets, seed, options, rescale)`: its
    own maps (N, H, W) of float32 `images` for one class index per image."""

    name: ClassVar[str]
    family: ClassVar[str]
    signed: ClassVar[bool] = False  # raw maps above 0 for the target, below 0 against it
    needs_gradients: ClassVar[bool] = True  # False: class probabilities are all it reads (any callable model)
    Options: ClassVar[type[Options]] = Options

    def compute(self, model, images: np.ndarray, targets: list[int], seed: int, options, rescale: bool) -> np.ndarray:
        raise NotImplementedError


class Saliency(Method):
    name, family, Options = "saliency", "gradient", BatchOptions

    def compute(self, model, images, targets, seed, options, rescale):
        from xai import attributions as at

        logits = at.logit_model(model)
        layer = at.layer_index(model, logits, None)
        smooth = isinstance(options, SmoothGradOptions)
        samples, noise = (options.smooth_samples, options.smooth_noise) if smooth else (0, 0.2)
        return at.saliency(logits, layer, images, targets, samples, noise, seed, rescale, options.batch_size)


class SmoothGrad(Saliency):
    name, Options = "smoothgrad", SmoothGradOptions


class _Cam(Method):
    """The class activation maps: the chosen convolution's output weighted per channel, zoomed to
    the input size."""

    family, Options = "cam", CamOptions

    def compute(self, model, images, targets, seed, options, rescale):
        from xai import attributions as at

        logits = at.logit_model(model)
        layer = at.layer_index(model, logits, options.layer)
        if layer is None:
            at.last_conv_layer(model)  # raises: CAM methods need a Conv2D layer
        return self.cam(logits, layer, images, targets, seed, options, rescale)

    def cam(self, logits, layer, images, targets, seed, options, rescale) -> np.ndarray:
        """Grad-CAM, Grad-CAM++ and LayerCAM: weights from the gradient of the target's logit."""
        from xai import attributions as at, compiled

        out, _, a, grads = compiled.gradients(logits, layer, images, np.asarray(targets), options.batch_size)
        return at.expand(at.grad_cam(self.name, a, grads, out[np.arange(len(images)), targets]), images, rescale)


class GradCam(_Cam):
    name = "gradcam"


class GradCamPlusPlus(_Cam):
    name = "gradcam++"


class LayerCam(_Cam):
    name = "layercam"


class ScoreCam(_Cam):
    name = "scorecam"

    def cam(self, logits, layer, images, targets, seed, options, rescale):
        from xai import attributions as at

        return at.expand(at.score_cam(logits, images, targets, layer, options.batch_size), images, rescale)


class FasterScoreCam(_Cam):
    name, Options = "faster_scorecam", FasterScoreCamOptions

    def cam(self, logits, layer, images, targets, seed, options, rescale):
        import keras

        from xai import attributions as at

        # its sampling reads the global generators. Seeding TensorFlow's clears its kernel caches
        # (the next compiled calls are slow), so only this method does it.
        keras.utils.set_random_seed(seed)
        name = logits.layers[layer].name
        return at.faster_score_cam(logits, images, targets, name, options.max_n, rescale, options.batch_size)


class Lime(Method):
    name, family, signed, Options = "lime", "perturbation", True, LimeOptions
    needs_gradients = False

    def compute(self, model, images, targets, seed, options, rescale):
        from xai.lime_explain import lime_maps

        given = {k: getattr(options, k) for k in type(options).model_fields}
        return lime_maps(model, images, targets, seed=seed, **given)


class Occlusion(Method):
    """Occlusion sensitivity: the drop in the target's probability under a sliding patch (xai.blackbox)."""

    name, family, signed, Options = "occlusion", "perturbation", True, OcclusionOptions
    needs_gradients = False

    def compute(self, model, images, targets, seed, options, rescale):
        from xai.blackbox import occlusion_maps

        given = {k: getattr(options, k) for k in type(options).model_fields}
        return occlusion_maps(model, images, targets, **given)


class Rise(Method):
    """RISE: the target's probability averaged over seeded random masks (xai.blackbox)."""

    name, family, Options = "rise", "perturbation", RiseOptions
    needs_gradients = False

    def compute(self, model, images, targets, seed, options, rescale):
        from xai.blackbox import rise_maps

        given = {k: getattr(options, k) for k in type(options).model_fields}
        return rise_maps(model, images, targets, seed=seed, **given)


class Random(Method):
    """Seeded uniform noise: the floor any method must beat in faithfulness."""

    name, family = "random", "baseline"
    needs_gradients = False

    def compute(self, model, images, targets, seed, options, rescale):
        return np.random.default_rng(seed).random(images.shape[:3])


_CLASSES = (
    Saliency, SmoothGrad, GradCam, GradCamPlusPlus, ScoreCam, FasterScoreCam, LayerCam, Lime, Occlusion, Rise, Random,
)  # fmt: skip
REGISTRY: dict[str, Method] = {m.name: m() for m in _CLASSES}
NAMES = tuple(REGISTRY)
BLACK_BOX = tuple(n for n, m in REGISTRY.items() if not m.needs_gradients and m.family != "baseline")


def method(name: str) -> Method:
    """The registered method called `name`; a ValueError listing the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(NAMES)})")
    return REGISTRY[name]


def options_for(name: str, options: dict[str, object]) -> Options:
    """`options` checked against the method's Options: one ValueError naming the method and the
    first unknown or bad option."""
    entry = method(name)
    try:
        return entry.Options(**options)
    except ValidationError as e:
        err = e.errors()[0]
        option = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(entry.Options.model_fields) or "none"
            raise ValueError(f"{name}: unknown option {option!r} (known: {known})") from None
        raise ValueError(f"{name}: option {option!r}: {err['msg']}") from None


def refusal(name: str, differentiable: bool, kind: str = "black-box") -> str | None:
    """None when method `name` can explain the model; else one line saying why not: a method that
    needs gradients and layers, and a model (a `kind` detector: onnx, embedding, ...) that gives
    only its outputs."""
    if differentiable or not method(name).needs_gradients:
        return None
    *first, last = BLACK_BOX
    return (
        f"{name} needs the model's gradients and layers; {kind} detectors give only outputs: "
        f"use {', '.join(first)} or {last}"
    )
