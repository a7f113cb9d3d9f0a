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
from augment.op_base import OpInfo
from augment.ops import OP_INFO, SINGLE_OPS, Op
from augment.record import EditRecord, region_mask
from augment.variants import variant_from_record

__all__ = [
    "IDENTITY",
    "OP_INFO",
    "SINGLE_OPS",
    "EditRecord",
    "GridError",
    "Op",
    "OpInfo",
    "Variant",
    "apply",
    "apply_variant",
    "apply_with_record",
    "base_variant_id",
    "compile_variant",
    "expand_grid",
    "region_mask",
    "variant_from_record",
    "variant_seed",
]
