"""One dynamic partition per landed file (partition key `step_042`), added by the landing sensor."""

from dagster import AllPartitionMapping, AssetIn, DynamicPartitionsDefinition

from fraud_assets.asset_keys import TRANSACTION_FEATURES

slices_partitions = DynamicPartitionsDefinition(name="slices")


def every_features_partition() -> dict[str, AssetIn]:
    """The input of the unpartitioned assets that read the whole history (the model, the drift
    report): every stored partition of `transaction_features`, as a dict keyed by partition key."""
    return {"transaction_features": AssetIn(key=TRANSACTION_FEATURES, partition_mapping=AllPartitionMapping())}
