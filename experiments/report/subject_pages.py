"""The report's subject pages: one page per sample (the most fragile ones when there are many),
with its picture, every edit the run scored (re-made with the run's seeds), its scores, its
attribution grids and the mildest edit of each family that fools each model; and the index
page's list of them (`subjects_section`). The pages are written on a thread pool: they are
independent, and their decoding, resizing, encoding and fsyncs release the GIL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from augment import IDENTITY, SINGLE_OPS, Variant, compile_variant, expand_grid
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, display_resize
from experiments.execution.threads import thread_pool
from experiments.inputs.images import picture_bytes
from experiments.rundir.names import MAX_GALLERY, MAX_SUBJECT_PAGES, gallery_dir, slug
from experiments.report.html_tables import Tint, table_block
from augment.naming import describe, number
from experiments.report.pages import write_page
from experiments.report.run_data import ReportRun, read_table
from experiments.rundir.atomic import atomic_write, atomic_write_bytes
from experiments.stages.scoring.tables import graded_edits, series_titles
from experiments.stages.scoring.batches import edited_image
from xai.text import printable

THUMBNAIL_SIZE = 320


def save_thumbnail(pixels, out: Path, size: int) -> None:
    small = Image.fromarray(display_resize(pixels, size))
    atomic_write(out, lambda tmp: small.save(tmp, format="JPEG", quality=85))


def variant_gallery(
    pixels, sample: str, variants: list[Variant], seed: int, rows: pd.DataFrame, out_dir: Path
) -> list[dict]:
    """A small picture of every edit the run scored, made again with the run's own seeds (so it
    is the image that was scored), captioned with each model's p_ai. Edits at full resolution
    cost as much as in scoring: they run on threads (OpenCV releases the GIL)."""
    p_ai: dict[str, dict[str, float]] = {}  # variant -> model -> its first p_ai (a pivot, without pandas')
    for variant_id, model, p in zip(rows["variant"], rows["model"], rows["p_ai"]):
        if p == p:  # not NaN
            p_ai.setdefault(variant_id, {}).setdefault(model, float(p))
    models = sorted({m for by_model in p_ai.values() for m in by_model})
    shown = [v for v in variants[:MAX_GALLERY] if v.id in p_ai]  # an edit that failed for this image is in skipped

    def make(variant: Variant) -> bool:
        out = out_dir / f"{slug(variant.id)}.jpg"
        if not out.is_file():  # small runs: scoring made it already (experiments.rundir.names)
            edited, _ = edited_image(pixels, sample, variant, compile_variant(variant), seed)  # as the scorer made it
            if edited is None:
                return False
            atomic_write_bytes(out, picture_bytes(edited))
        return True

    with thread_pool() as pool:
        made = list(pool.map(make, shown))
    gallery = []
    for variant, ok in zip(shown, made):
        if not ok:
            continue
        scores = ", ".join(f"{m} {p_ai[variant.id].get(m, float('nan')):.2f}" for m in models)
        label = describe(variant.id) + (f" (draw {variant.replicate + 1})" if variant.replicate else "")
        src = f"../img/variants/{out_dir.name}/{slug(variant.id)}.jpg"
        alt = f"{printable(rows['subject'].iloc[0])}, {label}"
        gallery.append({"src": src, "caption": f"{label}: p(AI) {scores}", "alt": alt})
    return gallery


def subject_flips(
    flips: pd.DataFrame, scores: pd.DataFrame, sample: str, titles: dict[frozenset, dict[str, str]] | None = None
) -> dict:
    """Per model: the mildest severity of each edit family that fools it on this image.
    `titles` caches the family titles per set of edits scored (most images share one)."""
    mine = flips[flips["sample"] == sample] if "sample" in flips else flips.iloc[0:0]
    if mine.empty:
        return {"html": "", "constants": ""}
    rows = scores[scores["sample"] == sample]
    titles = {} if titles is None else titles
    key = frozenset(rows["variant"])
    if key not in titles:
        titles[key] = series_titles(graded_edits(rows))
    titles = titles[key]
    neutral = pd.Series([float(SINGLE_OPS[op].neutral) for op in mine["op"]], index=mine.index, dtype=float)
    span = (mine["harshest_severity"] - neutral).abs()
    relative = (mine["min_fooling_strength"] / span).where(mine["correct_unedited"].astype(bool), 9)
    mine = mine.assign(_order=relative.fillna(2)).sort_values(
        ["model", "_order"], kind="stable"
    )  # mildest for its grid first
    fooled_from = [
        "—" if not ok else "not fooled" if np.isnan(v) else number(v)
        for v, ok in zip(mine["min_fooling_severity"], mine["correct_unedited"])
    ]
    df = pd.DataFrame({
        "model": mine["model"], "edit": mine["series"].map(lambda s: titles.get(s, s)), "fooled from": fooled_from,
        "harshest tried": mine["harshest_severity"].map(number),
    })  # fmt: skip
    return table_block(df, "flips", {})


def fragility_order(scores: pd.DataFrame) -> pd.DataFrame:
    """Per sample, in the scores' order: the share of its edits that fooled a model and the mean
    |Δ margin| of its edits; most fragile = most fooled, then most moved."""
    edited = scores[scores["variant"] != IDENTITY]
    fragility = edited.assign(a=edited["delta_margin"].abs()).groupby("sample", sort=False)["a"].mean()
    fooled = edited.groupby("sample", sort=False)["fooled"].mean()
    fragility = fragility.reindex(scores["sample"].unique()).fillna(0)
    return pd.DataFrame({"fooled": fooled.reindex(fragility.index).fillna(0), "margin": fragility})


def subject_tables(rows: pd.DataFrame, explanations: pd.DataFrame | None, sample: str) -> tuple[dict, dict | None]:
    """A subject's scores under every edit, largest |Δ margin| first, and the drift of its maps."""
    table = rows.assign(abs_delta=rows["delta_margin"].abs()).sort_values("abs_delta", ascending=False, kind="stable")
    draw = lambda v: describe(v) + (f" (draw {int(v.rsplit('#', 1)[1]) + 1})" if "#" in v else "")  # noqa: E731
    shown = pd.DataFrame({
        "edit": table["variant"].map(draw),
        "model": table["model"], "p(AI)": table["p_ai"], "Δ p(AI)": table["delta_p_ai"],
        "Δ margin": table["delta_margin"],
        "predicted": table["predicted"], "fooled": table["fooled"].map({True: "fooled", False: ""}),
        "corrected": table["corrected"].map({True: "corrected", False: ""}),
    })  # fmt: skip
    tints = {"p(AI)": Tint("p_ai"), "Δ p(AI)": Tint("signed", limit=1.0), "Δ margin": Tint("signed")}
    scores_block = table_block(shown, "scores", tints)
    drift = None
    if explanations is not None:
        d = explanations[(explanations["sample"] == sample) & (explanations["variant"] != IDENTITY)]
        if len(d):
            columns = ["model", "method", "variant", "drift_spearman", "drift_top_iou", "deletion_auc", "insertion_auc"]
            d = d.assign(variant=d["variant"].map(describe))[columns]
            drift = table_block(d, "drift", {"drift_spearman": Tint("rate")})
    return scores_block, drift


def subject_grids(run: ReportRun, rows: pd.DataFrame, name: str) -> list[dict]:
    """The explanation stage's grids of this subject, one per model, copied into the report."""
    grids = []
    for model in run.models:
        grid = run.run_dir / "explain" / "grids" / model / f"{name}.png"
        if grid.is_file():
            copied = run.copy(grid, run.img / "grids" / model / f"{name}.png")
            alt = (
                f"Attribution maps of {printable(rows['subject'].iloc[0])}, {model}: the model's input, then each "
                "method's map, unedited and under its largest edits"
            )
            grids.append({"src": "../" + copied.relative_to(run.report).as_posix(), "alt": alt, "caption": alt})
    return grids


def subject_pictures(run: ReportRun, sample: str, rows: pd.DataFrame, variants: list[Variant], policy: DecodePolicy):
    """(thumbnail path in the report, gallery) of a sample, decoded as the run decoded it;
    (None, []) when its file has moved or become unreadable since the run."""
    path = run.manifest.get("sample_paths", {}).get(sample)
    try:
        pixels = decode_image(Path(path), policy).pixels if path else None
    except ImageRejected:
        pixels = None  # moved or unreadable since the run: the page goes without pictures of it
    if pixels is None:
        return None, []
    name = slug(sample)
    save_thumbnail(pixels, run.img / "subjects" / f"{name}.jpg", THUMBNAIL_SIZE)
    gallery = variant_gallery(pixels, sample, variants, run.seed, rows, gallery_dir(run.report, sample))
    return f"img/subjects/{name}.jpg", gallery


def subject_page(run: ReportRun, sample: str, context: dict) -> dict:
    """Write one sample's page; return its index entry (without its place in the order)."""
    rows = run.scores[run.scores["sample"] == sample]
    name = slug(sample)
    img_rel, gallery = subject_pictures(run, sample, rows, context["variants"], context["policy"])
    scores_block, drift = subject_tables(rows, context["explanations"], sample)
    base = rows[rows["variant"] == IDENTITY]
    verdict = [{"model": r.model, "p_ai": r.p_ai, "correct": bool(r.correct)} for r in base.itertuples()]
    thumb = f"../{img_rel}" if img_rel else None
    subject = {
        "name": printable(rows["subject"].iloc[0]),
        "truth": rows["truth"].iloc[0],
        "thumb": thumb,
        "unedited": verdict,
    }
    about = {"name": run.manifest["run"], "folder": str(run.run_dir), "versions": run.manifest["versions"]}
    flips = subject_flips(run.flips, run.scores, sample, context["family_titles"])
    write_page(
        run.report / "subjects" / f"{name}.html", "subject.html.j2", root="../", run=about, subject=subject,
        scores_table=scores_block, grids=subject_grids(run, rows, name), drift_table=drift, gallery=gallery,
        flips=flips,
    )  # fmt: skip
    return subject | {"href": f"subjects/{name}.html", "thumb": img_rel}


def subjects_section(run: ReportRun) -> dict[str, object]:
    """Write the subject pages (first: the findings link to them, through `run.pages`); their
    index entries, most fragile first, and a note when pages were left out."""
    order = fragility_order(run.scores)
    chosen = set(order.sort_values(["fooled", "margin"], ascending=False, kind="stable").head(MAX_SUBJECT_PAGES).index)
    many = len(order) > MAX_SUBJECT_PAGES
    note = f"Pages for the {MAX_SUBJECT_PAGES} most fragile of {len(order):,} samples." if many else ""
    policy = DecodePolicy(**run.snapshot.get("preprocess", {}))  # decoded as the run decoded it
    context = {
        "variants": expand_grid(run.snapshot.get("augment", {})), "policy": policy, "family_titles": {},
        "explanations": read_table(run.run_dir, "explanations"),
    }  # fmt: skip
    samples = [s for s in run.scores["sample"].unique() if s in chosen]
    with thread_pool() as pool:  # each page's decoding, resizing, encoding and fsync overlap the next's
        pages = list(pool.map(lambda sample: subject_page(run, sample, context), samples))
    entries = []
    for sample, entry in zip(samples, pages):
        run.pages[sample] = entry["href"]
        fragile = {"fooled": float(order.at[sample, "fooled"]), "margin": float(order.at[sample, "margin"])}
        entries.append(entry | fragile)
    entries.sort(key=lambda e: (-e["fooled"], -e["margin"]))  # most fragile first
    return {"subjects": entries, "subjects_note": note}
