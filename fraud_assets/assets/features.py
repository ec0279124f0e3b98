"""Group `features`: history-aware, leak-free features per slice, computed incrementally.

Each materialized partition also stores the feature state after it, so the next day costs what
the day costs, not what the history costs (see `fraud_assets.features.replay`).
"""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MetadataValue,
    ResourceParam,
    asset,
)
from pydantic import Field

from fraud_assets.automation import refresh_when_upstream_passes
from fraud_assets.execution import k8s_op_tags, records_peak_memory
from fraud_assets.features import FEATURE_COLUMNS, FeatureConfig
from fraud_assets.features.replay import features_for_slices
from fraud_assets.partitions import slices_partitions
from fraud_assets.storage import PartitionedParquetIOManager, StoredSlices

# Metadata keys of each features partition that the recompute sensor reads back (`fraud_assets.sensors`).
INPUTS_DIGEST = "inputs_digest"
SLICE_DIGEST = "slice_digest"
RECOMPUTE_REASON = "recompute_reason"
# The run tag that says why a run computes features partitions again; copied onto each partition.
RECOMPUTE_REASON_TAG = "fraud_assets/recompute_reason"


class FeaturesConfig(Config):
    label_delay_steps: int = Field(
        default=1, description="Labels of step s feed fraud-rate features from step s + delay on"
    )


@asset(
    partitions_def=slices_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="features",
    op_tags=k8s_op_tags("features"),
    kinds={"pandas"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes(),
)
@records_peak_memory
def transaction_features(
    context: AssetExecutionContext,
    config: FeaturesConfig,
    transaction_slices: dict[str, pd.DataFrame],
    io_manager: ResourceParam[PartitionedParquetIOManager],
) -> dict[str, pd.DataFrame]:
    """Per-customer, merchant and category amount statistics and delayed fraud rates for every row.

    Computed from the row itself and what was known before it (see `fraud_assets.features`).
    """
    run = features_for_slices(
        transaction_slices,
        context.instance.get_dynamic_partitions(slices_partitions.name),
        FeatureConfig(label_delay_steps=config.label_delay_steps),
        StoredSlices(io_manager.layout()),
    )
    if run.replayed:
        context.log.info(f"no usable stored feature state for {len(run.replayed)} earlier slices: replayed them")
    reason = context.run.tags.get(RECOMPUTE_REASON_TAG)
    for key, computed in run.slices.items():
        context.add_asset_metadata(
            {
                "dagster/row_count": len(computed.rows),
                "feature_columns": len(FEATURE_COLUMNS),
                "history_rows": computed.history_rows,
                "replayed_slices": len(run.replayed),
                INPUTS_DIGEST: computed.inputs,
                SLICE_DIGEST: computed.slice_digest,
                **({RECOMPUTE_REASON: reason} if reason else {}),
                "preview": MetadataValue.md(computed.rows.loc[:, list(FEATURE_COLUMNS)].head(5).round(3).to_markdown()),
            },
            partition_key=key,
        )
    return {key: computed.rows for key, computed in run.slices.items()}
