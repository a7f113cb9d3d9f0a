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


def images_of(nb) -> list[tuple[str, bytes]]:
    """(mime type, bytes) of every picture the notebook shows."""
    import base64

    found = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            for mime in ("image/png", "image/jpeg"):
                if mime in o.get("data", {}):
                    found.append((mime, base64.b64decode(o["data"][mime])))
    return found


NOTEBOOK_WIDTH = 1100  # px: a key figure wider than a notebook's output area is shrunk until unreadable
MAX_PICTURE_BYTES = 1_000_000  # a notebook embeds every picture it shows


def check_pictures(nb) -> None:
    import io

    from PIL import Image

    for mime, data in images_of(nb):
        with Image.open(io.BytesIO(data)) as picture:
            assert picture.width <= NOTEBOOK_WIDTH, (mime, picture.size)
        assert len(data) < MAX_PICTURE_BYTES, (mime, len(data))


def test_robustness_tour_finds_the_most_fragile_subject(reported_run, monkeypatch):
    import pandas as pd

    nb = execute("01_robustness_tour.ipynb", reported_run, monkeypatch)
    out = text_of(nb)
    flips = pd.read_parquet(reported_run / "minimal_flip.parquet")
    scores = pd.read_parquet(reported_run / "scores.parquet")
    mine = flips[(flips["model"] == "cnn32") & flips["correct_unedited"]]
    fooled = mine.groupby("subject")["min_fooling_severity"].count()
    edited = scores[(scores["model"] == "cnn32") & (scores["variant"] != "identity")]
    moved = edited.assign(a=edited["delta_margin"].abs()).groupby("subject")["a"].mean()
    fragile = max(fooled.index, key=lambda s: (fooled[s], moved[s]))
    assert f"cnn32: most fragile subject is {fragile!r} (fooled by {fooled[fragile]} of" in out
    check_pictures(nb)
    # the heatmap is signed and leaves out the unedited images (an all-zero column)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'cmap="RdBu_r", center=0' in source and '"variant"] != "identity"' in source


def test_explanations_notebook(reported_run, monkeypatch):
    nb = execute("02_explanations.ipynb", reported_run, monkeypatch)
    out = text_of(nb)
    assert "rank correlation of |Δ margin| with map change" in out and "maps moved most for" in out
    assert any(mime == "image/jpeg" for mime, _ in images_of(nb))  # the grid, as a small JPEG copy
    check_pictures(nb)
    assert "experiments.stages.explanations" not in "\n".join(
        c.source for c in nb.cells
    )  # no stage import for a file name


def test_training_notebook(trained_run, monkeypatch):
    run_dir, _, _ = trained_run
    nb = execute("03_training_and_evaluation.ipynb", run_dir, monkeypatch)
    out = text_of(nb)
    assert "cnn32: trained on 20 images" in out
    assert "metadata-only probe: ROC-AUC 1.000" in out and "test_resized cnn32: accuracy" in out  # the audit cells
    history = (
        next(
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and c.source.startswith("## Training history")
        )
        + 1
    )
    assert nb.cells[history].outputs and "cnn32:" in text_of_cell(
        nb.cells[history]
    )  # says which model, then shows its plot
    assert any("image/png" in o.get("data", {}) for o in nb.cells[history].outputs)
    assert (
        len(images_of(nb)) >= 4
    )  # the training history, the evaluation plot, the robustness curves, the audit's shifts
    check_pictures(nb)


def text_of_cell(cell) -> str:
    return "\n".join(o.get("text", "") for o in cell.outputs)
