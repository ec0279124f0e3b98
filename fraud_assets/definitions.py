"""The code location: every asset, check, sensor and resource, wired for the environment.

Settings come from environment variables (EnvVar), so the same definitions run on one machine
with embedded defaults or on Kubernetes with Postgres, object storage and an MLflow server.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions

from fraud_assets.assets import features, ingest
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.sensors import landing_sensor
from fraud_assets.storage import PartitionedParquetIOManager

# Declarative automation is what carries a landed day downstream; Dagster ships its default
# automation sensor stopped, so this project defines it running.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
)

defs = Definitions(
    assets=[ingest.transaction_slices, features.transaction_features],
    sensors=[landing_sensor, automation_sensor],
    resources={
        "warehouse": Warehouse(),
        "io_manager": PartitionedParquetIOManager(),
    },
)
