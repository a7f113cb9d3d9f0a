"""The notebooks run top to bottom against real runs, and are stored without outputs."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, run_dir: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("ARTXAI_RUN", str(run_dir))  # the kernel inherits the environment
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def text_of(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_notebooks_are_stored_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["01_robustness_tour.ipynb", "02_explanations.ipynb", "03_training_and_evaluation.ipynb"]
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code"), name


def test_robustness_tour_finds_the_most_fragile_subject(reported_run, monkeypatch):
    import pandas as pd

    out = text_of(execute("01_robustness_tour.ipynb", reported_run, monkeypatch))
    scores = pd.read_parquet(reported_run / "scores.parquet")
    edited = scores[(scores["variant"] != "identity") & (scores["model"] == "cnn128")]
    fragile = edited.assign(a=edited["delta_p_ai"].abs()).groupby("subject")["a"].mean().idxmax()
    assert f"cnn128: most fragile subject is {fragile!r}" in out


def test_explanations_notebook(reported_run, monkeypatch):
    out = text_of(execute("02_explanations.ipynb", reported_run, monkeypatch))
    assert "rank correlation of |Δ p_ai| with map change" in out and "maps moved most for" in out


def test_training_notebook(trained_run, monkeypatch):
    run_dir, _, _ = trained_run
    nb = execute("03_training_and_evaluation.ipynb", run_dir, monkeypatch)
    assert "cnn32: trained on 20 images" in text_of(nb)
    assert "metadata-only probe: ROC-AUC 1.000" in text_of(nb) and "test_resized cnn32: accuracy" in text_of(nb)  # the audit cells
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the training history, the evaluation plot, the audit's shifts
