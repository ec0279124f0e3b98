"""A registered candidate against the deployment gates: the metric bounds, and the serving champion
scored on the candidate's own validation window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraud_assets import registry
from fraud_assets.training.candidate import ModelCandidate
from fraud_assets.training.gates import GateResult, MetricBounds, champion_gate, metric_gates
from fraud_assets.training.validation_scores import StoredScores


@dataclass(frozen=True)
class Judgement:
    gates: list[GateResult]
    champion_version: int | None  # the version behind the champion alias, if any
    champion_pr_auc: float | None  # None when there is no other champion to compare with


def judge(candidate: ModelCandidate, bounds: MetricBounds, scores: StoredScores | None = None) -> Judgement:
    """Every gate's verdict on `candidate`; the champion comparison is skipped when the candidate
    is the champion itself. With `scores`, the champion is scored only on the validation slices it has no
    kept scores of."""
    from fraud_assets.training.evaluation import scores_pr_auc

    name, version = candidate.registered.name, candidate.registered.version
    champion_version = registry.get_alias_version(name, registry.CHAMPION)
    champion_pr_auc = None
    if champion_version is not None and champion_version != version:
        X, y = candidate.X_validation, candidate.y_validation

        def champion_scores(rows: pd.DataFrame) -> np.ndarray:
            return registry.load_version(name, champion_version).predict_proba(rows)[:, 1]

        if scores is not None and candidate.validation_parts:
            digest = registry.manifest_sha256(name, champion_version)
            champion_pr_auc = scores_pr_auc(y, scores.scores(digest, champion_scores, X, candidate.validation_parts))
        else:
            champion_pr_auc = scores_pr_auc(y, champion_scores(X))
    metrics = candidate.evaluation.metrics
    gates = [
        *metric_gates(metrics, bounds),
        champion_gate(metrics["pr_auc"], champion_pr_auc, bounds.champion_pr_auc_margin),
    ]
    return Judgement(gates=gates, champion_version=champion_version, champion_pr_auc=champion_pr_auc)
