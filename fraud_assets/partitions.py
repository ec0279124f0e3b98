"""One dynamic partition per landed file (partition key `step_042`), added by the landing sensor."""

from collections.abc import Mapping, Sequence

import pandas as pd
from dagster import AllPartitionMapping, AssetIn, DagsterType, DynamicPartitionsDefinition

from fraud_assets.asset_keys import TRANSACTION_FEATURES

slices_partitions = DynamicPartitionsDefinition(name="slices")

# Dagster resolves a `Mapping[str, DataFrame]` annotation to its typed dict, whose check wants a dict and reads
# every value; this one checks the container only, so partitions the IO manager reads on access stay unread.
PARTITION_FRAMES = DagsterType(
    name="PartitionFrames",
    type_check_fn=lambda _context, value: isinstance(value, (Mapping, pd.DataFrame)),
    description="Partitions of an asset: a mapping from partition key to frame, or the frames concatenated",
)


def every_features_partition(columns: Sequence[str] | None = None) -> dict[str, AssetIn]:
    """The input of the unpartitioned assets that read the history (the model, the drift report): every
    stored partition of `transaction_features`, shaped by the parameter's annotation (see the IO manager;
    `Mapping[str, DataFrame]` reads a partition only when the asset asks for it); only `columns` of each
    (None: all), which the IO manager reads alone from the Parquet files."""
    metadata = {"columns": list(columns)} if columns is not None else None
    return {
        "transaction_features": AssetIn(
            key=TRANSACTION_FEATURES,
            partition_mapping=AllPartitionMapping(),
            metadata=metadata,
            dagster_type=PARTITION_FRAMES,
        )
    }
