"""Files landing all at once, and the same file landing twice, through the landing sensor."""

from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.data.warehouse import Warehouse
from fraud_assets_tests.test_ingest import apply, materialize_range, run_request_keys, tick

KEYS = [f"step_{i:03d}" for i in range(10)]


def materializations_per_slice(instance) -> dict[str, int]:
    records = instance.fetch_materializations(TRANSACTION_SLICES, limit=1000).records
    counts: dict[str, int] = {}
    for record in records:
        key = record.asset_materialization.partition
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_ten_files_at_once_one_run_and_a_relanded_file_none(home, day_bytes):
    warehouse = Warehouse()
    with DagsterInstance.ephemeral() as instance:
        for step in range(10):
            warehouse.write(f"step_{step:03d}.csv", day_bytes(step))
        warehouse.write("step_004.csv", day_bytes(4))  # the same file landing twice before the tick

        burst = tick(instance, warehouse)
        assert len(burst.run_requests) == 1, burst.run_requests
        cursor = apply(instance, burst)
        assert instance.get_dynamic_partitions("slices") == KEYS
        assert run_request_keys(instance, burst.run_requests[0]) == KEYS
        request = burst.run_requests[0]
        assert materialize_range(
            instance, request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
        ).success

        for step in (4, 9):  # landing again, byte for byte, after the run
            warehouse.write(f"step_{step:03d}.csv", day_bytes(step))
        relanded = tick(instance, warehouse, cursor)
        assert not getattr(relanded, "run_requests", None), relanded.run_requests
        apply(instance, relanded)
        assert instance.get_dynamic_partitions("slices") == KEYS
        assert materializations_per_slice(instance) == dict.fromkeys(KEYS, 1)
