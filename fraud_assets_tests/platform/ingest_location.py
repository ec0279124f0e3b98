"""A code location holding the ingest and features groups only: the project's own assets and
landing sensor, with the automation sensor and resources set up as fraud_assets.definitions does
(test_execution checks they stay the same).

The Postgres daemon test loads it so it checks exactly-once ingestion on Postgres without a model
training on the same two cores or a model server starting on a shared port, and without importing
MLflow and Evidently into every run worker (the full location takes ~3-6x longer to import).
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions

from fraud_assets.assets import features, ingest
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.execution import executor_for
from fraud_assets.sensors import landing_sensor
from fraud_assets.storage import PartitionedParquetIOManager

automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
)

defs = Definitions(
    assets=[ingest.transaction_slices, features.transaction_features],
    sensors=[landing_sensor, automation_sensor],
    resources={"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()},
    executor=executor_for(),
)
