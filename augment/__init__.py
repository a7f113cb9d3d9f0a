"""augment: seeded, parameterised image edits on albumentations (never imports experiments)."""

from augment.grid import (
    IDENTITY,
    GridError,
    Variant,
    apply,
    apply_variant,
    base_variant_id,
    compile_variant,
    expand_grid,
    variant_seed,
)
from augment.ops import SINGLE_OPS, Op

__all__ = [
    "IDENTITY",
    "SINGLE_OPS",
    "GridError",
    "Op",
    "Variant",
    "apply",
    "apply_variant",
    "base_variant_id",
    "compile_variant",
    "expand_grid",
    "variant_seed",
]
