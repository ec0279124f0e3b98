"""Files landing all at once, and the same file landing twice, through the landing sensor."""

import json

from dagster import DagsterInstance
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import sensors
from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.data.validation import validate_bytes as validate
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


def test_a_backlog_longer_than_a_tick_is_examined_over_ticks_and_carried_in_one_run(home, day_bytes, monkeypatch):
    """Dagster gives a sensor tick 60 s; at 10x BankSim the 108-day baseline took ~60 s to validate, so a tick that
    examined every file timed out, and did again at every retry. Each tick now examines what its time allows (here
    one file), the validated files wait in the cursor, and one run takes them all once the last is examined."""
    monkeypatch.setattr(sensors, "EXAMINE_SECONDS", 0.0)
    validated = []
    monkeypatch.setattr(
        sensors, "validate_bytes", lambda data, source, **kw: validated.append(source) or validate(data, source, **kw)
    )
    warehouse = Warehouse()
    with DagsterInstance.ephemeral() as instance:
        for step in range(4):
            warehouse.write(f"step_{step:03d}.csv", day_bytes(step))
        cursor = None
        for examined in range(1, 4):
            waiting = tick(instance, warehouse, cursor)
            assert not waiting.run_requests and not waiting.dynamic_partitions_requests
            cursor = apply(instance, waiting)
            assert len(validated) == examined
            assert sum(seen[3:] == [sensors.WAITING] for seen in json.loads(cursor).values()) == examined
        assert instance.get_dynamic_partitions("slices") == []

        last = tick(instance, warehouse, cursor)
        assert len(validated) == 4, "every file is validated once"
        assert len(last.run_requests) == 1
        cursor = apply(instance, last)
        assert instance.get_dynamic_partitions("slices") == KEYS[:4]
        assert run_request_keys(instance, last.run_requests[0]) == KEYS[:4]
        assert not any(seen[3:] for seen in json.loads(cursor).values())
        assert tick(instance, warehouse, cursor).skip_message == "no new or changed files"


def test_files_held_behind_a_queued_landing_run_wait_in_the_cursor_validated_once(home, day_bytes, monkeypatch):
    waiting_run = ["queued-run"]
    monkeypatch.setattr(sensors, "_landing_run_waiting", lambda instance: waiting_run[0])
    validated = []
    monkeypatch.setattr(
        sensors, "validate_bytes", lambda data, source, **kw: validated.append(source) or validate(data, source, **kw)
    )
    warehouse = Warehouse()
    with DagsterInstance.ephemeral() as instance:
        warehouse.write("step_000.csv", day_bytes(0))
        held = tick(instance, warehouse)
        assert not held.run_requests
        cursor = apply(instance, held)
        warehouse.write("step_001.csv", day_bytes(1))
        cursor = apply(instance, tick(instance, warehouse, cursor))
        assert len(validated) == 2

        waiting_run[0] = None  # the queued run started: the held files go in the next
        carried = tick(instance, warehouse, cursor)
        assert len(validated) == 2, "held files are not validated again"
        assert len(carried.run_requests) == 1
        apply(instance, carried)
        assert run_request_keys(instance, carried.run_requests[0]) == KEYS[:2]
