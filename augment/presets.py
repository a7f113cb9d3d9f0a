"""Presets: named laundering pipelines, the edits an image meets on its way around the web, each
a fixed list of steps (the form of a `combined` entry).

    presets: [social_repost, screenshot_share]     # or `presets: all`

A preset is a variant `preset(<name>: <step> + <step> ...)` with op `preset`, no severity, and
params {preset, steps} (the steps' ids). docs/augmentations.md lists each preset's steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from augment.variants import PRESET, GridError, Variant, build_steps, step_id


@dataclass(frozen=True)
class Preset:
    description: str
    steps: tuple[dict, ...]


PRESETS: dict[str, Preset] = {
    "social_repost": Preset(
        "a social-media re-post: cropped to 90 % of each side, resized to 1080 px on the long side, JPEG 85",
        ({"crop": {"keep": 0.9}}, {"resize_to": {"long_side": 1080}}, {"jpeg": {"quality": 85}}),
    ),
    "screenshot_share": Preset(
        "a screenshot shared in a messenger: shown at half size in a white frame (4 % of the long side), "
        "captured as PNG, resized to 1280 px on the long side, JPEG 75",
        (
            {"screenshot": {"scale": 0.5, "border": 0.04, "colour": "white"}},
            {"resize_to": {"long_side": 1280}},
            {"jpeg": {"quality": 75}},
        ),
    ),
    "webp_repost": Preset(
        "a re-post served as WebP: resized to 1080 px on the long side, WebP 80",
        ({"resize_to": {"long_side": 1080}}, {"webp": {"quality": 80}}),
    ),
    "double_repost": Preset(
        "a re-post of a re-post: the social-media re-post twice, the second at 720 px, 95 % crop and JPEG 75",
        (
            {"crop": {"keep": 0.9}},
            {"resize_to": {"long_side": 1080}},
            {"jpeg": {"quality": 85}},
            {"crop": {"keep": 0.95}},
            {"resize_to": {"long_side": 720}},
            {"jpeg": {"quality": 75}},
        ),
    ),
    # AI-GenBench's evaluation chain (MI-BioLab/AI-GenBench, commit 2332e50,
    # training_and_evaluation/lightning_data_modules/ai_genbench_pipeline.py, mandatory_val_preprocessing):
    # each step with its probability, its parameters drawn per image; docs/augmentations.md says where each is from
    "ai_genbench": Preset(
        "AI-GenBench's evaluation chain: grayscale (p 0.1), JPEG at quality 50 or 101 (p 0.5), Gaussian noise "
        "sigma 0.015-0.075 (p 0.3), JPEG (p 0.2), random resized crop to 256-512 px (p 0.25), JPEG (p 0.1)",
        (
            {"grayscale": {"p": 0.1}},
            {"random_jpeg": {"qualities": (50, 101), "p": 0.5}},
            {"random_gaussian_noise": {"std_low": 0.015, "std_high": 0.075, "p": 0.3}},
            {"random_jpeg": {"qualities": (50, 101), "p": 0.2}},
            {
                "random_resized_crop": {
                    "size_low": 256,
                    "size_high": 512,
                    "scale_low": 0.5,
                    "scale_high": 1.0,
                    "ratio_low": 0.9,
                    "ratio_high": 1 / 0.9,
                    "interpolations": ("bilinear", "bicubic", "lanczos"),
                    "p": 0.25,
                }
            },  # fmt: skip
            {"random_jpeg": {"qualities": (50, 101), "p": 0.1}},
        ),
    ),
}


def preset_variant(name: str) -> Variant:
    """The variant of one shipped preset."""
    ops = build_steps(list(PRESETS[name].steps), f"preset {name}")
    steps = " + ".join(step_id(o) for o in ops)
    return Variant(f"{PRESET}({name}: {steps})", PRESET, ops, meta=(("preset", name),))


def expand_presets(spec: object, field: str) -> list[Variant]:
    """The presets a grid names (a list of names, or `all`), in its order."""
    names = list(PRESETS) if spec == "all" else spec
    if not isinstance(names, list) or not names:
        raise GridError(field, f"expected a list of preset names or 'all' (shipped: {', '.join(PRESETS)})")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in PRESETS:
            raise GridError(f"{field}[{i}]", f"unknown preset {name!r} (shipped: {', '.join(PRESETS)})")
    return [preset_variant(name) for name in names]


def count_presets(spec: object, repeats: int) -> int:
    """How many variants the presets give (`repeats` each for a preset that draws at random)."""
    names = list(PRESETS) if spec == "all" else spec if isinstance(spec, list) else [None]
    random = [isinstance(name, str) and name in PRESETS and preset_variant(name).is_random for name in names]
    return sum(repeats if r else 1 for r in random)
