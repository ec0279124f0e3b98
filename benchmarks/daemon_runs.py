"""What the whole-loop benchmarks (`bench_loop_latency.py`, `bench_scale.py`) share: a fresh home with a Dagster
daemon over it, as `make run` has, and the time each run and step took, read back from the instance's event log.

Not a benchmark itself (`make bench` runs `bench_*.py` only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
RUNS_END_TIMEOUT_S = 180


def new_home(root: Path, prefix: str) -> Path:
    """An empty home whose Dagster instance uses the checkout's dagster.yaml."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(root / "dagster.yaml", home / "dagster" / "dagster.yaml")
    return home


@contextlib.contextmanager
def running_daemon(root: Path, home: Path, env: dict) -> Iterator[subprocess.Popen]:
    """The checkout's daemon (landing and automation sensors) over `home`, logging to `home/daemon.log`; on the way
    out its whole process group (the runs it launched too) is stopped (SIGTERM, SIGKILL after 30 s) and the model
    server with it."""
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(root / "workspace.yaml")],
        cwd=root,
        env=env,
        stdout=(home / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield daemon
        _wait_for_runs_to_end(home, RUNS_END_TIMEOUT_S)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        subprocess.run([str(BIN / "fraud-assets"), "serve", "stop"], env=env, check=False, capture_output=True)


def _wait_for_runs_to_end(home: Path, timeout_s: float) -> None:
    """Until no run is queued or running: the endpoint serves a new model before its run ends (the deploy then stops
    the old server), and stopping the daemon then would cut that step short and lose its metadata."""
    from dagster import DagsterInstance, RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    deadline = time.time() + timeout_s
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        while instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES), limit=1) and time.time() < deadline:
            time.sleep(0.5)


@dataclass(frozen=True)
class Timing:
    """One row of where the time went: a run's queue or execution, or one step (`step` is its key)."""

    what: str
    start: float  # seconds after `since`
    seconds: float
    step: str | None = None


def timings(home: Path, since: float) -> list[Timing]:
    """Every run created after `since` (queued, then executing) and each of its steps, in the order they began."""
    from dagster import DagsterEventType, DagsterInstance

    rows = []
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        for record in instance.get_run_records():
            if record.create_timestamp.timestamp() < since:
                continue
            run = record.dagster_run
            created = record.create_timestamp.timestamp()
            started = record.start_time or created
            assets = ",".join(sorted(k.to_user_string() for k in run.asset_selection or []))
            rows.append(
                Timing(f"run {run.run_id[:8]} created → started ({assets})", created - since, started - created)
            )
            if record.end_time:
                rows.append(Timing(f"run {run.run_id[:8]} started → ended", started - since, record.end_time - started))
            starts = {}
            for entry in instance.all_logs(
                run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
            ):
                if entry.dagster_event.event_type == DagsterEventType.STEP_START:
                    starts[entry.step_key] = entry.timestamp
                elif entry.step_key in starts:
                    began = starts[entry.step_key]
                    rows.append(
                        Timing(f"  step {entry.step_key}", began - since, entry.timestamp - began, entry.step_key)
                    )
    return sorted(rows, key=lambda row: row.start)
