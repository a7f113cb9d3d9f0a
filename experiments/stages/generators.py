"""Which generators a detector catches and which it misses: table `generators` ([Generators](generators.md)).

Per model, on the unedited images (variant `identity`): the detection rate of each generator
(its AI images called AI), pooled over the generators the model was trained on (`seen`) and over
the others (`unseen`) and over all; and the false-positive rate of each human source (its images
called AI), pooled over all. Every rate with its 95 % Wilson interval, its k and n, and
`exploratory` where n < 30. Written only when the samples name their generators (a dataset's
generator_from, or AI-ArtBench's folders): a set whose AI images are all `unknown` has none.
A pool with no generator (the unseen one of a model trained on all of them) has no row.

A generator is *caught* when its detection rate's interval lies above the interval of the model's
false-positive rate on all human sources (`judge`): a detector that calls everything AI catches none.

The generators a model was trained on (`trained_generators`): its config's `trained_on`; for the
study's AI-ArtBench models, AI-ArtBench's latent and standard diffusion; for a model artxai
trained, the generators its training record (model card) counts in its training split.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from augment import IDENTITY
from experiments.config.fields import RESERVED_NAMES
from experiments.config.model_blocks import ModelConfig
from experiments.config.schema import RunConfig
from experiments.context import RunContext
from experiments.inputs.datasets import GENERATORS
from experiments.models.detector import Detector
from experiments.models.training_folder import card_path
from experiments.stats.statistics import proportion

log = logging.getLogger("artxai")

STUDY_MODELS = "Models/AI-artbench/"  # the study's models: trained on AI-ArtBench's AI_LD_ and AI_SD_ folders
STUDY_GENERATORS = sorted(GENERATORS.values())
UNNAMED = ("", *RESERVED_NAMES)  # not a generator's name: no folder may give one (experiments.inputs.datasets)
COLUMNS = ["model", "kind", "name", "seen", "metric", "k", "n", "rate", "ci_low", "ci_high", "ci_method", "exploratory"]


def card_generators(model_path: Path) -> list[str] | None:
    """The named generators of an artxai-trained model's training split, from its model card;
    None without a card, or when its training images named no generator."""
    card = card_path(model_path)
    if not card.is_file():
        return None
    try:
        found = json.loads(card.read_text(encoding="utf-8"))["data"]["train"]["generator"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    named = sorted(g for g in found if g not in UNNAMED)
    return named or None


def trained_generators(model: ModelConfig, detector: Detector | None = None) -> list[str] | None:
    """The generators a model was trained on (the module's docstring), or None when unknown."""
    if model.trained_on is not None:
        return sorted(model.trained_on)
    if model.seed_asset is not None and model.seed_asset.startswith(STUDY_MODELS):
        return STUDY_GENERATORS
    path = detector.trained_file() if detector is not None else model.path
    return card_generators(path) if path is not None else None


def seen_generators(cfg: RunConfig, detectors: list[Detector]) -> dict[str, list[str] | None]:
    """Per loaded model, the generators it was trained on."""
    by_name = {m.name: m for m in cfg.models}
    return {d.name: trained_generators(by_name[d.name], d) for d in detectors if d.name in by_name}


def _row(model: str, kind: str, name: str, seen: str, metric: str, hits: int, n: int) -> dict:
    found = proportion(hits, n)
    return {"model": model, "kind": kind, "name": name, "seen": seen, "metric": metric, "k": int(hits), "n": int(n),
            "rate": found["value"], "ci_low": found["ci_low"], "ci_high": found["ci_high"], "ci_method": "wilson",
            "exploratory": bool(found["exploratory"])}  # fmt: skip


def model_rows(base: pd.DataFrame, model: str, trained_on: list[str] | None) -> list[dict]:
    """One model's rows: per generator, pooled seen / unseen / all, per source, all sources."""
    ai, human = base[base["truth"] == "ai"], base[base["truth"] == "human"]
    called_ai = (ai["predicted"] == "ai").groupby(ai["generator"], sort=True).agg(["sum", "size"])
    rows = []
    for name, (hits, n) in called_ai.iterrows():
        seen = "unknown" if trained_on is None else ("seen" if name in trained_on else "unseen")
        rows.append(_row(model, "generator", name, seen, "detection_rate", hits, n))
    pools = {"all generators": [True] * len(called_ai)}
    if trained_on is not None:
        inside = called_ai.index.isin(trained_on)
        pools = {"seen generators": inside, "unseen generators": ~inside} | pools
    for name, mask in pools.items():
        part = called_ai[mask]
        if part.empty:  # no unseen generator: a sentence (summary's no_unseen), not a row of 0 of 0
            continue
        rows.append(
            _row(
                model,
                "pooled",
                name,
                name.split()[0] if trained_on else "",
                "detection_rate",
                part["sum"].sum(),
                part["size"].sum(),
            )
        )
    if "source" in human and len(human):
        false_ai = (human["predicted"] == "ai").groupby(human["source"], sort=True).agg(["sum", "size"])
        rows += [
            _row(model, "source", name, "", "false_positive_rate", hits, n) for name, (hits, n) in false_ai.iterrows()
        ]
        rows.append(
            _row(
                model, "pooled", "all sources", "", "false_positive_rate", false_ai["sum"].sum(), false_ai["size"].sum()
            )
        )
    return rows


def generator_table(scores: pd.DataFrame, trained_on: dict[str, list[str] | None]) -> pd.DataFrame:
    """The `generators` table (the module's docstring); empty when no AI image names its generator."""
    base = scores[(scores["variant"] == IDENTITY) & (scores["replicate"] == 0)]
    named = base[(base["truth"] == "ai") & ~base["generator"].isin(UNNAMED)]
    if named.empty:
        return pd.DataFrame(columns=COLUMNS)
    base = base[(base["truth"] == "human") | ~base["generator"].isin(UNNAMED)]
    rows = []
    for model, df in base.groupby("model", sort=False):
        rows += model_rows(df, model, trained_on.get(model))
    return pd.DataFrame(rows, columns=COLUMNS)


def judge(rate: dict, human: dict | None) -> str:
    """`caught` when a generator's detection interval lies above the interval of human art called
    AI, `below` when it lies under it, else `inconclusive` (the intervals cannot tell them apart;
    also when there is no human image to compare with)."""
    if human is None or not human["n"]:
        return "inconclusive"
    if rate["ci_low"] > human["ci_high"]:
        return "caught"
    return "below" if rate["ci_high"] < human["ci_low"] else "inconclusive"


def summary(table: pd.DataFrame, model: str) -> dict | None:
    """What a findings card says of one model: the generators caught (judge), inconclusive and
    below human art, the worst one, the seen / unseen pools and human art called AI; `no_unseen`
    when the model was trained on every generator here; None when the table has no row for it."""
    mine = table[table["model"] == model]
    gens = mine[mine["kind"] == "generator"].sort_values(["rate", "n"], ascending=[True, False], kind="stable")
    if gens.empty:
        return None
    records = gens.to_dict("records")
    pooled = {r["name"]: r for r in mine[mine["kind"] == "pooled"].to_dict("records")}
    human = pooled.get("all sources")
    verdicts = [judge(r, human) for r in records]
    return {
        "caught": [r for r, v in reversed(list(zip(records, verdicts))) if v == "caught"],
        "inconclusive": [r for r, v in zip(records, verdicts) if v == "inconclusive"],
        "below": [r for r, v in zip(records, verdicts) if v == "below"],
        "total": len(records),
        "worst": records[0],
        "seen": pooled.get("seen generators"),
        "unseen": pooled.get("unseen generators"),
        "no_unseen": "seen generators" in pooled and "unseen generators" not in pooled,
        "human": human,
    }


def _interval(r: dict) -> str:
    return f"{r['rate']:.0%} [{r['ci_low']:.0%}, {r['ci_high']:.0%}]"


def sentence(found: dict) -> str:
    """The findings card's one sentence: 'catches 2 of 6 generators (...), each detected more often
    than human art is called AI (13/100, 13% [8%, 21%]); not told apart from human art: ...;
    worst: ...'; and 'no unseen generator' when the model was trained on all of them."""

    def count(r: dict) -> str:
        return f"{r['name']} {r['k']}/{r['n']}"

    human = found["human"]
    text = f"catches {len(found['caught'])} of {found['total']} generators"
    if found["caught"]:
        text += f" ({', '.join(map(count, found['caught']))})"
    if human is None or not human["n"]:
        text += ": no human art to compare with, so none is judged caught"
    else:
        text += (
            f", a generator caught when its detection interval lies above that of human art called AI "
            f"({human['k']}/{human['n']}, {_interval(human)})"
        )
    if found["inconclusive"] and human is not None and human["n"]:
        text += f"; not told apart from human art: {', '.join(map(count, found['inconclusive']))}"
    if found["below"]:
        text += f"; called AI less often than human art: {', '.join(map(count, found['below']))}"
    if found["no_unseen"]:
        text += f"; no unseen generator (trained on all {found['total']})"
    w = found["worst"]
    return text + f"; worst: {w['name']}, {w['k']} of {w['n']} detected ({_interval(w)})"


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Detection per generator, seen vs unseen, and false positives per human source: table
    `generators`, logged, when the run's samples name their generators."""
    table = generator_table(ctx.tables["scores"], seen_generators(ctx.cfg, ctx.detectors))
    if table.empty:
        return {}
    for model in table["model"].unique():
        found = summary(table, model)
        log.info("generators: %s %s", model, sentence(found))
        if found["no_unseen"]:
            log.info("generators: %s was trained on every generator here: none is unseen", model)
        for pool in ("seen", "unseen", "human"):
            if (r := found[pool]) is not None:
                what = "human art called AI" if pool == "human" else f"{pool} generators detected"
                log.info(
                    "generators: %s %s: %d of %d (%.3f [%.3f, %.3f])",
                    model,
                    what,
                    r["k"],
                    r["n"],
                    r["rate"],
                    r["ci_low"],
                    r["ci_high"],
                )
    return {"generators": table}
