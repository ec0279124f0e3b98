"""transaction_features as an asset: incremental across runs, equal to a full recompute."""

import weakref
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, asset, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upath import UPath

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_FEATURES, TRANSACTION_SLICES
from fraud_assets.assets.features import transaction_features
from fraud_assets.assets.ingest import transaction_slices
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.features import FEATURE_COLUMNS, compute_features
from fraud_assets.features.inputs import slice_digest
from fraud_assets.partitions import every_features_partition
from fraud_assets.simulation.landing import land_steps
from fraud_assets.simulation.simulator import simulate
from fraud_assets.storage import (
    PartitionedParquetIOManager,
    StorageLayout,
    StoredPartitions,
    StoredSlices,
    atomic_write_bytes,
    frame_to_parquet_bytes,
    read_parquet,
)
from fraud_assets.training.candidate import INPUT_COLUMNS

ASSETS = [transaction_slices, transaction_features]


def run(instance, keys, io_manager=None):
    result = materialize(
        ASSETS,
        instance=instance,
        resources={"warehouse": Warehouse(), "io_manager": io_manager or PartitionedParquetIOManager()},
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
        mats = last.asset_materializations_for_node(TRANSACTION_FEATURES.to_python_identifier())
        meta = {m.partition: m.metadata for m in mats}
        assert meta["step_005"]["replayed_slices"].value == 0, "the stored state must be used, not history"

    stored = assert_stored_equal_full_recompute(StorageLayout(settings.storage()), keys, range(0, 6))
    assert stored["fraud"].tolist() == simulate(steps=range(0, 6))["fraud"].tolist()


def test_features_follow_the_io_managers_base_url(home, tmp_path):
    """Stored slices and feature states are found where the IO manager stores them, not only under
    the default storage location."""
    land_steps(Warehouse(), range(0, 3))
    io_manager = PartitionedParquetIOManager(base_url=str(tmp_path / "elsewhere"))
    keys = [f"step_{s:03d}" for s in range(3)]
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("slices", keys)
        run(instance, keys[:2], io_manager)
        last = run(instance, [keys[2]], io_manager)
        mats = last.asset_materializations_for_node(TRANSACTION_FEATURES.to_python_identifier())
        meta = {m.partition: m.metadata for m in mats}
    assert meta["step_002"]["history_rows"].value == len(simulate(steps=range(0, 3)))
    layout = io_manager.layout()
    assert layout.feature_state_path("step_002").exists() and not settings.storage().exists()
    assert_stored_equal_full_recompute(layout, keys, range(0, 3))


def assert_stored_equal_full_recompute(layout: StorageLayout, keys: list[str], steps: range) -> pd.DataFrame:
    """The stored features partitions, checked against one full recompute over the same days."""
    stored = pd.concat([read_parquet(layout.partition_path(TRANSACTION_FEATURES, k)) for k in keys], ignore_index=True)
    full = compute_features(simulate(steps=steps))
    np.testing.assert_allclose(
        stored[list(FEATURE_COLUMNS)].to_numpy(),
        full[list(FEATURE_COLUMNS)].to_numpy(),
        rtol=1e-6,
        atol=1e-6,
        equal_nan=True,
    )
    return stored


def test_an_input_naming_columns_reads_only_those(home):
    """The model reads only the features, step and label of each partition (`every_features_partition(columns)`)."""
    land_steps(Warehouse(), range(0, 2))
    keys = ["step_000", "step_001"]
    seen = {}

    @asset(ins=every_features_partition(columns=INPUT_COLUMNS))
    def reads_training_columns(transaction_features: dict[str, pd.DataFrame]) -> None:
        seen.update(transaction_features)

    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("slices", keys)
        run(instance, keys)
        materialize(
            [reads_training_columns, *ASSETS],
            selection=[reads_training_columns],
            instance=instance,
            resources={"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()},
        )
    assert sorted(seen) == keys
    assert all(list(frame.columns) == list(INPUT_COLUMNS) for frame in seen.values())


def test_a_mapping_input_reads_a_partition_only_when_asked(home):
    """`Mapping[str, DataFrame]` gets the stored partitions (one missing when the run loads it is left out) and
    reads each on access: a file removed after the input was loaded is an error only for the step that asks for
    it. `dict` and `DataFrame` inputs are read whole, as before."""
    land_steps(Warehouse(), range(0, 3))
    keys = ["step_000", "step_001", "step_002"]
    layout = StorageLayout(settings.storage())
    seen: dict = {}

    @asset(ins=every_features_partition(columns=INPUT_COLUMNS))
    def reads_lazily(transaction_features: Mapping[str, pd.DataFrame]) -> None:
        seen["keys"] = list(transaction_features)
        layout.partition_path(TRANSACTION_FEATURES, "step_000").unlink()  # after the input was loaded
        seen["step_002"] = transaction_features["step_002"]
        with pytest.raises(FileNotFoundError):
            transaction_features["step_000"]

    @asset(ins=every_features_partition(columns=INPUT_COLUMNS))
    def reads_whole(transaction_features: dict[str, pd.DataFrame]) -> None:
        seen["dict"] = transaction_features

    @asset(ins=every_features_partition(columns=INPUT_COLUMNS))
    def reads_concatenated(transaction_features: pd.DataFrame) -> None:
        seen["frame"] = transaction_features

    def materialize_alone(reader):
        result = materialize(
            [reader, *ASSETS],
            selection=[reader],
            instance=instance,
            resources={"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()},
        )
        assert result.success

    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("slices", keys)
        run(instance, keys)
        layout.partition_path(TRANSACTION_FEATURES, "step_001").unlink()  # not stored when the run loads it
        materialize_alone(reads_lazily)
        materialize_alone(reads_whole)
        materialize_alone(reads_concatenated)

    assert seen["keys"] == ["step_000", "step_002"]
    assert list(seen["step_002"].columns) == list(INPUT_COLUMNS) and set(seen["step_002"]["step"]) == {2}
    assert type(seen["dict"]) is dict and sorted(seen["dict"]) == ["step_002"]
    assert seen["frame"].equals(seen["dict"]["step_002"])


def test_stored_partitions_keep_no_frame_a_step_let_go_of(tmp_path):
    """Dagster holds a step's input until the step ends: a frame the Mapping kept would outlive the step's use of
    it (the model's training frames, 1.8 GB at 10x, next to the copy the model trains on)."""
    path = UPath(tmp_path) / "step_000.parquet"
    atomic_write_bytes(path, frame_to_parquet_bytes(pd.DataFrame({"amount": [1.0, 2.0]})))
    stored = StoredPartitions({"step_000": path})
    read = weakref.ref(stored["step_000"])
    assert read() is None
    atomic_write_bytes(path, frame_to_parquet_bytes(pd.DataFrame({"amount": [3.0]})))
    assert stored["step_000"]["amount"].tolist() == [3.0]


def test_a_stored_slices_digest_is_kept_until_its_file_changes(home):
    land_steps(Warehouse(), range(0, 2))
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("slices", ["step_000", "step_001"])
        run(instance, ["step_000", "step_001"])
    store = StoredSlices(StorageLayout(settings.storage()))
    assert store.slice_digest("step_001") == slice_digest(store.read_slice("step_001"))
    assert store.layout.slice_digest_path("step_001").exists()
    changed = store.read_slice("step_000")
    changed.loc[0, "amount"] += 1
    atomic_write_bytes(store.layout.partition_path(TRANSACTION_SLICES, "step_001"), frame_to_parquet_bytes(changed))
    assert store.slice_digest("step_001") == slice_digest(changed)


def test_a_run_keeps_the_digests_of_its_slices_so_the_next_day_reads_no_earlier_slice(home, monkeypatch):
    keys = ["step_000", "step_001", "step_002"]
    land_steps(Warehouse(), range(0, 3))
    store = StoredSlices(StorageLayout(settings.storage()))
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("slices", keys)
        run(instance, keys[:2])
        assert all(store.layout.slice_digest_path(k).exists() for k in keys[:2])
        read, read_slice = [], StoredSlices.read_slice
        monkeypatch.setattr(StoredSlices, "read_slice", lambda self, key: read.append(key) or read_slice(self, key))
        run(instance, keys[2:])
    assert set(read) <= {"step_002"}  # its own digest, kept for the day after
