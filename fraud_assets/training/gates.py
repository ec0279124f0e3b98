"""Metric gates a candidate model must pass before it may be deployed.

Pure functions over numbers, so the blocking asset checks, the CLI and the tests judge alike.
The default bounds are the seed pipeline's; operators tighten or relax them per environment
(FRAUD_MIN_ROC_AUC, FRAUD_MIN_PR_AUC, FRAUD_MIN_F1, FRAUD_MAX_BRIER, FRAUD_CHAMPION_PR_AUC_MARGIN in
`fraud_assets.settings`), and `resources.MetricBoundsResource` shows them in the Dagster UI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from fraud_assets.settings import DEFAULTS


@dataclass(frozen=True)
class MetricBounds:
    min_roc_auc: float = DEFAULTS.min_roc_auc
    min_pr_auc: float = DEFAULTS.min_pr_auc
    min_f1: float = DEFAULTS.min_f1
    max_brier: float = DEFAULTS.max_brier
    champion_pr_auc_margin: float = DEFAULTS.champion_pr_auc_margin


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict; `message` names the metric, its value and the bound."""

    gate: str
    passed: bool
    message: str
    value: float | None = None
    bound: float | None = None

    def metadata(self) -> dict[str, float]:
        return {k: v for k, v in (("value", self.value), ("bound", self.bound)) if v is not None}


def minimum_gate(metric: str, value: float, minimum: float) -> GateResult:
    passed = _is_number(value) and value >= minimum
    relation = ">=" if passed else "<"
    return GateResult(
        gate=f"min_{metric}",
        passed=passed,
        message=f"{metric} = {value:.4f} {relation} minimum {minimum:.4f}: {'pass' if passed else 'FAIL'}",
        value=value,
        bound=minimum,
    )


def maximum_gate(metric: str, value: float, maximum: float) -> GateResult:
    passed = _is_number(value) and value <= maximum
    relation = "<=" if passed else ">"
    return GateResult(
        gate=f"max_{metric}",
        passed=passed,
        message=f"{metric} = {value:.4f} {relation} maximum {maximum:.4f}: {'pass' if passed else 'FAIL'}",
        value=value,
        bound=maximum,
    )


def metric_gates(metrics: Mapping[str, float], bounds: MetricBounds = MetricBounds()) -> list[GateResult]:
    """The four absolute gates (ROC AUC, PR AUC, F1 minimums; Brier maximum)."""
    missing = [m for m in ("roc_auc", "pr_auc", "f1", "brier") if m not in metrics]
    if missing:
        raise KeyError(f"metric gates: metrics {missing} were not computed (have {sorted(metrics)})")
    return [
        minimum_gate("roc_auc", metrics["roc_auc"], bounds.min_roc_auc),
        minimum_gate("pr_auc", metrics["pr_auc"], bounds.min_pr_auc),
        minimum_gate("f1", metrics["f1"], bounds.min_f1),
        maximum_gate("brier", metrics["brier"], bounds.max_brier),
    ]


def champion_gate(candidate_pr_auc: float, champion_pr_auc: float | None, margin: float) -> GateResult:
    """Candidate vs champion PR AUC, both scored on the candidate's validation window: fails only
    when the candidate is worse by more than `margin`, so noise alone does not block a retrain."""
    if champion_pr_auc is None:
        return GateResult(
            gate="not_worse_than_champion",
            passed=True,
            message=f"no champion yet: candidate PR AUC {candidate_pr_auc:.4f} is accepted as the first champion",
            value=candidate_pr_auc,
        )
    floor = champion_pr_auc - margin
    # isclose: "worse by exactly the margin" must pass even when champion - margin rounds up.
    passed = _is_number(candidate_pr_auc) and (candidate_pr_auc >= floor or math.isclose(candidate_pr_auc, floor))
    verdict = "pass" if passed else "FAIL"
    return GateResult(
        gate="not_worse_than_champion",
        passed=passed,
        message=(
            f"pr_auc: candidate {candidate_pr_auc:.4f} vs champion {champion_pr_auc:.4f} "
            f"(allowed margin {margin:.4f}, floor {floor:.4f}): {verdict}"
        ),
        value=candidate_pr_auc,
        bound=floor,
    )


def _is_number(value: float) -> bool:
    return value is not None and math.isfinite(value)
