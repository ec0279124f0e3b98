"""Group `deployment`: the gated swap of the serving model, and the champion alias in MLflow."""

import mlflow.sklearn
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from fraud_assets.execution import k8s_op_tags
from fraud_assets import settings
from fraud_assets.assets.training import ModelCandidate
from fraud_assets.automation import refresh_when_upstream_passes
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.deployment.deployer import ModelDeployer
from fraud_assets import registry


def bundle_for(name: str, version: int, target: str = "local") -> ModelBundle:
    """A registered version, verified against its recorded SHA-256.

    Locally the model is downloaded next to the server; a Kubernetes pod downloads the
    version's artifact URI itself (and checks the same hash before loading).
    """
    model_dir = registry.download_version(name, version, settings.serving_dir() / "models" / f"{name}-v{version}")
    model = mlflow.sklearn.load_model(str(model_dir))  # the copy just verified; no second download
    if target == "kubernetes":
        model_dir = registry.artifact_uri(name, version)
    return ModelBundle(
        model_dir=str(model_dir),
        sha256=registry.version_tags(name, version)[registry.SHA256_TAG],
        name=name,
        version=str(version),
        threshold=float(model.threshold),
        feature_names=tuple(model.feature_names_in_),
    )


def deploy_version(deployer: ModelDeployer, name: str, version: int):
    """Serve `version`, then move the champion alias (the old one stays as previous-champion)."""
    result = deployer.deploy(bundle_for(name, version, deployer.target))
    previous = registry.set_champion(name, version)
    return result, previous


@asset(
    deps=["model_evaluation", "drift_report"],
    group_name="deployment",
    op_tags=k8s_op_tags("deployment"),
    kinds={"seldon", "kubernetes", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes(),
)
def model_deployment(context: AssetExecutionContext, fraud_model: ModelCandidate, model_deployer: ModelDeployer):
    """The candidate behind the stable endpoint, only once every metric and drift gate passed.

    The new server is started and smoke-tested before traffic moves; if it fails, the serving
    model is untouched and this asset fails with the reason.
    """
    registered = fraud_model.registered
    result, previous = deploy_version(model_deployer, registered.name, registered.version)
    record = {
        "endpoint": result.endpoint,
        "target": result.target,
        "model_name": registered.name,
        "model_version": registered.version,
        "previous_champion": previous,
        "artifact_sha256": registered.artifact_sha256,
        "mlflow_run_id": registered.run_id,
        "training_slices": list(fraud_model.training_slices),
        "metrics": fraud_model.evaluation.metrics,
        "threshold": fraud_model.evaluation.threshold,
        "pids": result.pids,
        "k8s_object": result.k8s_object,
    }
    return Output(
        record,
        metadata={
            "endpoint": MetadataValue.url(result.endpoint),
            "model": f"{registered.name} version {registered.version}",
            "previous_champion": str(previous) if previous is not None else "none",
            "mlflow_run": registry.run_link(registered.run_id),
            "artifact_sha256": registered.artifact_sha256,
            "training_slices": f"{len(fraud_model.training_slices)} ({fraud_model.training_slices[0]} .. {fraud_model.training_slices[-1]})",
            "metrics": MetadataValue.md(fraud_model.evaluation.metrics_markdown()),
            "serving": MetadataValue.json({"target": result.target, "pids": result.pids, "k8s_object": result.k8s_object}),
        },
    )
