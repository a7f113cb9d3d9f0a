"""Cue reversal, the audit's most direct test that a model reads the file, not the art (table
`audit_reversal`, with `audit: {reversal: true}`).

Where the classes differ in a file fact (JPEG quality, pixel size), each class is re-encoded at
the OTHER class's typical setting (the median over its files, experiments.inputs.file_factors):
every AI image at the human images' quality, every human image at the AI images' quality. A
model that learnt the cue now reads each class as the other, and its accuracy falls; a model
that learnt the art does not move. The rows are the audit's own (experiments.stages.audit
`shift_table`: the paired shift of p_ai and change of the class's accuracy, each with a 95 %
bootstrap interval, and the same verdict rule), with the settings each class went from and to.
For `size` the file keeps its format (a JPEG is re-encoded at its own estimated quality).
A reversal that cannot be made (a class with no JPEG has no typical quality) is one warning line
and, per model and class, a row with n = 0, verdict `not_made` and the reason in `note`.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.inputs.file_factors import encode, file_metadata, resize_short_side
from experiments.inputs.images import DecodePolicy, decode_image
from experiments.inputs.samples import Sample
from experiments.models.detector import Detector
from experiments.config.sections import REVERSIBLE, AuditConfig
from experiments.context import RunContext, write_tables
from experiments.stages.audit import AS_IS, AUDIT_COLUMNS, score_files, shift_table

log = logging.getLogger("artxai")

SETTINGS = {"jpeg": ("jpeg_quality", "JPEG"), "size": ("short_side", "readable file")}  # column, files that have it
REVERSAL_COLUMNS = [*AUDIT_COLUMNS[:3], "from_setting", "to_setting", *AUDIT_COLUMNS[3:], "note"]
NOT_MADE = "not_made"  # the verdict of a reversal that could not be made; `note` says why


def _readable(meta: pd.DataFrame) -> pd.DataFrame:
    return meta[meta["problem"] == ""].assign(short_side=lambda m: np.minimum(m["width"], m["height"]))


def typical_settings(meta: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per factor and class, the median setting over the readable files (JPEG quality over the
    JPEGs, short side over all); a factor is left out when a class has no value for it."""
    readable = _readable(meta)
    found = {}
    for factor, (column, _) in SETTINGS.items():
        medians = readable.groupby("truth")[column].median()
        if set(medians.dropna().index) >= {"ai", "human"}:
            found[factor] = {truth: int(round(medians[truth])) for truth in ("ai", "human")}
    return found


def why_not_made(meta: pd.DataFrame, factor: str) -> str:
    """Why a factor has no typical setting (typical_settings left it out): the classes none of
    whose files has a value for it."""
    column, files = SETTINGS[factor]
    readable = _readable(meta)
    lacking = [t for t in ("ai", "human") if readable.loc[readable["truth"] == t, column].dropna().empty]
    return f"no {files} among the {' and '.join(lacking)} files: no typical setting to re-encode the other class at"


def not_made_rows(detectors: list[Detector], reasons: dict[str, str]) -> pd.DataFrame:
    """One row per model, factor and class for each reversal that could not be made: n = 0, no
    numbers, verdict `not_made` and the reason in `note`."""
    rows = [
        {"model": d.name, "factor": f"{factor}_reversed", "class": truth, "n": 0, "ci_method": "", "exploratory": True,
         "verdict": NOT_MADE, "note": why}
        for d in detectors for factor, why in reasons.items() for truth in ("ai", "human")
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=REVERSAL_COLUMNS)


def reencode(data: bytes, factor: str, setting: int, policy: DecodePolicy = DecodePolicy()) -> bytes:
    """The file at `setting`: a JPEG at quality `setting`, or resized to a short side of
    `setting` px and saved in its own format (a JPEG at its own estimated quality)."""
    pixels = decode_image(data, policy).pixels
    if factor == "jpeg":
        return encode(pixels, "JPEG", setting)
    if factor == "size":
        facts = file_metadata(data)
        own = facts.get("jpeg_quality")
        resized = resize_short_side(pixels, setting)
        return (
            encode(resized, "JPEG", int(own))
            if facts.get("format") == "JPEG" and pd.notna(own)
            else encode(resized, "PNG")
        )
    raise ValueError(f"no reversal for factor {factor!r}; known: {', '.join(REVERSIBLE)}")


def reversal_scores(
    samples: list[Sample], detectors: list[Detector], meta: pd.DataFrame, factors: list[str], policy: DecodePolicy
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Each class's files scored at the other class's typical setting (factor `<f>_reversed`),
    for each reversible factor; with the settings used."""
    settings = {f: s for f, s in typical_settings(meta).items() if f in factors}
    parts = []
    for factor, typical in settings.items():
        for truth, other in (("ai", "human"), ("human", "ai")):
            chosen = [s for s in samples if s.truth == truth]
            transform = partial(reencode, factor=factor, setting=typical[other], policy=policy)
            scored, skipped = score_files(chosen, detectors, policy, transform)
            if skipped:
                log.warning(
                    "audit: %d %s file(s) not reversed for %s (first: %s)",
                    len(skipped),
                    truth,
                    factor,
                    skipped[0]["reason"],
                )
            parts.append(scored.assign(factor=f"{factor}_reversed"))
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), settings


def reversal_table(
    as_is: pd.DataFrame, reversed_scores: pd.DataFrame, settings: dict, min_shift: float, resamples: int, seed: int
) -> pd.DataFrame:
    """The audit's shift table over the reversed scores, with the setting each class went from
    (its own typical one) and to (the other class's)."""
    if reversed_scores.empty:
        return pd.DataFrame(columns=REVERSAL_COLUMNS)
    table = shift_table(
        pd.concat([as_is[as_is["factor"] == AS_IS], reversed_scores], ignore_index=True), min_shift, resamples, seed
    )
    factor = table["factor"].str.removesuffix("_reversed")
    other = table["class"].map({"ai": "human", "human": "ai"})
    table["from_setting"] = [settings[f][c] for f, c in zip(factor, table["class"])]
    table["to_setting"] = [settings[f][o] for f, o in zip(factor, other)]
    return table.assign(note="")[REVERSAL_COLUMNS]


def print_reversal(table: pd.DataFrame) -> None:
    for r in table[table["verdict"] != NOT_MADE].to_dict("records"):
        log.info(
            "audit: %-8s %-14s %-6s %d -> %d: accuracy %.3f -> %.3f, change %+.3f [%+.3f, %+.3f] -> %s",
            r["model"],
            r["factor"],
            r["class"],
            r["from_setting"],
            r["to_setting"],
            r["accuracy_as_is"],
            r["accuracy_normalised"],
            r["accuracy_change"],
            r["accuracy_change_ci_low"],
            r["accuracy_change_ci_high"],
            r["verdict"],
        )


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Cue reversal (`audit: {reversal: true}`), after the audit: table `audit_reversal`."""
    cfg = ctx.cfg
    if cfg.audit is None or not cfg.audit.reversal:
        return {}
    return reversal(cfg.audit, ctx.samples, ctx.detectors, ctx.tables, ctx.decode, cfg.seed, cfg.bootstrap)


def run_reversal(
    cfg: AuditConfig,
    samples: list[Sample],
    detectors: list[Detector],
    tables: dict[str, pd.DataFrame],
    run_dir: Path,
    policy: DecodePolicy,
    seed: int,
    resamples: int,
) -> dict[str, pd.DataFrame]:
    """`reversal`, its table written to run_dir (experiments.context.write_tables): outside a run."""
    return write_tables(run_dir, reversal(cfg, samples, detectors, tables, policy, seed, resamples))


def reversal(
    cfg: AuditConfig,
    samples: list[Sample],
    detectors: list[Detector],
    tables: dict[str, pd.DataFrame],
    policy: DecodePolicy,
    seed: int,
    resamples: int,
) -> dict[str, pd.DataFrame]:
    """After the audit (its `audit_files` and `audit_scores` in `tables`): the reversal of each
    reversible factor the audit names, on the files it audited: `audit_reversal`."""
    meta, as_is = tables.get("audit_files"), tables.get("audit_scores")
    if meta is None or as_is is None:
        return {}
    audited = set(meta["sample"])
    chosen = [s for s in samples if s.id in audited]
    factors = [f for f in cfg.factors if f in REVERSIBLE]
    reversed_scores, settings = reversal_scores(chosen, detectors, meta, factors, policy)
    table = reversal_table(as_is, reversed_scores, settings, cfg.min_shift, resamples, seed)
    if reasons := {f: why_not_made(meta, f) for f in factors if f not in settings}:
        for factor, why in reasons.items():
            log.warning("audit: %s reversal not made: %s", factor, why)
        missing = not_made_rows(detectors, reasons)
        table = missing if table.empty else pd.concat([table, missing], ignore_index=True)
    print_reversal(table)
    return {"audit_reversal": table}
