"""The report's generator pages: which generators each model catches (table `generators`, one
sentence on its findings card), seen vs unseen, human false positives per source, and one row
per held-out generator of the cross-generator matrix ([Generators](generators.md))."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.report.figures import plain_label, plt, save
from experiments.report.html_tables import Tint, table_block, with_interval
from experiments.report.run_data import ReportRun, read_table
from experiments.stages.cross_generator import held_out_rows, transfer
from experiments.stages.generators import sentence, summary

SEEN_COLOURS = {"seen": "tab:green", "unseen": "tab:red", "unknown": "tab:grey", "": "tab:purple"}


def add_generator_findings(findings: list[dict], table: pd.DataFrame | None) -> None:
    """Each findings card's generator sentence ('catches 2 of 6 generators; misses ...'), when
    the run has a `generators` table; with the seen / unseen pools and human art called AI."""
    for f in findings:
        found = summary(table, f["model"]) if table is not None and len(table) else None
        f["generators"] = (
            None
            if found is None
            else {"sentence": sentence(found)} | {k: found[k] for k in ("seen", "unseen", "human")}
        )


def detection_figure(table: pd.DataFrame, model: str, path: Path) -> Path:
    """Detection rate per generator (coloured seen / unseen) and false-positive rate per human
    source, each with its 95 % Wilson interval and n; the band: all human art called AI with its
    interval, which a caught generator's interval lies right of."""
    df = table[(table["model"] == model) & table["kind"].isin(["generator", "source"])].iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(df) + 1.4), layout="constrained")
    labels = [f"{plain_label(n)} (n={k_n})" for n, k_n in zip(df["name"], df["n"])]
    colours = [SEEN_COLOURS.get(s, "tab:grey") for s in df["seen"]]
    ax.barh(
        labels,
        df["rate"],
        xerr=[df["rate"] - df["ci_low"], df["ci_high"] - df["rate"]],
        color=colours,
        alpha=0.8,
        capsize=3,
    )
    human = table[(table["model"] == model) & (table["name"] == "all sources")]
    if len(human):  # a generator is caught when its interval lies right of this band (stages.generators.judge)
        h = human.iloc[0]
        ax.axvspan(h["ci_low"], h["ci_high"], color="tab:purple", alpha=0.15, label="_band")
        ax.axvline(h["rate"], color="tab:purple", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share called AI (95% Wilson CI); band: all human art called AI")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.8) for c in SEEN_COLOURS.values()]
    ax.legend(
        handles,
        ["seen generator", "unseen generator", "generator (training unknown)", "human source"],
        fontsize=7,
        loc="lower right",
    )
    ax.set_title(f"{model}: called AI, per generator and source")
    return save(fig, path)


def generators_block(table: pd.DataFrame) -> dict:
    """The generators table as the report shows it: rates with their intervals."""
    shown = table.assign(
        rate=[with_interval(v, lo, hi, 3) for v, lo, hi in zip(table["rate"], table["ci_low"], table["ci_high"])]
    )
    return table_block(shown[["model", "kind", "name", "seen", "metric", "k", "n", "rate"]], "generators", {})


def held_out_block(matrix: pd.DataFrame) -> dict | None:
    """One row per held-out generator: the leave-one-out copy on the generator it never saw,
    beside the model trained on all generators, on the same images."""
    rows = held_out_rows(matrix)
    if rows.empty:
        return None
    full = matrix[matrix["trained_on"] == "all"].set_index(["model", "tested_on"])["recall_ai"]
    shown = pd.DataFrame(
        {
            "model": rows["model"],
            "held-out generator": rows["held_out"],
            "n_ai": rows["n_ai"],
            "n_human": rows["n_human"],
            "copy at chance": [
                "yes: not read" if c else "" for c in rows.get("at_chance", pd.Series(False, index=rows.index))
            ],
            "detected when held out": [
                with_interval(v, lo, hi, 3)
                for v, lo, hi in zip(rows["recall_ai"], rows["recall_ai_ci_low"], rows["recall_ai_ci_high"])
            ],
            "detected, trained on all": [
                full.get((m, g), float("nan")) for m, g in zip(rows["model"], rows["held_out"])
            ],
            "ROC-AUC when held out": [
                with_interval(v, lo, hi, 3)
                for v, lo, hi in zip(rows["roc_auc"], rows["roc_auc_ci_low"], rows["roc_auc_ci_high"])
            ],
            "human FPR": [
                with_interval(v, lo, hi, 3) for v, lo, hi in zip(rows["fpr"], rows["fpr_ci_low"], rows["fpr_ci_high"])
            ],
        }
    )
    return table_block(shown, "held_out", {"detected, trained on all": Tint("rate")})


def transfer_lines(matrix: pd.DataFrame | None, resamples: int, seed: int) -> list[str]:
    """Per model and design, the copies' mean ROC-AUC on the generators they never saw, over the
    copies that beat chance (stages.cross_generator.transfer), in words."""
    if matrix is None or matrix.empty or "at_chance" not in matrix:
        return []
    lines = []
    for t in transfer(matrix, resamples, seed):
        head = f"{t['model']}, {t['what']}: "
        if not t["n"]:
            lines.append(head + f"all {t['copies']} copies at chance; no mean is read from them")
            continue
        interval = f" [{t['ci_low']:.2f}, {t['ci_high']:.2f}]" if t["n"] > 1 else " (one copy: no interval)"
        lines.append(
            head + f"mean ROC-AUC on unseen generators {t['mean_roc_auc']:.2f}{interval} over the {t['n']} of "
            f"{t['copies']} copies that beat chance"
            + (f" ({t['at_chance']} at chance, left out)" if t["at_chance"] else "")
        )
    return lines


def generators_context(
    table: pd.DataFrame | None, matrix: pd.DataFrame | None, report: Path, bootstrap: tuple[int, int] = (1000, 0)
) -> dict[str, object]:
    """The report's generator section, from tables `generators` and `cross_generator`: the
    table, a figure per model, the held-out rows, the copies' means (`bootstrap`: resamples, seed)."""
    present = table is not None and len(table) > 0
    detection_figures = []
    for m in table["model"].unique() if present else []:
        path = detection_figure(table, m, report / "img" / f"generators_{m}.png")
        detection_figures.append(
            {"src": path.relative_to(report).as_posix(), "alt": f"Detection per generator, {m}", "caption": ""}
        )
    return {
        "generators_table": generators_block(table) if present else None,
        "generators_figures": detection_figures,
        "held_out_table": held_out_block(matrix) if matrix is not None else None,
        "transfer_lines": transfer_lines(matrix, *bootstrap),
    }


def generators_section(run: ReportRun) -> dict[str, object]:
    """The page section: per generator, seen vs unseen, and the held-out rows of the matrix."""
    return generators_context(
        read_table(run.run_dir, "generators"),
        read_table(run.run_dir, "cross_generator"),
        run.report,
        (run.resamples, run.seed),
    )
