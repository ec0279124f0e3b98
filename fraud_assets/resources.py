"""Resources that wrap an ecosystem library with this project's defaults."""

import mlflow
from dagster import resource
from dagster_mlflow.resources import CONFIG_SCHEMA, MlFlow

from fraud_assets import registry

EXPERIMENT = registry.DEFAULT_EXPERIMENT


@resource(config_schema=CONFIG_SCHEMA, description="dagster-mlflow tracking, with artifacts kept under FRAUD_ASSETS_HOME")
def mlflow_tracking(context):
    """dagster-mlflow's `mlflow_tracking`, after creating the experiment with our artifact root.

    dagster-mlflow creates a missing experiment with MLflow's default artifact location, which
    for a SQLite store is a folder under the current working directory.
    """
    uri = context.resource_config.get("mlflow_tracking_uri") or registry.tracking_uri()
    mlflow.set_tracking_uri(uri)  # MlFlow only sets it when configured; MLflow's default is ./mlflow.db
    mlflow.set_registry_uri(uri)
    registry.ensure_experiment(context.resource_config["experiment_name"], uri)
    return MlFlow(context)


def graph_resources(deployer=None, bounds=None, drift_limits=None) -> dict:
    """Every resource the graph needs, configured from the environment unless given."""
    from fraud_assets.data.warehouse import Warehouse
    from fraud_assets.deployment.deployer import ModelDeployer
    from fraud_assets.monitoring.limits import DriftLimits
    from fraud_assets.storage import PartitionedParquetIOManager
    from fraud_assets.training.gates import MetricBoundsResource

    return {
        "warehouse": Warehouse(),
        "io_manager": PartitionedParquetIOManager(),
        "mlflow": mlflow_tracking.configured({"experiment_name": EXPERIMENT}),
        "metric_bounds": bounds or MetricBoundsResource.from_env(),
        "drift_limits": drift_limits or DriftLimits.from_env(),
        "model_deployer": deployer or ModelDeployer.from_env(),
    }
