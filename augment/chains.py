"""Chains: seeded random compositions of k ops drawn from a pool, as the field's robustness
benchmarks chain 1-5 degradations per image.

    chains:
      - name: field            # names the group in the variant ids (default: the pool's name)
        pool: field            # a shipped pool (POOLS) or a mapping op -> parameter lists, as in the grid
        k: [1, 2, 3, 4, 5]     # chain lengths
        draws: 4               # chains per length
        levels: [2, 4]         # optional: which severity levels (1-based, in each op's list) steps use
        seed: 0                # optional: another seed, other chains

Each chain takes k different ops of the pool in a random order, each at a random level of its
own list (or of `levels`); chain d of length k is drawn from a generator seeded by (seed, name,
k, d) alone, so adding draws or lengths keeps the chains already there. A chain is a variant
`chain(<name>, k=<k>, draw=<d>: <step> + <step> ...)` with op `chain`, severity k, and params
{chain, k, draw, steps} (the steps' ids, from which augment.variants.variant_from_record rebuilds
it).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from augment.variants import CHAIN, GridError, Variant, expand_op, step_id

LEVELS = 5  # the severities of a shipped pool, mildest first (as ImageNet-C's 1-5)
MAX_DRAWS = 1000
KEYS = ("name", "pool", "k", "draws", "levels", "seed")

# The field's set: every op of the corruption suite at five severities, mildest first
# (experiments/configs/suite.yaml grades the same ladders one op at a time).
FIELD: dict[str, dict[str, object]] = {
    "gaussian_noise": {"std": [0.02, 0.04, 0.08, 0.12, 0.2]},
    "poisson_noise": {"strength": [0.05, 0.1, 0.15, 0.25, 0.4]},
    "salt_and_pepper": {"amount": [0.005, 0.01, 0.02, 0.05, 0.1]},
    "gaussian_blur": {"sigma": [1, 2, 3, 5, 8]},
    "motion_blur": {"length": [5, 11, 21, 31, 41]},
    "sharpen": {"amount": [0.5, 1, 2, 4, 8]},
    "jpeg": {"quality": [90, 70, 50, 30, 10]},
    "webp": {"quality": [90, 70, 50, 30, 10]},
    "jpeg2000": {"ratio": [10, 25, 50, 100, 200]},
    "resize": {"scale": [0.75, 0.5, 0.35, 0.25, 0.125]},
    "screenshot": {"scale": [0.9, 0.75, 0.5, 0.35, 0.25]},
    "crop": {"keep": [0.95, 0.9, 0.8, 0.7, 0.5]},
    "rotate": {"degrees": [2, 5, 10, 20, 45], "border": "crop"},
    "contrast": {"factor": [0.8, 0.6, 0.4, 0.3, 0.2]},
    "brightness_contrast": {"brightness": [0.1, 0.2, 0.3, 0.4, 0.5]},
    "saturation": {"factor": [0.8, 0.6, 0.4, 0.2, 0]},
    "hue_shift": {"degrees": [10, 20, 45, 90, 180]},
    "gamma": {"gamma": [1.2, 1.5, 2, 2.5, 3]},
    "posterize": {"bits": [6, 5, 4, 3, 2]},
    "text_watermark": {"opacity": [0.1, 0.2, 0.3, 0.5, 0.7]},
}
POOLS: dict[str, dict[str, dict[str, object]]] = {
    "field": FIELD,
    "laundering": {
        op: FIELD[op] for op in ("jpeg", "webp", "resize", "screenshot", "crop", "rotate", "sharpen", "contrast")
    },
}


def _int_list(value: object, field: str, low: int, high: int, what: str, over: str) -> list[int]:
    """`value` (a whole number or a list of them) checked to lie in [low, high]; `over` says why
    `high` is the limit."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise GridError(field, f"expected {what}, got an empty list")
    for i, v in enumerate(values):
        where = f"{field}[{i}]" if isinstance(value, list) else field
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise GridError(where, f"expected {what}, a whole number from {low}, got {v!r}")
        if v > high:
            raise GridError(where, f"{v} is larger than {over}")
    return values


def _pool(spec: Mapping, field: str) -> tuple[str, dict[str, list[Variant]]]:
    """The pool's name and, per op, its levels (the variants of its parameter lists)."""
    pool = spec.get("pool")
    if isinstance(pool, str):
        if pool not in POOLS:
            raise GridError(f"{field}.pool", f"unknown pool {pool!r} (shipped: {', '.join(POOLS)})")
        name, mapping, where = pool, POOLS[pool], f"pool {pool}"
    elif isinstance(pool, Mapping) and pool:
        name, mapping, where = "pool", pool, f"{field}.pool"
    else:
        raise GridError(f"{field}.pool", "expected a shipped pool's name or a mapping of op -> parameter lists")
    return name, {op: expand_op(op, params or {}, f"{where}.{op}") for op, params in mapping.items()}


def _group(spec: object, field: str) -> tuple[str, dict[str, list[Variant]], list[int], int, list[int] | None, int]:
    """A chain group checked: name, pool levels per op, lengths, draws, levels, seed."""
    if not isinstance(spec, Mapping):
        raise GridError(field, f"expected a mapping with {', '.join(KEYS)}, got {spec!r}")
    if unknown := [k for k in spec if k not in KEYS]:
        raise GridError(f"{field}.{unknown[0]}", f"unknown key (known: {', '.join(KEYS)})")
    pool_name, pool = _pool(spec, field)
    if "k" not in spec:
        raise GridError(f"{field}.k", "required: the chain lengths, e.g. [1, 2, 3]")
    ops = f"{len(pool)} ops: {', '.join(pool)}"
    too_long = f"the pool ({ops}); a chain uses an op once"
    ks = _int_list(spec["k"], f"{field}.k", 1, len(pool), "a chain length", too_long)
    draws = _int_list(spec.get("draws", 1), f"{field}.draws", 1, MAX_DRAWS, "a number of draws", f"{MAX_DRAWS}")[0]
    levels = None
    if "levels" in spec:
        fewest = min(len(v) for v in pool.values())
        too_high = f"the fewest levels of a pool op ({fewest})"
        levels = _int_list(spec["levels"], f"{field}.levels", 1, fewest, "a severity level", too_high)
    seed = _int_list(spec.get("seed", 0), f"{field}.seed", 0, 2**63, "a seed", "2**63")[0]
    name = spec.get("name", pool_name if isinstance(spec.get("pool"), str) else "pool")
    if not isinstance(name, str) or not name.isidentifier():
        raise GridError(f"{field}.name", f"expected a name of letters, digits and _, got {name!r}")
    return name, pool, ks, draws, levels, seed


def draw_chain(
    name: str, pool: dict[str, list[Variant]], k: int, draw: int, levels: list[int] | None, seed: int
) -> Variant:
    """Chain `draw` of length k: k different pool ops in a random order, each at a random level,
    from a generator seeded by (seed, name, k, draw) only."""
    digest = hashlib.sha256(f"{seed}|{name}|{k}|{draw}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "little"))
    ops = []
    for op in rng.sample(list(pool), k):
        choices = pool[op] if levels is None else [pool[op][level - 1] for level in levels]
        ops.append(rng.choice(choices).steps[0])
    steps = " + ".join(step_id(o) for o in ops)
    meta = (("chain", name), ("k", k), ("draw", draw))
    return Variant(f"{CHAIN}({name}, k={k}, draw={draw}: {steps})", CHAIN, tuple(ops), meta=meta)


def expand_chains(spec: object, field: str) -> list[Variant]:
    """Every chain of every group, group by group, shortest chains first."""
    groups = spec if isinstance(spec, list) else [spec]
    if not groups:
        raise GridError(field, "expected a list of chain groups, e.g. [{pool: field, k: [1, 2, 3], draws: 4}]")
    variants = []
    for i, group in enumerate(groups):
        name, pool, ks, draws, levels, seed = _group(group, f"{field}[{i}]" if isinstance(spec, list) else field)
        variants += [draw_chain(name, pool, k, d, levels, seed) for k in ks for d in range(draws)]
    return variants


def count_chains(spec: object, repeats: int) -> int:
    """How many variants the chain groups can give, without drawing any: lengths x draws per
    group, times `repeats` when the pool has an op that may draw at random (an upper bound: a
    chain that drew no such op is drawn once). Unreadable groups count 1 (expansion says why)."""
    total = 0
    for group in spec if isinstance(spec, list) else [spec]:
        if not isinstance(group, Mapping):
            total += 1
            continue
        ks, draws = group.get("k", 1), group.get("draws", 1)
        n_k = len(ks) if isinstance(ks, list) else 1
        n_draws = draws if isinstance(draws, int) and not isinstance(draws, bool) and draws > 0 else 1
        pool = group.get("pool")
        mapping = POOLS.get(pool, {}) if isinstance(pool, str) else pool if isinstance(pool, Mapping) else {}
        total += n_k * n_draws * (repeats if _may_be_random(mapping) else 1)
    return total


def _may_be_random(mapping: Mapping) -> bool:
    """Whether a level of the pool draws at random (False for a pool that cannot be built)."""
    try:
        return any(v.is_random for op, params in mapping.items() for v in expand_op(op, params or {}, "pool"))
    except GridError:
        return False
