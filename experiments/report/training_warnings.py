"""The training warning a model's card carries (experiments.models.training.chance_guard), for the
report's findings card: a model whose validation accuracy is not above always answering the
majority class says so where its numbers are read."""

from __future__ import annotations

import json
from pathlib import Path


def training_warning(run_dir: Path, model: str) -> str:
    """The warning of the model card the run wrote for `model` (models/<model>.model_card.json);
    empty when the model was not trained by artxai, or trained without one."""
    path = run_dir / "models" / f"{model}.model_card.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    training = card.get("training") if isinstance(card, dict) else None
    return str(training.get("warning") or "") if isinstance(training, dict) else ""
