"""The score tables: the scores assembled from verified parts (experiments.stages.scoring.driver),
and the tables made from them (experiments.stages.scoring.tables): `scores`, `summary`,
`minimal_flip`, `minimal_flip_curve`, and the study's table (`study_table`, with its wide view
`study_table_wide`) when the samples carry the study's edits. Exit status 1 when nothing could be
scored."""

from __future__ import annotations

import logging
import time

import pandas as pd

from experiments.context import RunContext
from experiments.stages.scoring.driver import assemble
from experiments.stages.scoring.tables import minimal_flip, minimal_flip_curve, study_table, study_table_wide, summarise

log = logging.getLogger("artxai")


def run(ctx: RunContext) -> dict[str, pd.DataFrame] | int:
    t, run_dir = time.perf_counter(), ctx.run_dir
    scores, skipped = assemble(ctx.samples, ctx.paths, ctx.part_size), ctx.tables["skipped"]
    if scores.empty:
        log.error("nothing could be scored (%d skipped; see %s)", len(skipped), run_dir / "skipped.csv")
        return 1
    flips = minimal_flip(scores)
    tables = {
        "scores": scores, "summary": summarise(scores, ctx.cfg.bootstrap, ctx.cfg.seed), "minimal_flip": flips,
        "minimal_flip_curve": minimal_flip_curve(flips, scores),
    }  # fmt: skip
    ctx.wrote_study = ctx.cfg.study_table and (scores["edit"] == "original").any() and scores["edit"].nunique() > 1
    if ctx.wrote_study:
        tables["study_table"] = study_table(scores)
        tables["study_table_wide"] = study_table_wide(tables["study_table"])
    ctx.timings.add("tables", t)
    ctx.counts["rows"] = len(scores)
    return tables
