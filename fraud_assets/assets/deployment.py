"""Group `deployment`: the gated swap of the serving model, and the champion alias in MLflow."""

from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from fraud_assets import deployment_gates, metadata_links, release
from fraud_assets.asset_keys import DRIFT_REPORT, MODEL_EVALUATION
from fraud_assets.automation import refresh_when_upstream_passes
from fraud_assets.deployment.deployer import ModelDeployer
from fraud_assets.execution import k8s_op_tags, records_peak_memory
from fraud_assets.training.candidate import ModelCandidate


@asset(
    ins={"drift_report": AssetIn(key=DRIFT_REPORT)},
    deps=[MODEL_EVALUATION],
    group_name="deployment",
    op_tags=k8s_op_tags("deployment"),
    kinds={"seldon", "kubernetes", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes(),
    output_required=False,
)
@records_peak_memory
def model_deployment(
    context: AssetExecutionContext, fraud_model: ModelCandidate, drift_report: dict, model_deployer: ModelDeployer
):
    """The candidate behind the stable endpoint, only once every metric and drift gate passed.

    While the drift report waits for more rows, nothing deploys and nothing fails: this asset is
    not materialized and says why. The gates are read from the instance here, not trusted to have
    stopped the run: materialized on its own, this asset still refuses a version whose gates did not
    pass, naming them. The new server is started and smoke-tested before traffic moves;
    if it fails, the serving model is untouched and this asset fails with the reason.
    """
    if drift_report.get("waiting"):
        context.log.info(f"Not deployed: the drift report is {drift_report['verdict']}")
        return
    registered = fraud_model.registered
    unmet = deployment_gates.unmet_in(context.instance, registered.version, fraud_model.training_slices)
    done = release.deploy_candidate(model_deployer, registered.name, registered.version, unmet, context.run_id)
    result, previous = done.result, done.replaced
    record = {
        "endpoint": result.endpoint,
        "target": result.target,
        "model_name": registered.name,
        "model_version": registered.version,
        "previous_champion": previous,
        "manifest_sha256": registered.manifest_sha256,
        "mlflow_run_id": registered.run_id,
        "training_slices": list(fraud_model.training_slices),
        "metrics": fraud_model.evaluation.metrics,
        "threshold": fraud_model.evaluation.threshold,
        "pids": result.pids,
        "k8s_object": result.k8s_object,
    }
    slices = fraud_model.training_slices
    yield Output(
        record,
        metadata={
            "endpoint": MetadataValue.url(result.endpoint),
            "model": f"{registered.name} version {registered.version}",
            "previous_champion": str(previous) if previous is not None else "none",
            **metadata_links.mlflow_links(registered.run_id, registered.name, registered.version),
            **metadata_links.scoring_page(),
            "manifest_sha256": registered.manifest_sha256,
            "training_slices": f"{len(slices)} ({slices[0]} .. {slices[-1]})",
            "metrics": MetadataValue.md(fraud_model.evaluation.metrics_markdown()),
            "serving": MetadataValue.json(
                {"target": result.target, "pids": result.pids, "k8s_object": result.k8s_object}
            ),
        },
    )
