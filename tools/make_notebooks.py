"""Writes notebooks/*.ipynb from the cells below (outputs empty). The notebooks are the source of
truth once edited in Jupyter; this script only made their first version:
    python tools/make_notebooks.py"""

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

NOTEBOOKS = {
    "01_robustness_tour.ipynb": [
        new_markdown_cell("# A tour of a robustness run\n\nLoad a run's score table, pivot it, plot how each edit moves p(AI), and find the most fragile subject."),
        new_code_cell(SETUP),
        new_code_cell('scores = pd.read_parquet(RUN / "scores.parquet")\nsummary = pd.read_parquet(RUN / "summary.parquet")\nprint(len(scores), "rows:", scores["sample"].nunique(), "samples x", scores["variant"].nunique(), "variants x", scores["model"].nunique(), "models")\nscores.head()'),
        new_markdown_cell("## Pivot: subject x edit, change in p(AI)\n\n`delta_p_ai` is each variant's p(AI) minus the same model's p(AI) on the unedited image."),
        new_code_cell('model = scores["model"].iloc[0]\npivot = scores[scores["model"] == model].pivot_table(index="subject", columns="op", values="delta_p_ai", aggfunc=lambda d: d.abs().mean())\npivot.round(3)'),
        new_code_cell('fig, ax = plt.subplots(figsize=(10, 4))\nsns.heatmap(pivot, cmap="Reds", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "mean |Δ p_ai|"})\nax.set_title(f"{model}: how far each kind of edit moves each subject")\nplt.show()'),
        new_markdown_cell("## Severity: does a stronger edit move the score further?"),
        new_code_cell('edited = summary[(summary["op"] != "identity") & summary["severity"].notna()]\ng = sns.relplot(data=edited, x="severity", y="mean_abs_delta_p_ai", hue="model", col="op", col_wrap=4, kind="line", marker="o", height=2.2, facet_kws={"sharex": False})\nplt.show()'),
        new_markdown_cell("## The most fragile subject"),
        new_code_cell('fragility = scores[scores["variant"] != "identity"].assign(abs_delta=lambda d: d["delta_p_ai"].abs()).groupby(["model", "subject"])["abs_delta"].mean()\nmost_fragile = fragility.groupby(level="model").idxmax().map(lambda key: key[1])\nfor m, subject in most_fragile.items():\n    print(f"{m}: most fragile subject is {subject!r} (mean |Δ p_ai| {fragility[(m, subject)]:.3f})")\nsubject = most_fragile.iloc[0]\nscores[(scores["subject"] == subject) & (scores["model"] == most_fragile.index[0])].sort_values("delta_p_ai", key=abs, ascending=False).head(8)[["variant", "p_ai", "delta_p_ai", "predicted", "flipped"]]'),
    ],
    "02_explanations.ipynb": [
        new_markdown_cell("# Explanations: how far to trust the heatmaps\n\nDrift (does a map move when an edit moves the score?), faithfulness (deletion / insertion AUC) and the sanity check (does a map depend on the model at all?)."),
        new_code_cell(SETUP + '\nassert (RUN / "explanations.parquet").is_file(), "this run has no explain: section"'),
        new_code_cell('maps = pd.read_parquet(RUN / "explanations.parquet")\nsanity = pd.read_parquet(RUN / "explanation_sanity.parquet")\nsummary = pd.read_parquet(RUN / "explanation_summary.parquet")\nsummary.round(3)'),
        new_markdown_cell("## Faithfulness against the random baseline\n\nA method is worth reading only where it beats `random`: lower deletion AUC, higher insertion AUC."),
        new_code_cell('fig, ax = plt.subplots(figsize=(6, 4))\nsns.scatterplot(data=summary, x="deletion_auc", y="insertion_auc", hue="method", style="model", s=80, ax=ax)\nax.set_xlabel("deletion AUC (lower is better)")\nax.set_ylabel("insertion AUC (higher is better)")\nplt.show()'),
        new_markdown_cell("## Does a map move when the score moves?\n\nFor every edited image: the change in p(AI) against the drift of its map (1 - Spearman with the unedited map)."),
        new_code_cell('edited = maps[maps["variant"] != "identity"].assign(abs_delta=lambda d: d["delta_p_ai"].abs(), map_change=lambda d: 1 - d["drift_spearman"])\nprint(edited.groupby("method")[["abs_delta", "map_change"]].corr(method="spearman").xs("abs_delta", level=1)["map_change"].round(3).rename("rank correlation of |Δ p_ai| with map change"))\nsns.lmplot(data=edited, x="abs_delta", y="map_change", col="method", col_wrap=4, height=2.2, scatter_kws={"s": 10})\nplt.show()'),
        new_markdown_cell("## Sanity: similarity to the trained map as layers are randomised from the top"),
        new_code_cell('if len(sanity):\n    sns.relplot(data=sanity, x="randomised_layers", y="spearman", hue="method", kind="line", marker="o", height=3, aspect=1.6)\n    plt.show()\nelse:\n    print("this run skipped the sanity check (explain.sanity: false)")'),
        new_markdown_cell("## The grid for the sample whose maps moved most"),
        new_code_cell('from IPython.display import Image, display\n\nfrom experiments.explanations import slug\n\nsample = edited.groupby("sample")["map_change"].mean().idxmax()\nmodel = edited["model"].iloc[0]\ngrid = RUN / "explain" / "grids" / model / f"{slug(sample)}.png"\nprint(f"maps moved most for {sample!r}; grid: {grid.name}")\nif grid.is_file():\n    display(Image(filename=str(grid), width=700))'),
    ],
    "03_training_and_evaluation.ipynb": [
        new_markdown_cell("# Training and evaluation\n\nThe model cards (what each model was trained on), the evaluation with bootstrap intervals, and robustness at dataset scale."),
        new_code_cell(SETUP),
        new_code_cell('import json\n\ncards = {p.stem.removesuffix(".model_card"): json.loads(p.read_text()) for p in sorted((RUN / "models").glob("*.model_card.json"))}\nfor name, card in cards.items():\n    data = card.get("data")\n    if data:\n        print(f"{name}: trained on {data[\'train\'][\'images\']} images {data[\'train\'][\'label\']}, {data[\'unreadable_files\']} unreadable; best validation accuracy {card[\'training\'][\'best_val_accuracy\']:.3f} at epoch {card[\'training\'][\'best_epoch\']}")\n    else:\n        print(f"{name}: {card.get(\'note\', \'no training record\')} ({card.get(\'source\')})")'),
        new_markdown_cell("## Training history"),
        new_code_cell('from IPython.display import Image, display\n\nfor figure in sorted((RUN / "figures").glob("history_*.png")):\n    display(Image(filename=str(figure), width=650))'),
        new_markdown_cell("## Evaluation on the unedited test images, with 95 % bootstrap intervals"),
        new_code_cell('metrics = pd.read_parquet(RUN / "evaluation_metrics.parquet")\nfig, ax = plt.subplots(figsize=(7, 3.5))\nfor i, (model, df) in enumerate(metrics.groupby("model")):\n    ax.errorbar(df["metric"], df["value"], yerr=[df["value"] - df["ci_low"], df["ci_high"] - df["value"]], fmt="o", capsize=3, label=model, alpha=0.8)\nax.set_ylim(0, 1.05)\nax.tick_params(axis="x", rotation=45)\nax.legend()\nplt.show()\nmetrics.round(3)'),
        new_code_cell('groups = pd.read_parquet(RUN / "evaluation_groups.parquet")\ngroups.round(3)'),
        new_markdown_cell("## Robustness at dataset scale"),
        new_code_cell('robust = pd.read_parquet(RUN / "robustness_metrics.parquet")\nrobust[["model", "variant", "n", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "roc_auc", "flip_rate", "delta_p_ai_median"]].round(3)'),
        new_markdown_cell("## Shortcut audit: does the detector look at the art or at the file?\n\nWith an `audit:` section. First the metadata-only probe: how well the files' facts alone (pixel size, aspect, format, estimated JPEG quality, file size, EXIF / ICC) predict the label, cross-validated. Near 0.5, the files offer no shortcut; near 1, a detector could score well without looking at the art."),
        new_code_cell('from IPython.display import display\n\nif (RUN / "audit_probe.parquet").is_file():\n    probe = pd.read_parquet(RUN / "audit_probe.parquet")\n    p = probe.iloc[0]\n    print(f"metadata-only probe: ROC-AUC {p.roc_auc:.3f} [{p.ci_low:.3f}, {p.ci_high:.3f}] (n={p.n}, {p.folds}-fold)")\n    display(probe.drop(columns="features").round(3))\nelse:\n    print("this run has no audit: section")'),
        new_markdown_cell("Then the score shifts: each image scored as it is and with one factor of its file normalised (`jpeg`, `png`, `size`, `metadata`, `all`). `depends`: the mean p(AI) or the class's accuracy moves by at least `min_shift`, with a paired interval that excludes 0."),
        new_code_cell('if (RUN / "audit.parquet").is_file():\n    audit = pd.read_parquet(RUN / "audit.parquet")\n    flagged = audit[audit["verdict"] == "depends"]\n    print("the scores depend on:", ", ".join(f"{m} {f} ({c})" for m, f, c in zip(flagged["model"], flagged["factor"], flagged["class"])) or "no factor")\n    fig, ax = plt.subplots(figsize=(7, 0.3 * len(audit) + 1.2))\n    labels = audit["model"] + " " + audit["factor"] + " (" + audit["class"] + ")"\n    ax.errorbar(audit["shift"], labels, xerr=[audit["shift"] - audit["shift_ci_low"], audit["shift_ci_high"] - audit["shift"]], fmt="o", capsize=3)\n    ax.axvline(0, color="grey", linewidth=0.8)\n    ax.set_xlabel("shift in mean p(AI), normalised - as is (95% CI)")\n    plt.show()\n    display(audit[["model", "factor", "class", "n", "shift", "shift_ci_low", "shift_ci_high", "accuracy_as_is", "accuracy_normalised", "verdict"]].round(3))'),
        new_markdown_cell('## Cross-set evaluation\n\nWith an `eval_sets:` section: the same models on several sets, and the drop from the first set (paired where the sets hold the same files). With a `cross_generator:` section, the matrix of models trained on one generator and tested on each.'),
        new_code_cell('if (RUN / "eval_sets.parquet").is_file():\n    sets = pd.read_parquet(RUN / "eval_sets.parquet")\n    for r in sets.itertuples():\n        print(f"{r.set:>24} {r.model}: accuracy {r.accuracy:.3f} [{r.accuracy_ci_low:.3f}, {r.accuracy_ci_high:.3f}], AUC {r.roc_auc:.3f} (n={r.n})")\n    display(sets[["set", "model", "n", "accuracy", "roc_auc", "average_precision", "fpr", "fnr", "accuracy_drop", "accuracy_drop_ci_low", "accuracy_drop_ci_high", "paired"]].round(3))\nelse:\n    print("this run has no eval_sets: section")'),
        new_code_cell('if (RUN / "cross_generator.parquet").is_file():\n    matrix = pd.read_parquet(RUN / "cross_generator.parquet")\n    for model, df in matrix.groupby("model"):\n        fig, ax = plt.subplots(figsize=(6, 3))\n        sns.heatmap(df.pivot(index="trained_on", columns="tested_on", values="roc_auc"), annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, center=0.5, ax=ax)\n        ax.set_title(f"{model}: ROC-AUC, trained on (+ humans) x tested on")\n        plt.show()'),
    ],
}

for name, cells in NOTEBOOKS.items():
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, Path(__file__).resolve().parents[1] / "notebooks" / name)
    print("wrote", name)
