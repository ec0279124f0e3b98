"""transaction_features as an asset: incremental across runs, equal to a full recompute."""

import numpy as np
import pandas as pd
from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import settings
from fraud_assets.assets.features import transaction_features
from fraud_assets.assets.ingest import transaction_slices
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.features import FEATURE_COLUMNS, compute_features
from fraud_assets.simulation.landing import land_steps
from fraud_assets.simulation.simulator import simulate
from fraud_assets.storage import PartitionedParquetIOManager, read_parquet

ASSETS = [transaction_slices, transaction_features]


def run(instance, keys):
    result = materialize(
        ASSETS,
        instance=instance,
        resources={"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()},
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )
    assert result.success
    return result


def test_features_across_runs_equal_one_full_recompute(home):
    land_steps(Warehouse(), range(0, 6))
    with DagsterInstance.ephemeral() as instance:
        keys = [f"step_{s:03d}" for s in range(6)]
        instance.add_dynamic_partitions("slices", keys[:4])
        run(instance, keys[:4])  # a batch
        instance.add_dynamic_partitions("slices", keys[4:])
        run(instance, [keys[4]])  # then one day at a time, from the stored state
        last = run(instance, [keys[5]])
        meta = {m.partition: m.metadata for m in last.asset_materializations_for_node("transaction_features")}
        assert meta["step_005"]["replayed_slices"].value == 0, "the stored state must be used, not history"

    stored = pd.concat(
        [read_parquet(settings.storage() / "transaction_features" / f"{k}.parquet") for k in keys], ignore_index=True
    )
    full = compute_features(simulate(steps=range(0, 6)))
    np.testing.assert_allclose(stored[list(FEATURE_COLUMNS)].to_numpy(), full[list(FEATURE_COLUMNS)].to_numpy(),
                               rtol=1e-6, atol=1e-6, equal_nan=True)
    assert stored["fraud"].tolist() == simulate(steps=range(0, 6))["fraud"].tolist()
