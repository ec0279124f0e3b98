"""Every resource the graph needs, picked and configured from `fraud_assets.settings` in one place:
the definitions, the CLI and the demo all take theirs from here."""

from __future__ import annotations

import dataclasses

from dagster import Field, Noneable, Permissive, StringSource, resource

from fraud_assets import registry, settings
from fraud_assets.configurable import PlainConfig, with_fields_of
from fraud_assets.training.gates import MetricBounds

EXPERIMENT = registry.DEFAULT_EXPERIMENT

# dagster-mlflow's config (`dagster_mlflow.resources.CONFIG_SCHEMA`): the two fields set or read here, its other
# optional ones passed through. Declared here because importing dagster-mlflow imports MLflow.
MLFLOW_CONFIG_SCHEMA = Permissive(
    {
        "experiment_name": Field(StringSource, is_required=True, description="MlFlow experiment name."),
        "mlflow_tracking_uri": Field(
            Noneable(StringSource), default_value=None, is_required=False, description="MlFlow tracking server uri."
        ),
    }
)


@resource(
    config_schema=MLFLOW_CONFIG_SCHEMA,
    description="dagster-mlflow tracking, with artifacts kept under FRAUD_ASSETS_HOME",
)
def mlflow_tracking(context):
    """dagster-mlflow's `mlflow_tracking`, after creating the experiment with our artifact root.

    dagster-mlflow creates a missing experiment with MLflow's default artifact location, which
    for a SQLite store is a folder under the current working directory.
    """
    import mlflow
    from dagster_mlflow.resources import MlFlow

    uri = context.resource_config.get("mlflow_tracking_uri") or registry.tracking_uri()
    mlflow.set_tracking_uri(uri)  # MlFlow only sets it when configured; MLflow's default is ./mlflow.db
    mlflow.set_registry_uri(uri)
    registry.ensure_experiment(context.resource_config["experiment_name"], uri)
    return MlFlow(context)


class _MetricBoundsConfig(PlainConfig):
    def bounds(self) -> MetricBounds:
        return self.plain()


MetricBoundsResource = with_fields_of(
    MetricBounds,
    _MetricBoundsConfig,
    "MetricBoundsResource",
    "The gate bounds (training.gates.MetricBounds) as a Dagster resource, so they show in the UI and differ per "
    "deployment.",
)


def metric_bounds(current: settings.Settings | None = None):
    """The gate bounds from the settings (the setting and the MetricBounds field share a name)."""
    current = current or settings.load()
    return MetricBoundsResource(**{f.name: getattr(current, f.name) for f in dataclasses.fields(MetricBounds)})


def model_deployer(current: settings.Settings | None = None):
    """The deployer for FRAUD_DEPLOY_TARGET, configured from the settings: the one place the target is chosen."""
    from fraud_assets.deployment.deployer import KubernetesDeployer, LocalDeployer

    current = current or settings.load()
    if current.deploy_target == "kubernetes":
        return KubernetesDeployer(**current.section("k8s"))
    return LocalDeployer(port=current.deploy_port, workers=current.deploy_workers)


def graph_resources(deployer=None, bounds=None, drift_limits=None, current: settings.Settings | None = None) -> dict:
    """Every resource the graph needs, configured from the settings (default: the environment's) unless given."""
    from fraud_assets.data.warehouse import Warehouse
    from fraud_assets.monitoring.limits import DriftLimits
    from fraud_assets.storage import PartitionedParquetIOManager

    current = current or settings.load()
    return {
        "warehouse": Warehouse(),
        "io_manager": PartitionedParquetIOManager(),
        "mlflow": mlflow_tracking.configured({"experiment_name": EXPERIMENT}),
        "metric_bounds": bounds or metric_bounds(current),
        "drift_limits": drift_limits or DriftLimits(max_drift_share=current.max_drift_share),
        "model_deployer": deployer or model_deployer(current),
    }
