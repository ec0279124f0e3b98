"""The deployment asset's own look at its gates, so that a deploy is refused however it was started.

Blocking checks stop later steps of their own run, and automation waits on them; a run of
`model_deployment` alone (from the UI, or with FRAUD_AUTOMATION=off) has neither. So before it
deploys a version, the asset reads the latest evaluation of each of the seven gates from the
Dagster instance: the five evaluation checks must have passed for that very version (their
metadata names it), and the two drift checks must have passed on data at least as new as the
version's training data (evaluated no earlier than the newest materialization of its features).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetRecordsFilter, DagsterInstance
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

from fraud_assets.asset_keys import (
    CHAMPION_GATE,
    DATA_DRIFT,
    DRIFT_REPORT,
    METRIC_GATES,
    MODEL_EVALUATION,
    TARGET_DRIFT,
    TRANSACTION_FEATURES,
)

EVALUATION_GATES = tuple(AssetCheckKey(MODEL_EVALUATION, name) for name in (*METRIC_GATES, CHAMPION_GATE))
DRIFT_GATES = tuple(AssetCheckKey(DRIFT_REPORT, name) for name in (DATA_DRIFT, TARGET_DRIFT))
MODEL_VERSION = "model_version"  # the evaluation checks' metadata entry naming the version they judged


@dataclass(frozen=True)
class GateVerdict:
    """A gate's latest completed evaluation (or its absence: `passed` None)."""

    gate: str  # asset:check
    passed: bool | None
    description: str = ""
    evaluated_at: float | None = None  # Unix time
    model_version: str | None = None  # evaluation checks only


def unmet(verdicts: Iterable[GateVerdict], version: int | str, training_data_at: float | None) -> list[str]:
    """Why `version` may not deploy, one line per gate (empty: every gate passed for it). Evaluation
    gates count only when they judged `version`; drift gates only when evaluated no earlier than
    `training_data_at` (when the newest of the version's training features was materialized)."""
    evaluation_gates = {_name(key) for key in EVALUATION_GATES}
    problems = []
    for verdict in verdicts:
        if verdict.passed is None:
            problems.append(f"{verdict.gate}: no completed evaluation")
        elif verdict.gate in evaluation_gates and verdict.model_version != str(version):
            problems.append(f"{verdict.gate}: last evaluated for version {verdict.model_version}, not {version}")
        elif verdict.gate not in evaluation_gates and (
            training_data_at is None or verdict.evaluated_at is None or verdict.evaluated_at < training_data_at
        ):
            problems.append(
                f"{verdict.gate}: not evaluated since the training data of version {version} was materialized"
            )
        elif not verdict.passed:
            problems.append(f"{verdict.gate} failed: {verdict.description}")
    return problems


def unmet_in(instance: DagsterInstance, version: int | str, training_slices: Sequence[str]) -> list[str]:
    """`unmet` over the gates' latest evaluations recorded in `instance`."""
    verdicts = [_latest_verdict(instance, key) for key in (*EVALUATION_GATES, *DRIFT_GATES)]
    return unmet(verdicts, version, _newest_features_at(instance, training_slices))


def _latest_verdict(instance: DagsterInstance, key: AssetCheckKey) -> GateVerdict:
    """The gate's latest completed evaluation. A run that planned the check and has not evaluated it says nothing
    yet: a landing run queued behind this one plans its checks when it is created, and one that failed before
    them never evaluates them; taking its plan for the latest word refused a deploy whose gates had passed."""
    (record,) = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
    ) or [None]
    evaluation = record.event.asset_check_evaluation if record and record.event else None
    if evaluation is None:  # never evaluated
        return GateVerdict(_name(key), None)
    version = evaluation.metadata.get(MODEL_VERSION)
    return GateVerdict(
        _name(key),
        evaluation.passed,
        evaluation.description or "",
        record.event.timestamp,
        None if version is None else str(version.value),
    )


def _newest_features_at(instance: DagsterInstance, training_slices: Sequence[str]) -> float | None:
    if not training_slices:
        return None
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=TRANSACTION_FEATURES, asset_partitions=list(training_slices)), limit=1
    ).records
    return records[0].timestamp if records else None


def _name(key: AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"
