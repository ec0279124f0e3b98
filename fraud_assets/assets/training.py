"""Group `training`: the model, its evaluation, and the metric gates as blocking asset checks."""

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from fraud_assets.execution import k8s_op_tags
from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.training import registry
from fraud_assets.training.evaluation import ModelEvaluation, evaluate, pr_auc
from fraud_assets.training.gates import GateResult, MetricBoundsResource, champion_gate, metric_gates
from fraud_assets.training.registry import RegisteredModelVersion
from fraud_assets.training.train import train_model
from fraud_assets.automation import refresh_when_upstream_passes, retrain_policy

METRIC_GATES = ("min_roc_auc", "min_pr_auc", "min_f1", "max_brier")  # gate names from training.gates
CHAMPION_GATE = "not_worse_than_champion"


@dataclass(frozen=True)
class ModelCandidate:
    """A trained, registered (not yet deployed) model and the validation window it was judged on."""

    registered: RegisteredModelVersion
    evaluation: ModelEvaluation
    split: dict
    training_slices: tuple[str, ...]
    X_validation: pd.DataFrame
    y_validation: np.ndarray
    fit_seconds: float


def ordered_history(features: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """All feature partitions in step order, and their slice ids."""
    keys = sorted(features, key=lambda k: int(features[k]["step"].min()) if len(features[k]) else -1)
    return pd.concat([features[k] for k in keys], ignore_index=True), keys


def mlflow_run_link(run_id: str) -> str:
    uri = registry.tracking_uri()
    if uri.startswith("http"):
        run = mlflow.get_run(run_id)
        return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
    return f"{uri} (run {run_id}; browse with `mlflow ui --backend-store-uri {uri}`)"


@asset(
    ins={"transaction_features": AssetIn(partition_mapping=AllPartitionMapping())},
    required_resource_keys={"mlflow"},
    group_name="training",
    op_tags=k8s_op_tags("training"),
    kinds={"scikit-learn", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=retrain_policy(),
)
def fraud_model(context: AssetExecutionContext, transaction_features: dict[str, pd.DataFrame]) -> Output[ModelCandidate]:
    """HistGradientBoosting trained on the earlier steps, registered in MLflow as a new version.

    The latest 20 % of steps are held out for validation; the decision threshold is picked on
    the steps just before them, never on the validation window.
    """
    history, slice_ids = ordered_history(transaction_features)
    try:
        trained = train_model(history, FEATURE_COLUMNS, CATEGORICAL_FEATURES)
        windows = trained.windows
        evaluation = evaluate(trained.model, windows.X_validation, windows.y_validation)
        registered = registry.log_and_register(
            trained.model,
            evaluation,
            params={**trained.model.get_params(), **windows.split.describe(), "training_rows": len(windows.X_train)},
            tags=registry.lineage_tags(context.run_id, "fraud_model", slice_ids),
            input_example=windows.X_validation.head(5),
        )
    except BaseException:
        context.resources.mlflow.end_run(status="FAILED")
        raise
    context.resources.mlflow.end_run()
    candidate = ModelCandidate(
        registered=registered,
        evaluation=evaluation,
        split=windows.split.describe(),
        training_slices=tuple(slice_ids),
        X_validation=windows.X_validation,
        y_validation=windows.y_validation,
        fit_seconds=trained.fit_seconds,
    )
    return Output(
        candidate,
        metadata={
            "model": f"{registered.name} version {registered.version}",
            "model_uri": registered.model_uri,
            "mlflow_run": mlflow_run_link(registered.run_id),
            "artifact_sha256": registered.artifact_sha256,
            "training_rows": len(windows.X_train),
            "validation_rows": len(windows.X_validation),
            "training_slices": len(slice_ids),
            "split": MetadataValue.json(windows.split.describe()),
            "threshold": float(trained.model.threshold),
            "fit_seconds": round(trained.fit_seconds, 2),
        },
    )


def gates_markdown(gates: list[GateResult]) -> str:
    rows = ["| gate | value | bound | verdict |", "| --- | ---: | ---: | --- |"]
    for g in gates:
        value = "-" if g.value is None else f"{g.value:.4f}"
        bound = "-" if g.bound is None else f"{g.bound:.4f}"
        rows.append(f"| {g.gate} | {value} | {bound} | {'pass' if g.passed else '**FAIL**'} |")
    return "\n".join(rows)


@asset(
    group_name="training",
    op_tags=k8s_op_tags("training"),
    kinds={"scikit-learn"},
    owners=["team:fraud-ml"],
    code_version="1",
    check_specs=[
        *(AssetCheckSpec(gate, asset="model_evaluation", blocking=True,
                         description=f"{gate.replace('_', ' ', 1)}: bound from the metric_bounds resource (FRAUD_{gate.upper()})")
          for gate in METRIC_GATES),
        AssetCheckSpec(CHAMPION_GATE, asset="model_evaluation", blocking=True,
                       description="Candidate PR AUC is not worse than the serving champion's by more than the margin, on the same window"),
    ],
    automation_condition=refresh_when_upstream_passes(),
)
def model_evaluation(context: AssetExecutionContext, fraud_model: ModelCandidate, metric_bounds: MetricBoundsResource):
    """The candidate's seven seed metrics, threshold and confusion matrix, with each deployment
    gate as a blocking check."""
    bounds = metric_bounds.bounds()
    evaluation = fraud_model.evaluation
    name = fraud_model.registered.name
    champion_version = registry.get_alias_version(name, registry.CHAMPION)
    champion_pr_auc = None
    if champion_version is not None and champion_version != fraud_model.registered.version:
        champion = registry.load_version(name, champion_version)
        champion_pr_auc = pr_auc(champion, fraud_model.X_validation, fraud_model.y_validation)
    gates = [*metric_gates(evaluation.metrics, bounds),
             champion_gate(evaluation.metrics["pr_auc"], champion_pr_auc, bounds.champion_pr_auc_margin)]
    summary = {
        "model_version": fraud_model.registered.version,
        "metrics": evaluation.metrics,
        "threshold": evaluation.threshold,
        "champion_version": champion_version,
        "champion_pr_auc": champion_pr_auc,
        "gates": {g.gate: {"passed": g.passed, "message": g.message} for g in gates},
    }
    yield Output(
        summary,
        metadata={
            "model": f"{name} version {fraud_model.registered.version}",
            "gates": MetadataValue.md(gates_markdown(gates)),
            "metrics": MetadataValue.md(evaluation.metrics_markdown()),
            "confusion_matrix": MetadataValue.md(evaluation.confusion_markdown()),
            "threshold": evaluation.threshold,
            **{m: float(v) for m, v in evaluation.metrics.items()},
        },
    )
    for gate in gates:
        yield AssetCheckResult(
            check_name=gate.gate, passed=gate.passed, description=gate.message,
            metadata={"message": gate.message, **gate.metadata()},
        )
