"""Writes notebooks/*.ipynb from the cells below, without outputs:
    python tools/make_notebooks.py
Edit the cells here, not in Jupyter: cell ids are derived from the notebook's name and the
cell's place, so running this again changes a notebook only where a cell changed. The test
suite executes every notebook against small runs (tests/test_notebooks.py)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = """import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

# The run to explore: $ARTXAI_RUN, else the default study's folder.
RUN = Path(os.environ.get("ARTXAI_RUN", "../results/robustness")).resolve()
assert (RUN / "manifest.json").is_file(), f"{RUN} is not a finished run: run `make demo` first, or set ARTXAI_RUN"
print("run folder:", RUN)"""

TOUR = [
    new_markdown_cell(
        "# A tour of a robustness run\n\nWhich edits fool the model (turn a right answer into a wrong one), how much "
        "editing it takes, "
        "which way the scores move, and the most fragile subject."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        'scores = pd.read_parquet(RUN / "scores.parquet")\nsummary = pd.read_parquet(RUN / "summary.parquet")\n'
        'print(len(scores), "rows:", scores["sample"].nunique(), "samples x", scores["variant"].nunique(), "variants '
        'x", scores["model"].nunique(), "models")\n'
        "scores.head()"
    ),
    new_markdown_cell(
        "## Which edits fool it, and from what severity\n\n`fooling_rate` is the share of the images the model gets "
        "right unedited that an edit "
        "makes it get wrong (`n_correct` of them), with a 95 % Wilson interval. One panel per edit family, from the "
        "unedited image (◇) to the "
        "harshest edit tried, one y-scale for all."
    ),
    new_code_cell(
        "from experiments.report.severity_figures import severity_curves\n\n"
        'fooling = summary.rename(columns={"fooling_ci_low": "fooling_rate_ci_low", "fooling_ci_high": '
        '"fooling_rate_ci_high"})\n'
        'fig = severity_curves(fooling, "fooling_rate", None, ylabel="share of right answers fooled", cols=3)\n'
        "plt.show()\n"
        'summary[summary["op"] != "identity"].sort_values("fooling_rate", ascending=False).head(10)[\n'
        '    ["model", "variant", "fooling_rate", "fooling_ci_low", "fooling_ci_high", "n_correct", '
        '"mean_delta_margin", "share_towards_ai"]\n'
        "].round(3)"
    ),
    new_markdown_cell(
        "## Subject x kind of edit: which way the score moves\n\n`delta_margin` is the change of log p(AI) − log "
        "p(human) against the same "
        "model's unedited image: it does not saturate where p(AI) is near 0 or 1. Red: towards AI; blue: towards human."
    ),
    new_code_cell(
        'model = scores["model"].iloc[0]\n'
        'edited = scores[(scores["model"] == model) & (scores["variant"] != "identity")]\n'
        'pivot = edited.pivot_table(index="subject", columns="op", values="delta_margin", aggfunc="mean")\n'
        "limit = max(1.0, float(pivot.abs().max().max()))\n"
        'fig, ax = plt.subplots(figsize=(9, 0.35 * len(pivot) + 2), layout="constrained")\n'
        'sns.heatmap(pivot, cmap="RdBu_r", center=0, vmin=-limit, vmax=limit, annot=len(pivot) <= 20, fmt=".1f", '
        'annot_kws={"size": 8}, ax=ax, cbar_kws={"label": "mean Δ margin (log-odds)"})\n'
        'ax.set_title(f"{model}: mean change of the margin per subject and kind of edit")\n'
        'ax.set_xlabel("")\n'
        "plt.show()"
    ),
    new_markdown_cell(
        "## The most fragile subject\n\nAmong the images the model gets right unedited: the one fooled by the most "
        "edit families "
        "(`minimal_flip`: one row per sample x model x family, with the mildest severity that fools it), ties broken "
        "by the mean |Δ margin|."
    ),
    new_code_cell(
        'flips = pd.read_parquet(RUN / "minimal_flip.parquet")\n'
        'right = flips[flips["correct_unedited"]].assign(fooled=lambda d: d["min_fooling_severity"].notna())\n'
        'moved = scores[scores["variant"] != "identity"].assign(abs_margin=lambda d: '
        'd["delta_margin"].abs()).groupby(["model", "sample"])["abs_margin"].mean()\n'
        'per = right.groupby(["model", "sample"]).agg(subject=("subject", "first"), fooled_by=("fooled", "sum"), '
        'families=("series", "size"))\n'
        'per["mean_abs_delta_margin"] = moved.reindex(per.index)\n'
        'for m, g in per.groupby(level="model", sort=False):\n'
        '    top = g.sort_values(["fooled_by", "mean_abs_delta_margin"], ascending=False).iloc[0]\n'
        "    print(f\"{m}: most fragile subject is {top['subject']!r} (fooled by {top['fooled_by']} of "
        "{top['families']} edit families)\")\n"
        'right[right["fooled"]].sort_values("min_fooling_strength")[["model", "subject", "series", '
        '"min_fooling_severity", "harshest_severity"]].head(10)'
    ),
]

EXPLANATIONS = [
    new_markdown_cell(
        "# Explanations: how far to trust the heatmaps\n\nFaithfulness against a random map (does deleting the pixels "
        "a method ranks "
        "first hurt the score more than deleting random ones?), drift (does a map move when an edit moves the score?) "
        "and the sanity check "
        "(does a map depend on the model at all?)."
    ),
    new_code_cell(SETUP + '\nassert (RUN / "explanations.parquet").is_file(), "this run has no explain: section"'),
    new_code_cell(
        'maps = pd.read_parquet(RUN / "explanations.parquet")\nsanity = pd.read_parquet(RUN / '
        '"explanation_sanity.parquet")\n'
        'versus = pd.read_parquet(RUN / "explanation_vs_random.parquet")\n'
        'versus.pivot_table(index=["model", "method"], columns=["metric", "images"], values="vs_random", '
        'aggfunc="first")'
    ),
    new_markdown_cell(
        "## Which methods beat a random map\n\nPaired difference of each method's faithfulness AUC (in the target's "
        "log-odds) to the "
        "`random` baseline's on the same unedited images, with its 95 % bootstrap interval. Deletion: below 0 is "
        "better; insertion: above 0."
    ),
    new_code_cell(
        'unedited = versus[(versus["images"] == "unedited") & versus["metric"].isin(["deletion_auc_logit", '
        '"insertion_auc_logit"])]\n'
        'fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")\n'
        'for ax, (metric, df) in zip(axes, unedited.groupby("metric", sort=True)):\n'
        '    df = df[df["model"] == df["model"].iloc[0]]\n'
        '    ax.errorbar(df["difference"], df["method"], xerr=[df["difference"] - df["ci_low"], df["ci_high"] - '
        'df["difference"]], fmt="o", capsize=3)\n'
        '    ax.axvline(0, color="grey", linewidth=0.8)\n'
        '    better = "lower is better" if metric.startswith("deletion") else "higher is better"\n'
        "    ax.set_title(f\"{metric.split('_')[0]} AUC − random ({better})\", fontsize=10)\n"
        '    ax.set_xlabel("difference (log-odds x fraction)")\n'
        "plt.show()"
    ),
    new_markdown_cell(
        "## Does a map move when the score moves?\n\nFor every edited image: the change of the margin (|Δ margin|) "
        "against how much its map "
        "changed (1 − Spearman with the unedited image's map)."
    ),
    new_code_cell(
        'edited = maps[maps["variant"] != "identity"].assign(abs_delta=lambda d: d["delta_margin"].abs(), '
        'map_change=lambda d: 1 - d["drift_spearman"])\n'
        'print(edited.groupby("method")[["abs_delta", "map_change"]].corr(method="spearman").xs("abs_delta", '
        'level=1)["map_change"].round(3).rename("rank correlation of |Δ margin| with map change"))\n'
        'g = sns.lmplot(data=edited, x="abs_delta", y="map_change", col="method", col_wrap=4, height=2.3, '
        'scatter_kws={"s": 10})\n'
        'g.set_axis_labels("|Δ margin|", "map change")\n'
        "plt.show()"
    ),
    new_markdown_cell("## Sanity: similarity to the trained map as layers are randomised from the top"),
    new_code_cell(
        "from matplotlib.ticker import MaxNLocator\n\n"
        "if len(sanity):\n"
        '    g = sns.relplot(data=sanity, x="randomised_layers", y="spearman", hue="method", kind="line", marker="o", '
        "height=3.2, aspect=1.6)\n"
        "    g.ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # a whole number of layers\n"
        '    g.set_axis_labels("layers randomised, from the top", "Spearman ρ with the trained map")\n'
        "    plt.show()\n"
        "else:\n"
        '    print("this run skipped the sanity check (explain.sanity: false)")'
    ),
    new_markdown_cell(
        "## The grid for the sample whose maps moved most\n\nShown at most 1000 px wide (a JPEG copy): the full-size "
        "PNG is in the run folder."
    ),
    new_code_cell(
        "import io\n\n"
        "from IPython.display import Image, display\n"
        "from PIL import Image as Picture\n\n"
        'sample = edited.groupby("sample")["map_change"].mean().idxmax()\n'
        'rows = maps[maps["sample"] == sample]\n'
        'model = rows["model"].iloc[0]\n'
        'if "overlay" in rows and rows["overlay"].notna().any():  # explain/overlays/<model>/<sample slug>/<file>: the '
        "grid shares the slug\n"
        '    grid = RUN / "explain" / "grids" / model / (Path(rows["overlay"].dropna().iloc[0]).parent.name + ".png")\n'
        '    print(f"maps moved most for {sample!r}; grid: {grid.relative_to(RUN)}")\n'
        "    with Picture.open(grid) as picture:\n"
        '        picture = picture.convert("RGB")\n'
        "        picture.thumbnail((1000, 1000))\n"
        "        buffer = io.BytesIO()\n"
        '        picture.save(buffer, format="JPEG", quality=85)\n'
        '    display(Image(data=buffer.getvalue(), format="jpeg"))\n'
        "else:\n"
        '    print(f"maps moved most for {sample!r}; this run drew no pictures (explain.pictures: false)")'
    ),
    new_markdown_cell(
        "## The checks of the maps: pass, fail or inconclusive\n\nEach check is a difference from a reference "
        "(a random map, a blurred random map, a threshold) with its 95 % interval and n: *pass* when the interval lies "
        "wholly on the better side, *fail* when wholly on the worse side, *inconclusive* when it crosses the "
        "reference (the study cannot tell at this n). `n_to_pass`: the n at which the observed difference, its "
        "spread shrinking as 1/sqrt(n), would pass (NaN: not reachable, the estimate is on the worse side)."
    ),
    new_code_cell(
        'if (RUN / "explanation_checks.parquet").is_file():\n'
        '    checks = pd.read_parquet(RUN / "explanation_checks.parquet")\n'
        '    measured = checks[checks["verdict"] != "not_measured"]\n'
        '    print(measured.groupby("model")["verdict"].value_counts().unstack(fill_value=0))\n'
        "    print(f\"n from {measured['n'].min()} to {measured['n'].max()}\")\n"
        '    display(checks.pivot_table(index=["model", "method"], columns="check", values="verdict", aggfunc="first", '
        "sort=False))\n"
        '    display(checks.loc[checks["verdict"] == "inconclusive", ["model", "method", "check", "n", "difference", '
        '"ci_low", "ci_high", "n_to_pass"]].round(2))\n'
        "else:\n"
        '    print("this run has no checks of the maps")'
    ),
]

TRAINING = [
    new_markdown_cell(
        "# Training and evaluation\n\nThe model cards (what each model was trained on), the training history, the "
        "evaluation with "
        "intervals, and robustness at dataset scale."
    ),
    new_code_cell(SETUP),
    new_code_cell(
        "import json\n\n"
        'cards = {p.stem.removesuffix(".model_card"): json.loads(p.read_text()) for p in sorted((RUN / '
        '"models").glob("*.model_card.json"))}\n'
        "for name, card in cards.items():\n"
        '    data = card.get("data")\n'
        "    if data:\n"
        "        print(f\"{name}: trained on {data['train']['images']} images {data['train']['label']}, "
        "{data['unreadable_files']} unreadable; best validation accuracy {card['training']['best_val_accuracy']:.3f} "
        "at epoch {card['training']['best_epoch']}\")\n"
        "    else:\n"
        "        print(f\"{name}: {card.get('note', 'no training record')} ({card.get('source')})\")"
    ),
    new_markdown_cell(
        "## Training history\n\nLoss and accuracy per epoch on the training and validation images, for the models "
        "artxai trained."
    ),
    new_code_cell(
        "from IPython.display import Image, display\n\n"
        "for name in cards:\n"
        '    figure = RUN / "figures" / f"history_{name}.png"\n'
        "    if figure.is_file():\n"
        '        print(f"{name}:")\n'
        "        display(Image(filename=str(figure), width=700))\n"
        "    else:\n"
        '        print(f"{name}: no training history (not trained by artxai: loaded from a file)")'
    ),
    new_markdown_cell(
        "## Evaluation on the unedited test images\n\nProportions with 95 % Wilson intervals at their own n "
        "(precision: the images called "
        "AI; recall: the AI images; FPR: the human ones), F1, AUC, average precision and calibration error with a "
        "bootstrap."
    ),
    new_code_cell(
        'metrics = pd.read_parquet(RUN / "evaluation_metrics.parquet")\n'
        'fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")\n'
        'for model, df in metrics.groupby("model", sort=False):\n'
        '    ax.errorbar(df["value"], df["metric"], xerr=[df["value"] - df["ci_low"], df["ci_high"] - df["value"]], '
        'fmt="o", capsize=3, label=model, alpha=0.85)\n'
        "ax.set_xlim(0, 1.02)\n"
        'ax.set_xlabel("value with its 95 % interval")\n'
        "ax.invert_yaxis()\n"
        "ax.legend()\n"
        "plt.show()\n"
        "metrics.round(3)"
    ),
    new_code_cell(
        'groups = pd.read_parquet(RUN / "evaluation_groups.parquet")\n'
        "if len(groups):\n"
        "    display(groups.round(3))\n"
        "else:\n"
        '    print("no style or generator groups: the dataset does not record them (generic layout or a folder of '
        'images)")'
    ),
    new_markdown_cell(
        "## Robustness at dataset scale\n\nAccuracy under each edit family, from the unedited value (◇) to the "
        "harshest edit, with its interval."
    ),
    new_code_cell(
        "from experiments.report.severity_figures import severity_curves\n\n"
        'robust = pd.read_parquet(RUN / "robustness_metrics.parquet")\n'
        'if robust["severity"].notna().any():\n'
        '    fig = severity_curves(robust, "accuracy", None, ylabel="accuracy", cols=3)\n'
        "    plt.show()\n"
        'robust[["model", "variant", "n", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "fooling_rate", '
        '"n_correct", "roc_auc", "delta_p_ai_median"]].round(3)'
    ),
    new_markdown_cell(
        "## Shortcut audit: does the detector look at the art or at the file?\n\nWith an `audit:` section. First the "
        "metadata-only probe: how well the files' facts alone (pixel size, aspect, format, estimated JPEG quality, "
        "file size, EXIF / ICC) predict the label, cross-validated. Near 0.5, the files offer no shortcut; near 1, a "
        "detector could score well without looking at the art."
    ),
    new_code_cell(
        'from IPython.display import display\n\nif (RUN / "audit_probe.parquet").is_file():\n    probe = '
        'pd.read_parquet(RUN / "audit_probe.parquet")\n    p = probe.iloc[0]\n    print(f"metadata-only probe: '
        'ROC-AUC {p.roc_auc:.3f} [{p.ci_low:.3f}, {p.ci_high:.3f}] (n={p.n}, {p.folds}-fold)")\n    '
        'display(probe.drop(columns="features").round(3))\nelse:\n    print("this run has no audit: section")'
    ),
    new_markdown_cell(
        "Then the score shifts: each image scored as it is and with one factor of its file normalised (`jpeg`, `png`, "
        "`size`, `metadata`, `all`). `depends`: the mean p(AI) or the class's accuracy moves by at least `min_shift`, "
        "with a paired interval that excludes 0."
    ),
    new_code_cell(
        'if (RUN / "audit.parquet").is_file():\n    audit = pd.read_parquet(RUN / "audit.parquet")\n    flagged = '
        'audit[audit["verdict"] == "depends"]\n    print("the scores depend on:", ", ".join(f"{m} {f} ({c})" for m, '
        'f, c in zip(flagged["model"], flagged["factor"], flagged["class"])) or "no factor")\n    fig, ax = '
        'plt.subplots(figsize=(7, 0.3 * len(audit) + 1.2))\n    labels = audit["model"] + " " + audit["factor"] + " '
        '(" + audit["class"] + ")"\n    ax.errorbar(audit["shift"], labels, xerr=[audit["shift"] - '
        'audit["shift_ci_low"], audit["shift_ci_high"] - audit["shift"]], fmt="o", capsize=3)\n    ax.axvline(0, '
        'color="grey", linewidth=0.8)\n    ax.set_xlabel("shift in mean p(AI), normalised - as is (95% CI)")\n    '
        'plt.show()\n    display(audit[["model", "factor", "class", "n", "shift", "shift_ci_low", "shift_ci_high", '
        '"accuracy_as_is", "accuracy_normalised", "verdict"]].round(3))'
    ),
    new_markdown_cell(
        "## Cross-set evaluation\n\nWith an `eval_sets:` section: the same models on several sets, and the drop from "
        "the first set (paired where the sets hold the same files). With a `cross_generator:` section, the matrix of "
        "models trained on one generator and tested on each."
    ),
    new_code_cell(
        'if (RUN / "eval_sets.parquet").is_file():\n    sets = pd.read_parquet(RUN / "eval_sets.parquet")\n    for r '
        'in sets.itertuples():\n        print(f"{r.set:>24} {r.model}: accuracy {r.accuracy:.3f} '
        '[{r.accuracy_ci_low:.3f}, {r.accuracy_ci_high:.3f}], AUC {r.roc_auc:.3f} (n={r.n})")\n    '
        'display(sets[["set", "model", "n", "accuracy", "roc_auc", "average_precision", "fpr", "fnr", '
        '"accuracy_drop", "accuracy_drop_ci_low", "accuracy_drop_ci_high", "paired"]].round(3))\nelse:\n    '
        'print("this run has no eval_sets: section")'
    ),
    new_code_cell(
        'if (RUN / "cross_generator.parquet").is_file():\n    matrix = pd.read_parquet(RUN / '
        '"cross_generator.parquet")\n    for model, df in matrix.groupby("model"):\n        fig, ax = '
        'plt.subplots(figsize=(6, 3))\n        sns.heatmap(df.pivot(index="trained_on", columns="tested_on", '
        'values="roc_auc"), annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, center=0.5, ax=ax)\n        '
        'ax.set_title(f"{model}: ROC-AUC, trained on (+ humans) x tested on")\n        plt.show()'
    ),
]

NOTEBOOKS = {
    "01_robustness_tour.ipynb": TOUR,
    "02_explanations.ipynb": EXPLANATIONS,
    "03_training_and_evaluation.ipynb": TRAINING,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        for i, cell in enumerate(cells):
            cell["id"] = f"{name[:2]}-{i:02d}"  # stable: a rerun changes only the cells that changed
        nb = new_notebook(
            cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        )
        nbformat.write(nb, Path(__file__).resolve().parents[1] / "notebooks" / name)
        print("wrote", name)


if __name__ == "__main__":
    main()
