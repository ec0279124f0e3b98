"""Late and corrected days leave nothing stale: the project's sensors and automation, evaluated tick by tick
as the daemon evaluates them, carry every later features partition along, and the stored features of every
day equal a full recompute exactly."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from dagster import DagsterInstance, Definitions, build_sensor_context, evaluate_automation_conditions, materialize
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests_with_backfill_policies
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_FEATURES, TRANSACTION_SLICES
from fraud_assets.assets.checks import slices_usable
from fraud_assets.assets.features import transaction_features
from fraud_assets.assets.ingest import transaction_slices
from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.validation import validate_bytes
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.definitions import defs
from fraud_assets.features import compute_features
from fraud_assets.layout import StorageLayout
from fraud_assets.partitions import slices_partitions
from fraud_assets.simulation.landing import land_steps
from fraud_assets.storage import PartitionedParquetIOManager, read_parquet

ASSETS = [transaction_slices, slices_usable, transaction_features]
RECOMPUTE_REASON = "fraud_assets/recompute_reason"


class Daemon:
    """What `dagster-daemon` does with the project's sensors and the automation sensor, one tick at a time, with
    runs executed in process: dynamic partitions added, cursors kept, a run key requested once."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance
        self.sensors = [s for s in defs.sensors if s.name != "automation_sensor"]
        self.cursors: dict[str, str | None] = {}
        self.run_keys: set[str] = set()
        self.graph = AssetGraph.from_assets(ASSETS)
        self.resources = {"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()}
        self.runs: list[dict] = []  # every run launched: its assets, partitions and tags
        self.automated = Definitions(assets=ASSETS[::2], asset_checks=ASSETS[1:2], resources=self.resources)
        # The automation sensor runs from the start, before anything lands.
        self.automation_cursor = evaluate_automation_conditions(self.automated, instance).cursor

    def tick(self) -> int:
        """One evaluation of every sensor, then of the automation; the number of runs launched."""
        launched = 0
        for sensor in self.sensors:
            context = build_sensor_context(
                instance=self.instance, cursor=self.cursors.get(sensor.name), resources=self.resources
            )
            result = sensor(context)
            for request in getattr(result, "dynamic_partitions_requests", None) or []:
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            if getattr(result, "cursor", None) is not None:
                self.cursors[sensor.name] = result.cursor
            for request in getattr(result, "run_requests", None) or []:
                launched += self.launch(request)
        automation = evaluate_automation_conditions(self.automated, self.instance, cursor=self.automation_cursor)
        self.automation_cursor = automation.cursor
        with partition_loading_context(dynamic_partitions_store=self.instance):
            requests = build_run_requests_with_backfill_policies(
                automation._requested_asset_partitions, self.graph, self.instance
            )
        for request in requests:
            launched += self.launch(request)
        return launched

    def settle(self, max_ticks: int = 8) -> None:
        for _ in range(max_ticks):
            if not self.tick():
                return
        raise AssertionError(f"still launching runs after {max_ticks} ticks: {self.runs[-3:]}")

    def launch(self, request) -> int:
        if request.run_key is not None:
            if request.run_key in self.run_keys:
                return 0
            self.run_keys.add(request.run_key)
        tags = dict(request.tags or {})
        keys = self.partitions(request.partition_key, tags)
        # A landing run carries new days on to serving; this test follows its slices and features.
        selection = [key for key in request.asset_selection if key in self.graph.get_all_asset_keys()]
        result = materialize(
            ASSETS,
            instance=self.instance,
            selection=selection,
            resources=self.resources,
            partition_key=request.partition_key,
            tags=tags,
        )
        assert result.success
        self.runs.append({"assets": selection, "partitions": keys, "tags": tags})
        return 1

    def partitions(self, partition_key: str | None, tags: dict) -> list[str]:
        if partition_key:
            return [partition_key]
        known = self.instance.get_dynamic_partitions(slices_partitions.name)
        start, end = tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
        return known[known.index(start) : known.index(end) + 1]

    def features_computed(self, since: int) -> Counter:
        """How often each features partition was computed by the runs launched from run number `since` on."""
        return Counter(
            k for run in self.runs[since:] if TRANSACTION_FEATURES in run["assets"] for k in run["partitions"]
        )


def correct_one_amount(warehouse: Warehouse, step: int) -> None:
    """Re-land a day with one amount corrected (changed bytes, same rows otherwise)."""
    name = f"step_{step:03d}.csv"
    frame = validate_bytes(warehouse.read(name), source=name, expected_step=step).frame
    frame.loc[0, "amount"] = round(frame.loc[0, "amount"] * 10 + 1, 2)
    warehouse.write(name, to_kaggle_csv(frame))


def assert_stored_features_equal_a_full_recompute(warehouse: Warehouse, steps: range) -> None:
    slices = [
        validate_bytes(warehouse.read(f"step_{s:03d}.csv"), source=f"step_{s:03d}", expected_step=s).frame
        for s in steps
    ]
    full = compute_features(pd.concat(slices, ignore_index=True))
    layout = StorageLayout(settings.storage())
    stored = {s: read_parquet(layout.partition_path(TRANSACTION_FEATURES, f"step_{s:03d}")) for s in steps}
    start = 0
    for s, day in zip(steps, slices, strict=True):
        expected = full.iloc[start : start + len(day)].reset_index(drop=True)
        start += len(day)
        pd.testing.assert_frame_equal(
            stored[s][list(full.columns)], expected, check_exact=True, obj=f"features of step_{s:03d}"
        )


def test_a_late_day_and_a_corrected_day_leave_no_stale_features(home):
    warehouse = Warehouse()
    with DagsterInstance.ephemeral() as instance:
        daemon = Daemon(instance)
        land_steps(warehouse, [*range(0, 5), *range(6, 10)])
        daemon.settle()
        assert set(daemon.features_computed(0)) == {f"step_{s:03d}" for s in (0, 1, 2, 3, 4, 6, 7, 8, 9)}

        # Day 5 lands late: its own features come from days 0-4, and days 6-9 are computed again, each once.
        before = len(daemon.runs)
        land_steps(warehouse, [5])
        daemon.settle()
        assert daemon.features_computed(before) == Counter({f"step_{s:03d}": 1 for s in range(5, 10)})
        assert_stored_features_equal_a_full_recompute(warehouse, range(10))

        # Day 3 re-landed with one amount corrected: day 3 and every later day again, each once.
        before = len(daemon.runs)
        correct_one_amount(warehouse, 3)
        daemon.settle()
        assert daemon.features_computed(before) == Counter({f"step_{s:03d}": 1 for s in range(3, 10)})
        assert_stored_features_equal_a_full_recompute(warehouse, range(10))

        # The UI shows why the later partitions ran again: on the run, and on each partition it computed.
        recomputed = [run for run in daemon.runs[before:] if RECOMPUTE_REASON in run["tags"]]
        assert len(recomputed) == 1 and "step_003" in recomputed[0]["tags"][RECOMPUTE_REASON]
        latest = instance.fetch_materializations(TRANSACTION_FEATURES, limit=1).records[0]
        assert "step_003" in latest.asset_materialization.metadata["recompute_reason"].value

        assert daemon.tick() == 0, "settled: nothing more is requested"
        assert TRANSACTION_SLICES in daemon.runs[before]["assets"]
