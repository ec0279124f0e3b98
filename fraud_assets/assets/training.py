"""Group `training`: the model, its evaluation with the metric gates as blocking asset checks, and its
diagnostics (after deployment, off the gated path)."""

from collections.abc import Mapping

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    Output,
    ResourceParam,
    asset,
)

from fraud_assets import metadata_links, release, settings
from fraud_assets.asset_keys import CHAMPION_GATE, FRAUD_MODEL, METRIC_GATES, MODEL_DEPLOYMENT, MODEL_EVALUATION
from fraud_assets.automation import refresh_when_upstream_passes, retrain_policy
from fraud_assets.deployment.deployer import ModelDeployer
from fraud_assets.deployment_gates import MODEL_VERSION
from fraud_assets.execution import BEFORE_THE_DRIFT_GATE, k8s_op_tags, records_peak_memory
from fraud_assets.partitions import every_features_partition
from fraud_assets.resources import MetricBoundsResource
from fraud_assets.storage import PartitionedParquetIOManager, atomic_write_bytes
from fraud_assets.training.candidate import INPUT_COLUMNS, ModelCandidate, diagnose_and_log, train_and_register
from fraud_assets.training.judging import judge
from fraud_assets.training.report import curves_markdown, gates_markdown
from fraud_assets.training.validation_scores import StoredScores


@asset(
    ins=every_features_partition(columns=INPUT_COLUMNS),
    required_resource_keys={"mlflow", "io_manager"},
    group_name="training",
    op_tags={**k8s_op_tags("training"), **BEFORE_THE_DRIFT_GATE},
    kinds={"scikit-learn", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=retrain_policy(),
)
@records_peak_memory
def fraud_model(
    context: AssetExecutionContext, transaction_features: Mapping[str, pd.DataFrame]
) -> Output[ModelCandidate]:
    """HistGradientBoosting trained on the earlier steps, registered in MLflow as a new version.

    The latest 20 % of steps are held out for validation; the decision threshold is picked on
    the steps just before them, never on the validation window. Only the slices of the training
    window and the validation window are read.
    """
    current = settings.load()
    try:
        candidate = train_and_register(
            transaction_features,
            context.run_id,
            FRAUD_MODEL.to_user_string(),
            window_steps=current.training_window,
            legit_sample_rate=current.legit_sample_rate,
            fit_threads=current.training_threads,
            scores=validation_scores(context.resources.io_manager),
        )
    except BaseException:
        context.resources.mlflow.end_run(status="FAILED")
        raise
    context.resources.mlflow.end_run()
    registered = candidate.registered
    return Output(
        candidate,
        metadata={
            "model": f"{registered.name} version {registered.version}",
            "model_uri": registered.model_uri,
            **metadata_links.mlflow_links(registered.run_id, registered.name, registered.version),
            "manifest_sha256": registered.manifest_sha256,
            "training_rows": candidate.training_rows,
            "validation_rows": len(candidate.X_validation),
            "training_slices": len(candidate.training_slices),
            "training_window": "all" if current.training_window is None else f"latest {current.training_window} steps",
            "legit_sample_rate": current.legit_sample_rate,
            "split": MetadataValue.json(candidate.split),
            "threshold": candidate.evaluation.threshold,
            "fit_seconds": round(candidate.fit_seconds, 2),
        },
    )


@asset(
    group_name="training",
    op_tags={**k8s_op_tags("training"), **BEFORE_THE_DRIFT_GATE},
    kinds={"scikit-learn"},
    owners=["team:fraud-ml"],
    code_version="1",
    check_specs=[
        *(
            AssetCheckSpec(
                gate,
                asset=MODEL_EVALUATION,
                blocking=True,
                description=f"{gate.replace('_', ' ', 1)}: bound from the metric_bounds resource "
                f"(FRAUD_{gate.upper()})",
            )
            for gate in METRIC_GATES
        ),
        AssetCheckSpec(
            CHAMPION_GATE,
            asset=MODEL_EVALUATION,
            blocking=True,
            description="Candidate PR AUC is not worse than the serving champion's by more than the margin, "
            "on the same window",
        ),
    ],
    automation_condition=refresh_when_upstream_passes(),
)
@records_peak_memory
def model_evaluation(
    fraud_model: ModelCandidate,
    metric_bounds: MetricBoundsResource,
    model_deployer: ModelDeployer,
    io_manager: ResourceParam[PartitionedParquetIOManager],
):
    """The candidate's seven metrics (the original pipeline's), threshold and confusion matrix, with each
    deployment gate as a blocking check (importances and curves come later, from `model_diagnostics`).
    A candidate that passes them is staged (its server started without traffic) while the drift gates run."""
    judgement = judge(fraud_model, metric_bounds.bounds(), validation_scores(io_manager))
    evaluation, registered = fraud_model.evaluation, fraud_model.registered
    if all(gate.passed for gate in judgement.gates):
        release.stage_candidate(model_deployer, registered.name, registered.version)
    summary = {
        "model_version": registered.version,
        "metrics": evaluation.metrics,
        "threshold": evaluation.threshold,
        "champion_version": judgement.champion_version,
        "champion_pr_auc": judgement.champion_pr_auc,
        "gates": {g.gate: {"passed": g.passed, "message": g.message} for g in judgement.gates},
    }
    yield Output(
        summary,
        metadata={
            "model": f"{registered.name} version {registered.version}",
            **metadata_links.mlflow_links(registered.run_id, registered.name, registered.version),
            "gates": MetadataValue.md(gates_markdown(judgement.gates)),
            "metrics": MetadataValue.md(evaluation.metrics_markdown()),
            "confusion_matrix": MetadataValue.md(evaluation.confusion_markdown()),
            "threshold": evaluation.threshold,
            **{m: float(v) for m, v in evaluation.metrics.items()},
        },
    )
    for gate in judgement.gates:
        yield AssetCheckResult(
            check_name=gate.gate,
            passed=gate.passed,
            description=gate.message,
            metadata={"message": gate.message, **gate.metadata(), MODEL_VERSION: registered.version},
        )


@asset(
    deps=[MODEL_DEPLOYMENT],
    group_name="training",
    op_tags=k8s_op_tags("training"),
    kinds={"scikit-learn", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=AutomationCondition.eager(),
)
@records_peak_memory
def model_diagnostics(fraud_model: ModelCandidate):
    """Permutation importances (drop in PR AUC) and ROC/PR curves of the deployed candidate: for people,
    not gates, so they run after the deployment instead of delaying it."""
    diagnostics = diagnose_and_log(fraud_model)
    registered = fraud_model.registered
    curves_path = settings.reports() / "evaluation" / f"{registered.name}-v{registered.version}-curves.png"
    atomic_write_bytes(curves_path, diagnostics.curves_png)
    return MaterializeResult(
        metadata={
            "model": f"{registered.name} version {registered.version}",
            **metadata_links.mlflow_links(registered.run_id, registered.name, registered.version),
            "curves": MetadataValue.md(curves_markdown(diagnostics.curves_png)),
            "curves_png": MetadataValue.path(str(curves_path)),
            "feature_importance": MetadataValue.md(diagnostics.importance_markdown(top=15)),
        },
    )


def validation_scores(io_manager: PartitionedParquetIOManager) -> StoredScores:
    """Where models' validation scores are kept, beside the stored assets: the champion gate reads them."""
    return StoredScores(io_manager.layout().validation_scores_dir())
