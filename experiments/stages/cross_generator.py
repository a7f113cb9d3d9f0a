"""The cross-generator matrix (table `cross_generator`), from any dataset whose images name their
generators (AI-ArtBench's folders, or a generic layout with generator_from; [Generators](generators.md)).

For each chosen model, copies trained on part of its training data and tested on every generator:
- `single`: one generator's AI images plus every human image (`trained_on` = that generator);
- `leave_one_out`: every generator's but one (`trained_on` = "all but <g>", `held_out` = g);
- and the model itself (`trained_on` = "all").
A copy's training data is its dataset with `generators:` set (experiments.inputs.datasets), so its
training record (model card) counts exactly the generators it saw: a held-out generator is never
among them. Each copy is tested on the test split's humans against each generator's AI images:
ROC-AUC (bootstrap interval), detection rate and FPR (Wilson intervals).

A copy trains balanced after the filter: the dataset's `balance` drops images of the larger class
(the humans, for one generator's copy) at random, seeded, to the smaller class's count, and its
model card counts both classes. A copy whose training record carries the chance guard's warning
(its validation accuracy's interval reaches the majority rate) is `at_chance` in every row: the
report marks it, and `transfer` leaves it out of the means.

`check_matrix` runs in the preflight: a matrix that cannot be made (fewer than two generators, a
generator with no training images) stops the run before anything is created.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pandas as pd

from experiments.config.fields import ConfigError
from experiments.config.model_blocks import DatasetConfig, ModelConfig
from experiments.config.schema import RunConfig
from experiments.context import RunContext
from experiments.inputs.datasets import scan
from experiments.inputs.images import DecodePolicy
from experiments.inputs.samples import samples_from_dataset
from experiments.models.detector import Detector
from experiments.models.training_folder import card_path
from experiments.rundir.names import slug
from experiments.stages.audit import score_files
from experiments.stats.statistics import exploratory, mean_ci, metric_with_ci, proportion

log = logging.getLogger("artxai")

COLUMNS = [
    "model", "trained_on", "held_out", "at_chance", "tested_on", "n_ai", "n_human", "roc_auc", "roc_auc_ci_low",
    "roc_auc_ci_high", "recall_ai", "recall_ai_ci_low", "recall_ai_ci_high", "fpr", "fpr_ci_low", "fpr_ci_high",
    "exploratory",
]  # fmt: skip
UNNAMED = ("", "unknown")
MAX_NAME_PART = 96  # bytes of a generator's name in a copy's file names; a longer one is cut and hashed
DESIGNS = {"single": "one generator + the humans", "leave_one_out": "all generators but one + the humans"}


def chosen_models(cfg: RunConfig) -> list[ModelConfig]:
    """The models the matrix trains copies of (the config's validator checked they have a train block)."""
    chosen = cfg.cross_generator.models or [m.name for m in cfg.models if m.train is not None]
    return [m for m in cfg.models if m.name in chosen]


def named_generators(dataset: DatasetConfig, split: str) -> list[str]:
    """The named generators of one split's AI images."""
    df = scan(dataset, [split])
    return sorted(set(df.loc[df["label"] == "ai", "generator"]) - set(UNNAMED))


def matrix_generators(m: ModelConfig) -> list[str]:
    """The generators of a model's matrix: those its test split names, each with training
    images; ConfigError (one line, naming the model) when there are fewer than two."""
    dataset = m.train.dataset
    where = f"cross_generator: models[{m.name}].train.dataset ({dataset.root})"
    try:
        tested, trained = named_generators(dataset, dataset.test_split), named_generators(dataset, dataset.train_split)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if len(tested) < 2:
        hint = (
            "name them with generator_from: subfolder" if dataset.layout == "generic" else "AI_LD_ and AI_SD_ folders"
        )
        raise ConfigError(
            f"{where} has AI generators {tested} in its test split; the matrix needs two or more ({hint})"
        )
    if untrained := [g for g in tested if g not in trained]:
        raise ConfigError(f"{where}: generator {untrained[0]} has test images but no training images")
    return tested


def check_matrix(cfg: RunConfig) -> None:
    """Every chosen model's matrix can be made (matrix_generators); before anything is created."""
    if cfg.cross_generator is not None:
        for m in chosen_models(cfg):
            matrix_generators(m)


def training_sets(generators: list[str], designs: list[str]) -> list[tuple[str, str, list[str]]]:
    """(trained_on, held_out, generators trained on) of every copy the designs ask for."""
    sets = []
    if "single" in designs:
        sets += [(g, "", [g]) for g in generators]
    if "leave_one_out" in designs:
        sets += [(f"all but {g}", g, [o for o in generators if o != g]) for g in generators]
    return sets


def file_part(generator: str) -> str:
    """A generator's name as part of a file name: as it is when it is short (MAX_NAME_PART bytes),
    else its first characters and a hash (experiments.rundir.names.slug), so the copy's files
    (`.keras`, card, lock, training folder, their temporary files) stay within a file name's 255 bytes."""
    return generator if len(os.fsencode(generator)) <= MAX_NAME_PART else slug(generator)


def copy_file(m: ModelConfig, trained_on: str, held_out: str):
    """Where a copy is saved: beside the model, `<stem>.cross_generator/<g>.keras` or `without_<g>.keras`
    (`.npz` for a probe's copies: the model file's own suffix)."""
    part = f"without_{file_part(held_out)}" if held_out else file_part(trained_on)
    return m.path.parent / f"{m.path.stem}.cross_generator" / f"{part}{m.path.suffix}"


def cell(
    model: str, trained_on: str, held_out: str, tested_on: str, ai: pd.DataFrame, humans: pd.DataFrame, cfg: RunConfig
) -> dict:
    """One cell: the test split's humans against one generator's AI images."""
    both = pd.concat([ai, humans])
    auc = metric_with_ci(
        "roc_auc", (both["truth"] == "ai").to_numpy(), both["p_ai"].to_numpy(), cfg.bootstrap, cfg.seed
    )
    recall = proportion(int((ai["p_ai"] >= 0.5).sum()), len(ai))
    fpr = proportion(int((humans["p_ai"] >= 0.5).sum()), len(humans))
    return {
        "model": model, "trained_on": trained_on, "held_out": held_out, "tested_on": tested_on, "n_ai": len(ai),
        "n_human": len(humans),
        "roc_auc": auc[0], "roc_auc_ci_low": auc[1], "roc_auc_ci_high": auc[2],
        "recall_ai": recall["value"], "recall_ai_ci_low": recall["ci_low"], "recall_ai_ci_high": recall["ci_high"],
        "fpr": fpr["value"], "fpr_ci_low": fpr["ci_low"], "fpr_ci_high": fpr["ci_high"],
        "exploratory": exploratory(min(len(ai), len(humans))),
    }  # fmt: skip


def copies_of(m: ModelConfig, cfg: RunConfig, generators: list[str], make) -> dict:
    """trained_on -> (held_out, Detector): `make(name, dataset, path)` gives each copy, its dataset
    the model's with `generators:` set (balanced after the filter); copies with the same training
    generators are one model."""
    made: dict[tuple[str, ...], Detector] = {}
    copies = {}
    for trained_on, held_out, subset in training_sets(generators, cfg.cross_generator.designs):
        key = tuple(subset)
        if key not in made:
            dataset = m.train.dataset.model_copy(update={"generators": subset, "balance": True})
            log.info("cross_generator: %s on %s and the humans", m.name, ", ".join(subset))
            name = f"{m.name}_{trained_on.replace('all but ', 'without_')}"
            made[key] = make(name, dataset, copy_file(m, trained_on, held_out))
        copies[trained_on] = (held_out, made[key])
    return copies


def model_copies(m: ModelConfig, cfg: RunConfig, generators: list[str], policy: DecodePolicy, retrain: bool) -> dict:
    """A CNN's copies (copies_of), each trained, or reused only when its card matches
    (experiments.models.trained_models)."""
    from experiments.models.trained_models import trained_detector

    train_cfg = (
        m.train
        if cfg.cross_generator.epochs is None
        else m.train.model_copy(update={"epochs": cfg.cross_generator.epochs})
    )

    def make(name: str, dataset: DatasetConfig, path: Path) -> Detector:
        copy_cfg = train_cfg.model_copy(update={"dataset": dataset})
        return trained_detector(name, copy_cfg, m.input_size, path, cfg.seed, policy, retrain)[0]

    return copies_of(m, cfg, generators, make)


def probe_copies(m: ModelConfig, cfg: RunConfig, generators: list[str], embedder, policy, retrain: bool) -> dict:
    """A probe's copies (copies_of), each fitted on the encoder's cached embeddings, or reused only
    when its card matches (experiments.models.probe)."""
    from experiments.models.backends import Opening
    from experiments.models.probe import probe_detector, trained_probe

    opening = Opening(None, cfg.seed, policy, retrain)

    def make(name: str, dataset: DatasetConfig, path: Path) -> Detector:
        copy = m.model_copy(
            update={"name": name, "path": path, "train": m.train.model_copy(update={"dataset": dataset})}
        )
        trained_probe(copy, embedder, opening)
        return probe_detector(embedder, name, path)

    return copies_of(m, cfg, generators, make)


def scorers(m: ModelConfig, cfg: RunConfig, generators: list[str], test: list, loaded: dict, policy, retrain: bool):
    """(the model's copies, a function giving a copy's scores on `test`): a CNN's copies score the
    files; a probe's copies score the test split's embeddings, encoded (or found in the cache) once."""
    own = {"all": ("", loaded[m.name])} if m.name in loaded else {}
    if m.kind != "embedding":

        def score(detector: Detector) -> pd.DataFrame:
            return score_files(test, [detector], policy, batch_size=cfg.batch_size, workers=cfg.workers or None)[0]

        return own | model_copies(m, cfg, generators, policy, retrain), score
    from experiments.models.embedding_files import open_embedder
    from experiments.models.probe_fit import embed_files

    embedder = loaded.get(m.name) or open_embedder(m)
    found = embed_files(embedder, [s.path for s in test], policy, cfg.workers or None)
    kept = [test[i] for i in found.kept]
    frame = pd.DataFrame({"truth": [s.truth for s in kept], "generator": [s.generator for s in kept]})

    def embedded(detector: Detector) -> pd.DataFrame:
        return frame.assign(p_ai=detector.head(found.embeddings)[0][:, 0])

    return own | probe_copies(m, cfg, generators, embedder, policy, retrain), embedded


def cross_generator_matrix(
    cfg: RunConfig, detectors: list[Detector], policy: DecodePolicy, retrain: bool = False
) -> pd.DataFrame:
    """Every chosen model's copies (and the model itself, as `all`), each tested on every generator."""
    loaded = {d.name: d for d in detectors}
    rows = []
    for m in chosen_models(cfg):
        generators = matrix_generators(m)
        test = [
            s
            for s in samples_from_dataset(m.train.dataset, m.train.dataset.test_split, cfg.seed)
            if s.generator not in UNNAMED
        ]
        copies, score = scorers(m, cfg, generators, test, loaded, policy, retrain)
        for trained_on, (held_out, detector) in copies.items():
            scores = score(detector)
            humans, chance = scores[scores["truth"] == "human"], at_chance(detector)
            for tested_on in generators:
                found = cell(
                    m.name, trained_on, held_out, tested_on, scores[scores["generator"] == tested_on], humans, cfg
                )
                rows.append(found | {"at_chance": chance})
    return pd.DataFrame(rows, columns=COLUMNS)


def at_chance(detector: Detector) -> bool:
    """Whether a model's training record (its model card) carries the chance guard's warning; False
    for a model without a card (not trained by artxai: nothing says it is at chance)."""
    try:
        card = json.loads(card_path(detector.trained_file()).read_text(encoding="utf-8"))
        return bool(card["training"]["warning"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def design_cells(matrix: pd.DataFrame, design: str) -> pd.DataFrame:
    """The cells where a design's copies meet generators they never saw: a single-generator copy on
    every other generator, a leave-one-out copy on the one it left out."""
    copies = matrix[(matrix["trained_on"] != "all")]
    if design == "single":
        single = copies[copies["held_out"] == ""]
        return single[single["trained_on"] != single["tested_on"]]
    return held_out_rows(matrix)


def transfer(matrix: pd.DataFrame, resamples: int, seed: int) -> list[dict]:
    """Per model and design: the mean ROC-AUC of its copies on the generators they never saw (a
    copy's mean over its cells, then the mean over copies), with its bootstrap interval over the
    copies, only over copies that beat chance; the copies at chance are counted, not averaged in."""
    out = []
    for model, mine in matrix.groupby("model", sort=False):
        for design, what in DESIGNS.items():
            cells = design_cells(mine, design)
            if cells.empty:
                continue
            per_copy = cells.groupby("trained_on", sort=True).agg(auc=("roc_auc", "mean"), chance=("at_chance", "any"))
            read = per_copy[~per_copy["chance"]]
            found = mean_ci(read["auc"].to_numpy(), resamples=resamples, seed=seed)
            out.append({
                "model": model, "design": design, "what": what, "copies": len(per_copy),
                "at_chance": int(per_copy["chance"].sum()), "n": found["n"], "mean_roc_auc": found["mean"],
                "ci_low": found["ci_low"], "ci_high": found["ci_high"],
            })  # fmt: skip
    return out


def held_out_rows(matrix: pd.DataFrame) -> pd.DataFrame:
    """One row per model x held-out generator: the leave-one-out copy tested on the generator it never saw."""
    if matrix is None or matrix.empty or "held_out" not in matrix:
        return pd.DataFrame(columns=COLUMNS)
    rows = matrix[(matrix["held_out"] != "") & (matrix["held_out"] == matrix["tested_on"])]
    return rows.reset_index(drop=True)


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """The matrix (`cross_generator:`): table `cross_generator`. Timed with cross-set evaluation
    (`eval_sets` in the manifest's timings), as before it was a stage of its own."""
    if ctx.cfg.cross_generator is None:
        return {}
    started = time.perf_counter()
    table = cross_generator_matrix(ctx.cfg, ctx.detectors, ctx.decode, ctx.retrain)
    ctx.timings.add("eval_sets", started)
    for t in transfer(table, ctx.cfg.bootstrap, ctx.cfg.seed):
        found = (
            "no copy"
            if not t["n"]
            else f"mean ROC-AUC {t['mean_roc_auc']:.3f}"
            + (f" [{t['ci_low']:.3f}, {t['ci_high']:.3f}]" if t["n"] > 1 else " (one copy: no interval)")
        )
        log.info(
            "cross_generator: %s, %s, on unseen generators: %s over the %d of %d copies that beat chance "
            "(%d at chance, not averaged in)", t["model"], t["what"], found, t["n"], t["copies"], t["at_chance"],
        )  # fmt: skip
    return {"cross_generator": table}
