"""One dynamic partition per landed file (partition key `step_042`), added by the landing sensor."""

from collections.abc import Sequence

from dagster import AllPartitionMapping, AssetIn, DynamicPartitionsDefinition

from fraud_assets.asset_keys import TRANSACTION_FEATURES

slices_partitions = DynamicPartitionsDefinition(name="slices")


def every_features_partition(columns: Sequence[str] | None = None) -> dict[str, AssetIn]:
    """The input of the unpartitioned assets that read the whole history (the model, the drift
    report): every stored partition of `transaction_features`, as a dict keyed by partition key;
    only `columns` of each (None: all), which the IO manager reads alone from the Parquet files."""
    metadata = {"columns": list(columns)} if columns is not None else None
    return {
        "transaction_features": AssetIn(
            key=TRANSACTION_FEATURES, partition_mapping=AllPartitionMapping(), metadata=metadata
        )
    }
