"""The code location: every asset, check, sensor and resource, wired for the environment.

Settings come from environment variables (EnvVar), so the same definitions run on one machine
with embedded defaults or on Kubernetes with Postgres, object storage and an MLflow server.
"""

from dagster import Definitions, EnvVar

from fraud_assets.assets import ingest
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.sensors import landing_sensor
from fraud_assets.storage import PartitionedParquetIOManager

defs = Definitions(
    assets=[ingest.transaction_slices],
    sensors=[landing_sensor],
    resources={
        "warehouse": Warehouse(),
        "io_manager": PartitionedParquetIOManager(),
    },
)
