"""Metric gates a candidate model must pass before it may be deployed.

Pure functions over numbers, so the blocking asset checks, the CLI and the tests judge alike.
The default bounds are the original pipeline's; operators tighten or relax them per environment
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


# kind: (word in the message, comparison that passes, relation when it passes, relation when it fails)
_BOUND_KINDS = {
    "min": ("minimum", lambda value, bound: value >= bound, ">=", "<"),
    "max": ("maximum", lambda value, bound: value <= bound, "<=", ">"),
}


def bound_gate(kind: str, metric: str, value: float, bound: float) -> GateResult:
    """`min_<metric>` (value at least `bound`) or `max_<metric>` (value at most `bound`)."""
    word, passes, holds, breaks = _BOUND_KINDS[kind]
    passed = _is_number(value) and passes(value, bound)
    relation, verdict = (holds, "pass") if passed else (breaks, "FAIL")
    return GateResult(
        gate=f"{kind}_{metric}",
        passed=passed,
        message=f"{metric} = {value:.4f} {relation} {word} {bound:.4f}: {verdict}",
        value=value,
        bound=bound,
    )


def metric_gates(metrics: Mapping[str, float], bounds: MetricBounds = MetricBounds()) -> list[GateResult]:
    """The four absolute gates (ROC AUC, PR AUC, F1 minimums; Brier maximum)."""
    missing = [m for m in ("roc_auc", "pr_auc", "f1", "brier") if m not in metrics]
    if missing:
        raise KeyError(f"metric gates: metrics {missing} were not computed (have {sorted(metrics)})")
    return [
        bound_gate("min", "roc_auc", metrics["roc_auc"], bounds.min_roc_auc),
        bound_gate("min", "pr_auc", metrics["pr_auc"], bounds.min_pr_auc),
        bound_gate("min", "f1", metrics["f1"], bounds.min_f1),
        bound_gate("max", "brier", metrics["brier"], bounds.max_brier),
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
