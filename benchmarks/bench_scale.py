"""The whole graph at K times BankSim (default K = 10: about 6 million rows over 180 days) on this machine.

Runs the real loop, as `make run` does: a Dagster daemon (landing and automation sensors) over a fresh
home, days landed at scale K (`FRAUD_SIMULATION_SCALE`), trained with the given training settings
(`FRAUD_LEGIT_SAMPLE_RATE`, `FRAUD_TRAINING_WINDOW`). It times

1. the baseline (days 0 to `--baseline` - 1) from landing to serving a model that read all of it;
2. one new day from landing to the endpoint serving the model it trained (bar: 60 s);
3. the rest of the history landed at once (up to day `--days` - 1), to serving a model that read its last day;
4. one more new day, now with `--days` days of history (bar: 60 s);

then reads back from the instance the peak memory of every asset step (`peak_memory_mib` in each
materialization's metadata; bar: none above 8 GiB) and each drift_report step's time (bar: 10 s), and
times the features of one day from the stored state before it at 10, 90 and 180 days of history
(the features asset's own path, in this process, the median of 5 timings each; bar: flat, the latest at most 1.5 x
the first per 1,000 rows of the day: BankSim's days grow, day 170 has ~1.4 x day 10's transactions).
Exit status 1 if a bar is missed.

The training settings at 10x: legitimate fit rows down-sampled to 10 %, all history. Measured with
`benchmarks/bench_training_scale.py --only "one fit, float32" "one fit, float32, legit 25%" ...` (10 runs x
180 days, 5.95 million rows, one OpenMP thread, load average 7-17): validation PR AUC 0.9484 without
down-sampling (CPU 247 s, peak 6.72 GiB), 0.9473 at 25 % (112 s, 4.49 GiB), 0.9446 at 10 % (60 s, 4.49 GiB),
0.9379 at 5 % (30 s): 10 % is the lowest rate within 0.005 of the full fit. The latest 90 steps alone
scored 0.9492 (154 s, 5.24 GiB), but with 10 % of their legitimate rows 0.9415 (23 s), outside the 0.005.

    .venv/bin/python benchmarks/bench_scale.py [--scale 10] [--baseline 108] [--days 180]
        [--legit-sample-rate 0.1] [--training-window all] [--keep-home] [--compare-windows 60 90 all]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from daemon_runs import new_home, running_daemon, timings

ROOT = Path(__file__).resolve().parents[1]
LATENCY_BAR_S = 60.0
MEMORY_BAR_MIB = 8 * 1024
DRIFT_BAR_S = 10.0
FLAT_RATIO = 1.5
FEATURE_HISTORIES = (10, 90, 180)
DEPLOY_TIMEOUT_S = 3600


def serving_version(env: dict) -> str | None:
    """What `fraud-assets serve status` reads, in this process: a command per poll would take a core."""
    from fraud_assets.resources import model_deployer

    status = model_deployer().status()
    return status["model_version"] if status and status.get("healthy") else None


def wait_for_version_trained_on(env: dict, day: int, started: float, home: Path) -> float:
    """Seconds until the endpoint serves a model that read day `day`: files landed one by one can start a run for
    the first of them alone, whose deployment is not the one the later days wait for."""
    from fraud_assets import registry

    key = f"step_{day:03d}"
    while (version := serving_version(env)) is None or key not in registry.training_slices(
        registry.DEFAULT_MODEL_NAME, version
    ):
        if time.time() - started > DEPLOY_TIMEOUT_S:
            sys.exit(f"no model trained on {key} served within {DEPLOY_TIMEOUT_S} s; see {home / 'daemon.log'}")
        time.sleep(0.5)
    return time.time() - started


def land(steps: range) -> float:
    from fraud_assets.data.warehouse import Warehouse
    from fraud_assets.simulation.landing import land_steps

    started = time.time()
    land_steps(Warehouse(), steps)
    return time.time() - started


def step_times(home: Path, since: float) -> list[tuple[str, float]]:
    """(step key, seconds) of every step that started after `since`, in the order they began."""
    return [(row.step, row.seconds) for row in timings(home, since) if row.step]


def peak_memory_by_asset(home: Path) -> dict[str, float]:
    """The highest `peak_memory_mib` of each asset over all its materializations."""
    from dagster import AssetKey, DagsterInstance, EventRecordsFilter
    from dagster._core.events import DagsterEventType

    from fraud_assets.execution import PEAK_MEMORY_MIB

    peaks = {}
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        for key in instance.all_asset_keys():
            records = instance.get_event_records(
                EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION, asset_key=AssetKey(key.path))
            )
            values = [
                r.asset_materialization.metadata[PEAK_MEMORY_MIB].value
                for r in records
                if PEAK_MEMORY_MIB in r.asset_materialization.metadata
            ]
            if values:
                peaks[key.to_user_string()] = max(values)
    return peaks


class ReadOnlyStore:
    """The stored slices and states, with state writes dropped: timing a day must not change its features."""

    def __init__(self, stored):
        self._stored = stored

    def slice_exists(self, partition: str) -> bool:
        return self._stored.slice_exists(partition)

    def read_slice(self, partition: str):
        return self._stored.read_slice(partition)

    def slice_digest(self, partition: str) -> str:
        return self._stored.slice_digest(partition)

    def read_state(self, partition: str) -> bytes | None:
        return self._stored.read_state(partition)

    def write_state(self, partition: str, data: bytes) -> None:
        pass


def features_day_cost(histories: list[int], repeats: int = 5) -> dict[int, tuple[float, int]]:
    """Seconds to compute day `h`'s features from the stored state after day h - 1 (h days of history): the
    median of `repeats` timings after one untimed call (which reads the files into the page cache and keeps
    any slice digest missing), since one timing of a 0.1-0.2 s computation is mostly noise; with the day's rows."""
    from fraud_assets.data.warehouse import slice_file_name
    from fraud_assets.features import FeatureConfig
    from fraud_assets.features.replay import features_for_slices
    from fraud_assets.layout import StorageLayout
    from fraud_assets.settings import storage
    from fraud_assets.storage import StoredSlices

    store = ReadOnlyStore(StoredSlices(StorageLayout(storage())))
    costs = {}
    for history in histories:
        keys = [slice_file_name(step).removesuffix(".csv") for step in range(history + 1)]
        frame = store.read_slice(keys[-1])
        seconds = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            run = features_for_slices({keys[-1]: frame}, keys, FeatureConfig(), store)
            seconds.append(time.perf_counter() - started)
            if run.replayed:
                sys.exit(f"day {history}: the stored state after day {history - 1} was not reused ({run.replayed[:3]})")
        costs[history] = statistics.median(seconds[1:]), len(frame)
    return costs


def compare_windows(windows: list[str], legit_sample_rate: float, days: int) -> None:
    """Validation PR AUC, F1 and fit CPU of `fraud_model`'s training on this home's features at each training
    window, all judged on the same validation steps (the quality side of the training window's choice at scale K)."""
    import resource

    from fraud_assets.asset_keys import TRANSACTION_FEATURES
    from fraud_assets.data.warehouse import slice_file_name
    from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
    from fraud_assets.layout import StorageLayout
    from fraud_assets.settings import storage
    from fraud_assets.storage import StoredPartitions
    from fraud_assets.training.candidate import INPUT_COLUMNS, slices_to_read
    from fraud_assets.training.evaluation import evaluate
    from fraud_assets.training.train import fit_windows, windows_of_slices

    layout = StorageLayout(storage())
    keys = [slice_file_name(step).removesuffix(".csv") for step in range(days + 1)]
    stored = StoredPartitions({k: layout.partition_path(TRANSACTION_FEATURES, k) for k in keys}, list(INPUT_COLUMNS))
    print(f"\ntraining windows on days 0-{days}, legit sample rate {legit_sample_rate}, one fit thread:")
    for window in windows:
        split, slice_ids = slices_to_read(stored, None if window == "all" else int(window))
        cut = windows_of_slices((stored[k] for k in slice_ids), FEATURE_COLUMNS, split)
        started = resource.getrusage(resource.RUSAGE_SELF)
        trained = fit_windows(cut, CATEGORICAL_FEATURES, legit_sample_rate=legit_sample_rate, fit_threads=1)
        ended = resource.getrusage(resource.RUSAGE_SELF)
        metrics = evaluate(trained.model, cut.X_validation, cut.y_validation).metrics
        print(
            f"  window {window:>4}: {len(cut.X_train):,} training rows, fit and threshold CPU "
            f"{ended.ru_utime + ended.ru_stime - started.ru_utime - started.ru_stime:5.1f} s, "
            f"PR AUC {metrics['pr_auc']:.4f}, F1 {metrics['f1']:.4f}; validation steps {split.describe()['validation']}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--baseline", type=int, default=108, help="days landed first (default 108)")
    parser.add_argument("--days", type=int, default=180, help="days of history before the last new day")
    parser.add_argument("--legit-sample-rate", default="0.1", help="FRAUD_LEGIT_SAMPLE_RATE for the run")
    parser.add_argument("--training-window", default="all", help="FRAUD_TRAINING_WINDOW for the run")
    parser.add_argument("--keep-home", action="store_true", help="leave the home for a look afterwards")
    parser.add_argument(
        "--compare-windows", nargs="*", default=[], metavar="N", help="afterwards, PR AUC at these windows (or all)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    home = new_home(ROOT, "fraud-scale-")
    env = {
        **os.environ,
        "FRAUD_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FRAUD_DEPLOY_PORT": "9412",
        "FRAUD_SIMULATION_SCALE": str(args.scale),
        "FRAUD_LEGIT_SAMPLE_RATE": args.legit_sample_rate,
        "FRAUD_TRAINING_WINDOW": args.training_window,
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith(("FRAUD_", "DAGSTER_"))})
    print(
        f"scale {args.scale}, legit sample rate {args.legit_sample_rate}, training window {args.training_window}, "
        f"home {home}; load average {os.getloadavg()}",
        flush=True,
    )
    print(
        f"landing days 0-{args.baseline - 1}: {land(range(args.baseline)):.0f} s (simulating and writing)", flush=True
    )
    failures, figures = [], {}
    with running_daemon(ROOT, home, env):
        started = time.time()
        figures["baseline to first deployment (s)"] = wait_for_version_trained_on(env, args.baseline - 1, started, home)
        print(f"baseline to first deployment: {figures['baseline to first deployment (s)']:.0f} s", flush=True)

        def one_new_day(day: int) -> float:
            time.sleep(61)  # one retrain per minute (FRAUD_RETRAIN_CRON): do not time its wait
            t0 = time.time()
            land(range(day, day + 1))
            latency = wait_for_version_trained_on(env, day, t0, home)
            print(f"day {day}: landed -> served in {latency:.1f} s (bar {LATENCY_BAR_S:.0f} s)", flush=True)
            for key, seconds in step_times(home, t0):
                print(f"    {seconds:6.1f} s  {key}")
            if latency > LATENCY_BAR_S:
                failures.append(f"day {day} took {latency:.1f} s from landing to serving")
            return latency

        figures[f"day {args.baseline}: landing to serving (s)"] = one_new_day(args.baseline)
        if args.days > args.baseline + 1:
            t0 = time.time()
            land(range(args.baseline + 1, args.days))
            seconds = wait_for_version_trained_on(env, args.days - 1, t0, home)
            figures[f"days {args.baseline + 1}-{args.days - 1} at once, to serving (s)"] = seconds
            print(f"days {args.baseline + 1}-{args.days - 1} landed at once -> served in {seconds:.0f} s", flush=True)
        figures[f"day {args.days}: landing to serving (s)"] = one_new_day(args.days)

    print("\npeak memory per asset step (highest over its materializations; bar 8 GiB):")
    for asset, mib in sorted(peak_memory_by_asset(home).items()):
        print(f"  {mib / 1024:6.2f} GiB  {asset}")
        if mib > MEMORY_BAR_MIB:
            failures.append(f"{asset} peaked at {mib / 1024:.2f} GiB")
    drift = [seconds for key, seconds in step_times(home, 0) if key == "drift_report"]
    print(f"\ndrift_report steps: {', '.join(f'{s:.1f}' for s in drift)} s (bar {DRIFT_BAR_S:.0f} s for a new day)")
    if drift and drift[-1] > DRIFT_BAR_S:
        failures.append(f"the last drift_report took {drift[-1]:.1f} s")
    histories = [h for h in FEATURE_HISTORIES if h <= args.days]
    costs = features_day_cost(histories)
    print("\nfeatures of one day from the stored state before it:")
    per_thousand = {history: 1e6 * seconds / rows for history, (seconds, rows) in costs.items()}  # ms per 1,000 rows
    for history, (seconds, rows) in costs.items():
        print(
            f"  {history:4d} days of history: {seconds:.3f} s, {rows:,} rows, {per_thousand[history]:.2f} ms per 1,000"
        )
    if per_thousand[histories[-1]] > FLAT_RATIO * per_thousand[histories[0]]:
        failures.append(f"features per day not flat: {per_thousand} ms per 1,000 rows")
    if args.compare_windows:
        compare_windows(args.compare_windows, float(args.legit_sample_rate), args.days)
    print(f"\nload average {os.getloadavg()}")
    for what, value in figures.items():
        print(f"  {value:8.1f}  {what}")
    if not args.keep_home:
        shutil.rmtree(home, ignore_errors=True)
    for failure in failures:
        print(f"BAR MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
