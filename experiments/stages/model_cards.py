"""Each model's card, with this run's test numbers and what it was trained on, beside the tables
(`models/<name>.model_card.json`, experiments.manifest.write_model_cards). Writes no table."""

from __future__ import annotations

import time

import pandas as pd

from experiments import manifest
from experiments.context import RunContext
from experiments.stages.generators import seen_generators


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    t = time.perf_counter()
    evaluation_metrics = ctx.tables.get("evaluation_metrics", pd.DataFrame())
    trained_on = seen_generators(ctx.cfg, ctx.detectors)
    manifest.write_model_cards(ctx.run_dir, ctx.detectors, ctx.model_blob_ids, evaluation_metrics, trained_on)
    ctx.timings.add("tables", t)
    return {}
