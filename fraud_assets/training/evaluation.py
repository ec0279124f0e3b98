"""Validation-window evaluation in two parts. `evaluate`: the original pipeline's seven metrics at the model's
threshold and the confusion matrix, what the deployment gates read (milliseconds). `diagnose`:
permutation feature importances and the ROC and PR curves, for people rather than gates (seconds
at full size), so they can run after deployment instead of before it.

Threshold-free metrics (ROC AUC, PR AUC, Brier) judge the scores; precision, recall, F1 and
accuracy judge the decisions the served model will actually make, so they use `model.threshold`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    PrecisionRecallDisplay,
    RocCurveDisplay,
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

METRIC_NAMES: tuple[str, ...] = ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "accuracy")
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "brier": "Brier score",
    "accuracy": "Accuracy",
}
IMPORTANCE_SAMPLE_ROWS = 20_000
IMPORTANCE_REPEATS = 3


@dataclass(frozen=True)
class ModelEvaluation:
    """What the gates read: metrics at the threshold and the confusion matrix."""

    metrics: dict[str, float]
    threshold: float
    confusion: tuple[tuple[int, int], tuple[int, int]]  # ((tn, fp), (fn, tp))
    rows: int
    fraud_rows: int

    def metrics_markdown(self) -> str:
        lines = ["| metric | value |", "| --- | ---: |"]
        lines += [f"| {METRIC_LABELS[name]} | {self.metrics[name]:.4f} |" for name in METRIC_NAMES]
        lines.append(f"| threshold | {self.threshold:.4f} |")
        return "\n".join(lines)

    def confusion_markdown(self) -> str:
        (tn, fp), (fn, tp) = self.confusion
        return "\n".join(
            [
                "| actual \\ predicted | legit | fraud |",
                "| --- | ---: | ---: |",
                f"| legit | {tn} | {fp} |",
                f"| fraud | {fn} | {tp} |",
            ]
        )

    def to_markdown(self) -> str:
        return "\n\n".join(
            [
                f"Validation rows: {self.rows} ({self.fraud_rows} fraud)",
                self.metrics_markdown(),
                self.confusion_markdown(),
            ]
        )


@dataclass(frozen=True)
class ModelDiagnostics:
    """Why the model scores as it does: nothing here decides a deployment."""

    feature_importance: pd.DataFrame  # feature, importance_mean, importance_std (drop in PR AUC)
    curves_png: bytes

    def importance_markdown(self, top: int | None = None) -> str:
        rows = self.feature_importance if top is None else self.feature_importance.head(top)
        lines = ["| feature | PR AUC drop (mean) | std |", "| --- | ---: | ---: |"]
        lines += [
            f"| {r.feature} | {r.importance_mean:.4f} | {r.importance_std:.4f} |" for r in rows.itertuples(index=False)
        ]
        return "\n".join(lines)


def evaluate(model, X: pd.DataFrame, y, scores: np.ndarray | None = None) -> ModelEvaluation:
    """Score `model` (a fitted FraudClassifier or anything with predict_proba and threshold), or judge the
    `scores` it gave `X` already."""
    y = _check_window(y, len(X))
    scores = model.predict_proba(X)[:, 1] if scores is None else scores
    threshold = float(model.threshold)
    decisions = (scores >= threshold).astype(np.int64)
    # The four decision metrics from one confusion matrix: sklearn's functions checked and counted the 1.3 million
    # labels of a 10x BankSim window once each (1.2 s); they stay the reference in the tests.
    tn, fp, fn, tp = (int(count) for count in np.bincount(2 * y + decisions, minlength=4))
    metrics = {
        "roc_auc": roc_auc_score(y, scores),
        "pr_auc": average_precision_score(y, scores),
        "precision": _share(tp, tp + fp),
        "recall": _share(tp, tp + fn),
        "f1": _share(2 * tp, 2 * tp + fp + fn),
        "brier": brier_score_loss(y, scores),
        "accuracy": _share(tp + tn, len(y)),
    }
    return ModelEvaluation(
        metrics={name: float(value) for name, value in metrics.items()},
        threshold=threshold,
        confusion=((tn, fp), (fn, tp)),
        rows=len(y),
        fraud_rows=int(y.sum()),
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0  # sklearn's zero_division=0


def diagnose(
    model,
    X: pd.DataFrame,
    y,
    importance_rows: int = IMPORTANCE_SAMPLE_ROWS,
    random_state: int = 0,
) -> ModelDiagnostics:
    """Permutation importances and curves of `model` on the same window `evaluate` scored."""
    y = _check_window(y, len(X))
    return ModelDiagnostics(
        feature_importance=feature_importance(model, X, y, importance_rows, random_state),
        curves_png=curves_png(y, model.predict_proba(X)[:, 1], float(model.threshold)),
    )


def scores_pr_auc(y, scores: np.ndarray) -> float:
    """PR AUC of scores a model gave already, e.g. the champion's kept scores of the candidate's window."""
    y = _check_window(y, len(scores))
    return float(average_precision_score(y, scores))


def feature_importance(model, X: pd.DataFrame, y: np.ndarray, rows: int, random_state: int) -> pd.DataFrame:
    """Permutation importance (drop in PR AUC) on a stratified, seeded sample: model-agnostic and
    measured on validation data, unlike split-gain importances."""
    X_sample, y_sample = X, y
    if rows < len(y) and y.sum() >= 2:
        X_sample, _, y_sample, _ = train_test_split(X, y, train_size=rows, stratify=y, random_state=random_state)
    result = permutation_importance(
        model,
        X_sample,
        y_sample,
        scoring="average_precision",
        n_repeats=IMPORTANCE_REPEATS,
        random_state=random_state,
    )
    table = pd.DataFrame(
        {
            "feature": list(X.columns),
            "importance_mean": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return table.sort_values("importance_mean", ascending=False, ignore_index=True)


def curves_png(y: np.ndarray, scores: np.ndarray, threshold: float) -> bytes:
    """ROC and PR curves side by side, the PR curve marked at the decision threshold."""
    figure = Figure(figsize=(10, 4.5), layout="constrained")  # no pyplot: no global state, Agg on save
    roc_axes, pr_axes = figure.subplots(1, 2)
    RocCurveDisplay.from_predictions(y, scores, ax=roc_axes, name="model", plot_chance_level=True)
    PrecisionRecallDisplay.from_predictions(y, scores, ax=pr_axes, name="model", plot_chance_level=True)
    decisions = scores >= threshold
    pr_axes.plot(
        recall_score(y, decisions, zero_division=0),
        precision_score(y, decisions, zero_division=0),
        "o",
        color="crimson",
        label=f"threshold {threshold:.3f}",
    )
    pr_axes.legend(loc="lower left")
    roc_axes.set_title("ROC (validation window)")
    pr_axes.set_title("Precision-recall (validation window)")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _check_window(y, n_rows: int) -> np.ndarray:
    labels = np.asarray(y).astype(np.int64)
    if labels.shape != (n_rows,):
        raise ValueError(f"evaluation: expected {n_rows} labels, got shape {labels.shape}")
    if len(np.unique(labels)) < 2:
        raise ValueError(
            f"evaluation: the validation window ({n_rows} rows) holds one class only; ROC and PR AUC are undefined"
        )
    return labels
