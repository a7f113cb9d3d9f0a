"""augment: seeded, parameterised image edits on albumentations (never imports experiments)."""

from augment.grid import (
    IDENTITY,
    GridError,
    Variant,
    apply,
    apply_variant,
    apply_with_record,
    base_variant_id,
    compile_variant,
    expand_grid,
    variant_seed,
)
from augment.ops import SINGLE_OPS, Op
from augment.record import EditRecord, region_mask

__all__ = [
    "IDENTITY",
    "SINGLE_OPS",
    "EditRecord",
    "GridError",
    "Op",
    "Variant",
    "apply",
    "apply_variant",
    "apply_with_record",
    "base_variant_id",
    "compile_variant",
    "expand_grid",
    "region_mask",
    "variant_seed",
]
