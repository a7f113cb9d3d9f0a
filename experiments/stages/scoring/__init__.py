"""The scoring stage (`run`): every sample under every variant with every model, into `parts/`
(resumable); its table is `skipped`. Its helpers: `batches` (one chunk's images decoded, edited and
predicted in compiled batches across samples), `driver` (the chunks on the executor, into
verified parts; `assemble` reads them back) and `tables` (from raw scores to the score tables, pure
functions the score-tables stage, the evaluation and the report use)."""

from __future__ import annotations

import logging

import pandas as pd

from experiments.context import RunContext
from experiments.stages.scoring.driver import score_samples

log = logging.getLogger("artxai")


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Every sample under every variant with every model, into parts/ (resumable)."""
    log.info(
        "%d samples x %d variants x %d models (%s) -> %s",
        len(ctx.samples), len(ctx.variants), len(ctx.detectors), ", ".join(d.name for d in ctx.detectors), ctx.run_dir,
    )  # fmt: skip
    if ctx.cfg.part_size is None:
        log.info(
            "part_size %d (chosen for %d samples x %d variants at batch_size %d: %d part(s); "
            "set part_size to choose)",
            ctx.part_size, len(ctx.samples), len(ctx.variants), ctx.cfg.batch_size,
            -(-len(ctx.samples) // ctx.part_size),
        )  # fmt: skip
    skipped, resumed = score_samples(ctx.cfg, ctx.samples, ctx.variants, ctx.detectors, ctx.paths, ctx.timings)
    if resumed:
        log.info("resumed: %d samples were already scored", resumed)
    ctx.counts = {"samples": len(ctx.samples), "variants": len(ctx.variants)}
    ctx.counts |= {"skipped": len(skipped), "resumed_samples": resumed}
    return {"skipped": pd.DataFrame(skipped, columns=["sample", "variant", "reason"])}
