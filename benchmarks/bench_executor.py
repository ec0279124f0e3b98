"""Which Dagster executor runs our small per-day runs faster on one machine: in_process or multiprocess.

A run the sensors start covers a batch of new days and one or two steps (slices, then features),
so the question is what a step's process costs compared with the step's own work. Each executor
runs the same job (transaction_slices + transaction_features over the same partitions) on a real
SQLite instance, through `execute_job` (the path a launched run takes), `--repeats` times.

    .venv/bin/python benchmarks/bench_executor.py [--days 1 5] [--repeats 3] 2>/dev/null

(The step subprocesses log to stderr; the figures go to stdout.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from dagster import (
    DagsterInstance,
    Definitions,
    define_asset_job,
    execute_job,
    in_process_executor,
    multiprocess_executor,
    reconstructable,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets.asset_keys import TRANSACTION_FEATURES, TRANSACTION_SLICES
from fraud_assets.assets import features, ingest
from fraud_assets.data.warehouse import Warehouse, partition_key_for
from fraud_assets.partitions import slices_partitions
from fraud_assets.simulation.landing import land_steps
from fraud_assets.storage import PartitionedParquetIOManager


def _job(executor):
    defs = Definitions(
        assets=[ingest.transaction_slices, features.transaction_features],
        jobs=[define_asset_job("bench", selection=[TRANSACTION_SLICES, TRANSACTION_FEATURES])],
        resources={"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()},
        executor=executor,
    )
    return defs.resolve_job_def("bench")


# Module-level, one per executor: `reconstructable` rebuilds the job from this pointer in the
# multiprocess executor's children (and caches the definition per pointer).
def in_process_job():
    return _job(in_process_executor)


def multiprocess_job():
    return _job(multiprocess_executor)


JOBS = {"in_process": in_process_job, "multiprocess": multiprocess_job}


def one_run(job, instance: DagsterInstance, keys: list[str]) -> float:
    start = time.perf_counter()
    with execute_job(
        reconstructable(job),
        instance,
        run_config={"loggers": {"console": {"config": {"log_level": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}}}},
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    ) as result:
        if not result.success:
            raise SystemExit(f"run {result.run_id} failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-executor-") as tmp:
        home = Path(tmp)
        os.environ["FRAUD_ASSETS_HOME"] = str(home)
        (home / "dagster").mkdir()
        landed = land_steps(Warehouse(), range(max(args.days)))
        all_keys = [partition_key_for(p.name) for p in landed]
        with DagsterInstance.from_config(str(home / "dagster")) as instance:
            instance.add_dynamic_partitions(slices_partitions.name, all_keys)
            print(f"{'executor':<13} {'days':>4}  {'median s':>8}  runs (s)")
            for days in args.days:
                for name, job in JOBS.items():
                    times = [one_run(job, instance, all_keys[:days]) for _ in range(args.repeats)]
                    print(
                        f"{name:<13} {days:>4}  {statistics.median(times):8.2f}  " + " ".join(f"{t:.2f}" for t in times)
                    )


if __name__ == "__main__":
    main()
