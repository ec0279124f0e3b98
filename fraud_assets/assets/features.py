"""Group `features`: history-aware, leak-free features per slice, computed incrementally.

Each materialized partition also stores the feature state after it (running sums, last-N amounts,
label counts), so the next day costs what the day costs, not what the history costs.
"""

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, BackfillPolicy, Config, MetadataValue, asset
from pydantic import Field

from fraud_assets.execution import k8s_op_tags
from fraud_assets.features import FEATURE_COLUMNS, FeatureConfig, FeatureState, compute_features_incremental
from fraud_assets.features.state import STORED_STATE_DIR
from fraud_assets.partitions import slices_partitions
from fraud_assets.data.validation import step_from_name
from fraud_assets.storage import atomic_write_bytes, read_parquet
from fraud_assets import settings

# Kept beside the features so downstream assets can split by step, score and trace rows.
CARRIED_COLUMNS = ("step", "customer", "merchant", "fraud")
STATE_DIR = STORED_STATE_DIR


class FeaturesConfig(Config):
    label_delay_steps: int = Field(default=1, description="Labels of step s feed fraud-rate features from step s + delay on")


def _state_path(key: str):
    return settings.storage() / STATE_DIR / f"{key}.state"


def _stored_slice(key: str) -> pd.DataFrame:
    return read_parquet(settings.storage() / "transaction_slices" / f"{key}.parquet")


def starting_state(context: AssetExecutionContext, first_step: int, config: FeatureConfig) -> tuple[FeatureState, list[str]]:
    """The state just before `first_step`, rolled forward from the newest stored state that is usable.

    Returns the state and the keys of earlier slices it had to replay (empty in the steady state).
    """
    earlier = []
    for key in context.instance.get_dynamic_partitions(slices_partitions.name):
        step = step_from_name(key)
        if step is not None and step < first_step and (settings.storage() / "transaction_slices" / f"{key}.parquet").exists():
            earlier.append((step, key))
    earlier.sort()
    state, start = FeatureState.empty(config), 0
    for i in range(len(earlier) - 1, -1, -1):
        path = _state_path(earlier[i][1])
        if path.exists():
            candidate = FeatureState.from_bytes(path.read_bytes())
            if candidate.label_delay_steps == config.label_delay_steps and candidate.last_step == earlier[i][0]:
                state, start = candidate, i + 1
                break
    replayed = [key for _, key in earlier[start:]]
    for key in replayed:
        _, state = compute_features_incremental(_stored_slice(key), state, config)
    return state, replayed


@asset(
    partitions_def=slices_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="features",
    op_tags=k8s_op_tags("features"),
    kinds={"pandas"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed(),
)
def transaction_features(
    context: AssetExecutionContext, config: FeaturesConfig, transaction_slices: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Per-customer, merchant and category amount statistics and delayed fraud rates for every row.

    Computed from the row itself and what was known before it (see `fraud_assets.features`),
    the same code that scores requests at serving time.
    """
    feature_config = FeatureConfig(label_delay_steps=config.label_delay_steps)
    by_step = sorted(transaction_slices.items(), key=lambda kv: int(kv[1]["step"].min()))
    state, replayed = starting_state(context, int(by_step[0][1]["step"].min()), feature_config)
    if replayed:
        context.log.info(f"no stored feature state just before this run: replayed {len(replayed)} earlier slices")
    out: dict[str, pd.DataFrame] = {}
    for key, frame in by_step:
        features, state = compute_features_incremental(frame, state, feature_config)
        out[key] = pd.concat([frame.loc[:, list(CARRIED_COLUMNS)], features], axis=1)
        atomic_write_bytes(_state_path(key), state.to_bytes())
        context.add_asset_metadata(
            {
                "dagster/row_count": len(features),
                "feature_columns": len(FEATURE_COLUMNS),
                "history_rows": state.transactions_seen,
                "replayed_slices": len(replayed),
                "preview": MetadataValue.md(features.head(5).round(3).to_markdown()),
            },
            partition_key=key,
        )
    return out
