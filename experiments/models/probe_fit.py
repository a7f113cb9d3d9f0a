"""What a probe is fitted from and how (experiments.models.probe): the encoder's embeddings of a
list of image files, and an L2-regularised logistic regression on them whose C is chosen by
stratified k-fold cross-validation on those embeddings alone.

Embedding: each file is decoded with the run's decode policy (experiments.inputs.images), made
into the encoder's input picture (`InputSpec.prepare`), on threads (experiments.execution.threads),
and embedded in batches through `EmbeddingDetector.embeddings`, which takes what the on-disk cache
(experiments.models.embedding_cache) already holds and encodes only the rest: a second probe on the
same pictures encodes nothing.

Fitting: for each C of `C_GRID`, out-of-fold probabilities from `StratifiedKFold(folds,
shuffle=True, random_state=seed)`; the C with the lowest out-of-fold log loss wins (the smaller C
on a tie), and the model is refitted on every training embedding at that C. Classes are weighted
`balanced` (a no-op on a balanced split). Labels are 1 = AI, 0 = human, so scikit-learn's
`classes_` is [0, 1] and its `coef_` / `intercept_` are the AI class's: p(AI) = sigmoid(w . e + b).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.execution.threads import thread_pool
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image

C_GRID = tuple(float(c) for c in np.logspace(-2, 4, 9))  # inverse regularisation strengths tried, 10^-2 .. 10^4
MAX_ITER = 10_000
EMBED_CHUNK = 64  # files decoded (in parallel) and embedded per step


@dataclass(frozen=True)
class Embedded:
    """Embeddings of the files that could be read, which files those were (indices into the list
    given) and, per file left out, why."""

    embeddings: np.ndarray  # (n, dim), float64, L2-normalised
    kept: list[int]
    skipped: dict[str, str]


def embed_files(embedder, paths: list, policy: DecodePolicy, workers: int | None = None) -> Embedded:
    """The embeddings of `paths` (see the module's docstring); an unreadable file is left out and
    its reason recorded."""
    spec = embedder.input

    def prepare(path) -> np.ndarray | str:
        try:
            return spec.prepare(decode_image(Path(path), policy).pixels)
        except (ImageRejected, OSError) as e:
            return str(e) or type(e).__name__

    parts, kept, skipped = [], [], {}
    with thread_pool(workers) as pool:
        for start in range(0, len(paths), EMBED_CHUNK):
            chunk = list(pool.map(prepare, paths[start : start + EMBED_CHUNK]))
            for i, found in enumerate(chunk, start):
                if isinstance(found, str):
                    skipped[str(paths[i])] = found
            pictures = [p for p in chunk if not isinstance(p, str)]
            kept += [i for i, p in enumerate(chunk, start) if not isinstance(p, str)]
            if pictures:
                parts.append(embedder.embeddings(np.stack(pictures).astype(np.float32) / 255.0, EMBED_CHUNK))
    dim = embedder.encoder.dim
    return Embedded(np.concatenate(parts) if parts else np.zeros((0, dim)), kept, skipped)


@dataclass(frozen=True)
class ProbeFit:
    """A fitted probe: p(AI) = sigmoid(w . e + b), the C cross-validation chose, and how it did."""

    w: np.ndarray
    b: float
    C: float
    cv_log_loss: dict[float, float]  # per C of the grid: the out-of-fold log loss
    cv_accuracy: float  # out-of-fold accuracy at the chosen C
    train_accuracy: float  # of the refitted model on its own training embeddings

    def p_ai(self, e: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(e @ self.w + self.b)))


def classifier(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight="balanced", max_iter=MAX_ITER, random_state=seed)


def folds_of(folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def fit_logistic(x: np.ndarray, is_ai: np.ndarray, folds: int, seed: int) -> ProbeFit:
    """The probe of embeddings `x` with labels `is_ai` (1 = AI, 0 = human): the module's docstring."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import cross_val_predict

    y = np.asarray(is_ai, np.int64)
    losses, out_of_fold = {}, {}
    for C in C_GRID:
        proba = cross_val_predict(classifier(C, seed), x, y, cv=folds_of(folds, seed), method="predict_proba")
        out_of_fold[C] = proba[:, 1]
        losses[C] = float(log_loss(y, proba, labels=[0, 1]))
    best = min(C_GRID, key=lambda c: (round(losses[c], 12), c))
    model = classifier(best, seed).fit(x, y)
    if list(model.classes_) != [0, 1]:
        raise RuntimeError(f"scikit-learn's classes are {list(model.classes_)}, not [0, 1]")
    w, b = np.asarray(model.coef_[0], np.float64), float(model.intercept_[0])
    cv_accuracy = float(np.mean((out_of_fold[best] >= 0.5) == (y == 1)))
    fitted = ProbeFit(w, b, best, losses, cv_accuracy, 0.0)
    train_accuracy = float(np.mean((fitted.p_ai(x) >= 0.5) == (y == 1)))
    return ProbeFit(w, b, best, losses, cv_accuracy, train_accuracy)
