"""The landing sensor for real: a Dagster daemon picks up landed files and materializes them once."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.data.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
SLICES = TRANSACTION_SLICES


def start_daemon(home: Path, log: Path) -> subprocess.Popen:
    # Ingest only: with automation off, the daemon runs the landing sensor and nothing downstream.
    env = {
        **os.environ,
        "FRAUD_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FRAUD_AUTOMATION": "off",
    }
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    daemon = Path(sys.executable).parent / "dagster-daemon"
    return subprocess.Popen(
        [str(daemon), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    # The daemon and its code servers form one process group; SIGKILL it whole.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def materialized_partitions(home: Path) -> dict[str, int]:
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        counts: dict[str, int] = {}
        for record in instance.fetch_materializations(SLICES, limit=1000).records:
            key = record.partition_key
            counts[key] = counts.get(key, 0) + 1
        return counts


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; daemon log:\n{log.read_text()[-4000:]}")


@pytest.mark.timeout(300)
def test_daemon_ingests_each_file_exactly_once_across_a_restart(home, day_bytes, tmp_path):
    wh = Warehouse()
    for step in range(3):
        wh.write(f"step_{step:03d}.csv", day_bytes(step))
    log = tmp_path / "daemon.log"
    proc = start_daemon(home, log)
    try:
        wait_for(lambda: len(materialized_partitions(home)) == 3, 150, "3 slices", log)
    finally:
        stop(proc)

    # Files keep landing while the daemon is down; a restarted daemon takes them, and only them.
    for step in (3, 4):
        wh.write(f"step_{step:03d}.csv", day_bytes(step))
    proc = start_daemon(home, log)
    try:
        wait_for(lambda: len(materialized_partitions(home)) == 5, 150, "5 slices", log)
        time.sleep(8)  # a few more sensor ticks: nothing may be requested twice
    finally:
        stop(proc)
    counts = materialized_partitions(home)
    assert counts == {f"step_{s:03d}": 1 for s in range(5)}
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert len(instance.get_run_records()) == 2, "one run per batch of new files"
