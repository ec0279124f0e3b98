"""Dagster on a real PostgreSQL server (started with scripts/postgres): the instance storage of
deploy/dagster.yaml as written, the daemon turning landed days into slices and features
exactly once across a restart, and the whole graph deploying and redeploying while a steady
load on the endpoint sees no failed request.

Skipped only when no server can be started here (not root and no PostgreSQL installed); in CI,
which runs as root on Debian, the script installs Debian's package and the tests run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, asset, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START
from dagster_postgres import PostgresRunStorage

from fraud_assets.asset_keys import TRANSACTION_FEATURES, TRANSACTION_SLICES
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.simulation.landing import land_steps
from fraud_assets_tests.platform.project import ROOT, instance_config

SCRIPT = ROOT / "scripts" / "postgres"
UNAVAILABLE = 3  # scripts/postgres: no server here and none can be installed
SLICES, FEATURES = TRANSACTION_SLICES, TRANSACTION_FEATURES


def postgres_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def postgres_cluster():
    """Folder and URL of a throwaway server for the whole session, stopped and removed at the end."""
    # Not under pytest's private tmp folders: as root the server runs as `postgres`, which must reach it.
    folder = Path(tempfile.mkdtemp(prefix="fraud-pg-"))
    folder.chmod(0o755)
    cluster = folder / "cluster"
    started = postgres_script("start", str(cluster))
    if started.returncode == UNAVAILABLE:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL server can be started here: {started.stderr.strip()}")
    assert started.returncode == 0, f"scripts/postgres start failed:\n{started.stderr}"
    try:
        yield cluster, started.stdout.strip()
    finally:
        postgres_script("stop", str(cluster))
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_server(postgres_cluster) -> str:
    return postgres_cluster[1]


def test_the_script_is_idempotent_and_names_what_is_missing(postgres_cluster, tmp_path):
    cluster, url = postgres_cluster
    assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/dagster")
    assert postgres_script("start", str(cluster)).stdout.strip() == url
    assert postgres_script("url", str(cluster)).stdout.strip() == url
    missing = postgres_script("url", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and f"no cluster folder {tmp_path / 'nothing'}" in missing.stderr
    assert postgres_script("stop", str(tmp_path / "nothing")).returncode == 0
    assert "usage: scripts/postgres install | start DIR" in postgres_script("begin").stderr


def fresh_database(server_url: str) -> str:
    """A new empty database on the server, so each test starts from a clean instance."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(server_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def dagster_url(libpq_url: str) -> str:
    """The server's URL for Dagster: SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3, and the
    lock installs psycopg2 (what dagster-postgres depends on), so the driver is named."""
    return urlunparse(urlparse(libpq_url)._replace(scheme="postgresql+psycopg2"))


def test_the_deploy_instance_storage_works_on_a_real_server(postgres_server, tmp_path, monkeypatch):
    url = urlparse(fresh_database(postgres_server))
    settings = {
        "DAGSTER_PG_HOST": url.hostname,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": url.path.lstrip("/"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    # The storage section verbatim; the run launcher needs a cluster and is checked offline elsewhere.
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"storage": instance_config()["storage"]}))

    @asset
    def probe():
        return 1

    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert materialize([probe], instance=instance).success
        assert len(instance.fetch_materializations(AssetKey("probe"), limit=10).records) == 1


def test_the_ingest_location_matches_the_project_definitions():
    from fraud_assets import definitions
    from fraud_assets_tests.platform import ingest_location

    ours, theirs = ingest_location.automation_sensor, definitions.automation_sensor
    assert (ours.name, ours.minimum_interval_seconds, ours.default_status) == (
        theirs.name,
        theirs.minimum_interval_seconds,
        theirs.default_status,
    )
    assert ingest_location.defs.sensors[0] is definitions.landing_sensor
    for name, resource in ingest_location.defs.resources.items():
        assert resource == definitions.defs.resources[name], name
    assets = {spec.key for spec in definitions.defs.resolve_all_asset_specs()}
    assert {SLICES, FEATURES} <= assets


def ingest_workspace(folder: Path) -> Path:
    """A workspace with the ingest and features groups only (see ingest_location)."""
    path = folder / "workspace.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "fraud_assets_tests.platform.ingest_location",
                            "location_name": "fraud_assets",
                            "working_directory": str(ROOT),
                        }
                    }
                ]
            }
        )
    )
    return path


@contextlib.contextmanager
def running_daemon(workspace: Path, log: Path):
    """`dagster-daemon run` on the workspace, SIGKILLed as a whole process group on exit (daemon,
    code server and the runs it launched), like a crashed pod."""
    daemon = Path(sys.executable).parent / "dagster-daemon"
    proc = subprocess.Popen(
        [str(daemon), "run", "-w", str(workspace)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def materialized(instance: DagsterInstance, key: AssetKey) -> Counter:
    return Counter(r.partition_key for r in instance.fetch_materializations(key, limit=1000).records)


def runs_touching(instance: DagsterInstance, key: AssetKey) -> list:
    return [r.dagster_run for r in instance.get_run_records() if key in (r.dagster_run.asset_selection or ())]


def timeline(instance: DagsterInstance) -> str:
    """One line per run, oldest first: what it materialized, its status and when (for failure messages)."""
    lines = []
    for record in reversed(instance.get_run_records()):
        run, start, end = record.dagster_run, record.start_time, record.end_time
        assets = ",".join(sorted(k.to_user_string() for k in run.asset_selection or ()))
        partitions = f"{run.tags.get(RANGE_START, '')}..{run.tags.get(RANGE_END, '')}"
        lines.append(f"  {run.run_id[:8]} {run.status.value:<9} {assets} [{partitions}] start={start} end={end}")
    return "\n".join(lines)


def settled(instance: DagsterInstance, keys: set[str]) -> bool:
    """Slices and features of `keys` are stored and no run touching them is still going."""
    if not (set(materialized(instance, SLICES)) >= keys and set(materialized(instance, FEATURES)) >= keys):
        return False
    return all(run.is_finished for key in (SLICES, FEATURES) for run in runs_touching(instance, key))


def wait_until_settled(instance: DagsterInstance, keys: set[str], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settled(instance, keys):
            return
        time.sleep(1)
    pytest.fail(
        f"timed out after {timeout}s waiting for slices and features of {sorted(keys)}; "
        f"slices {dict(materialized(instance, SLICES))}, features {dict(materialized(instance, FEATURES))}; "
        f"runs:\n{timeline(instance)}\ndaemon log:\n{log.read_text()[-4000:]}"
    )


@pytest.mark.timeout(400)
def test_daemon_on_postgres_materializes_each_day_once_across_a_restart(postgres_server, home, tmp_path, monkeypatch):
    monkeypatch.delenv("FRAUD_EXECUTOR", raising=False)  # steps in the run's process, as on one machine
    instance_yaml = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    instance_yaml["storage"] = {"postgres": {"postgres_url": dagster_url(fresh_database(postgres_server))}}
    # Dequeue runs every second instead of every five: four queued runs, 16 s less waiting.
    instance_yaml["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    warehouse, log, workspace = Warehouse(), tmp_path / "daemon.log", ingest_workspace(tmp_path)
    first = {f"step_{s:03d}" for s in range(3)}
    everything = {f"step_{s:03d}" for s in range(5)}

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        land_steps(warehouse, range(3))
        with running_daemon(workspace, log):
            wait_until_settled(instance, first, 150, log)

        # Days keep landing while the daemon is down; a restarted daemon takes them, and only them.
        land_steps(warehouse, range(3, 5))
        with running_daemon(workspace, log):
            wait_until_settled(instance, everything, 150, log)
            time.sleep(8)  # more sensor ticks: nothing may be requested twice

        assert materialized(instance, SLICES) == Counter({key: 1 for key in everything})
        assert materialized(instance, FEATURES) == Counter({key: 1 for key in everything})
        slice_runs, feature_runs = runs_touching(instance, SLICES), runs_touching(instance, FEATURES)
        runs = timeline(instance)
        assert len(slice_runs) == 2, f"one landing run per batch of new files (before and after the restart):\n{runs}"
        assert len(feature_runs) == 2, f"one automation run per landing run:\n{runs}"
        assert all(run.status == DagsterRunStatus.SUCCESS for run in slice_runs + feature_runs), runs


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SteadyLoad:
    """Bounded loopback clients that score one row again and again until stopped."""

    def __init__(self, url: str, row: dict, clients: int = 2, pause_s: float = 0.02, max_s: float = 600):
        import threading

        self.url, self.body, self.pause_s, self.deadline = (
            url,
            json.dumps(row).encode(),
            pause_s,
            time.monotonic() + max_s,
        )
        self.stop, self.results = threading.Event(), []
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        import urllib.request

        while not self.stop.is_set() and time.monotonic() < self.deadline:
            started = time.perf_counter()
            request = urllib.request.Request(self.url, data=self.body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    ok = response.status == 200 and "fraud_probability" in json.loads(response.read())["data"]["names"]
            except Exception as error:  # every failure counts, whatever its kind
                ok = repr(error)
            self.results.append((ok, time.perf_counter() - started))
            time.sleep(self.pause_s)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.mark.timeout(600)
def test_the_whole_graph_on_postgres_keeps_serving_through_a_retrain_under_load(
    postgres_server, home, tmp_path, record_property
):
    from fraud_assets.demo import land_and_refresh
    from fraud_assets.deployment.deployer import LocalDeployer

    url = dagster_url(fresh_database(postgres_server))
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"storage": {"postgres": {"postgres_url": url}}}))
    deployer = LocalDeployer(port=_free_port(), workers=1)
    try:
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            first = land_and_refresh(instance, range(0, 30), deployer, "baseline")
            assert first.deployed_version == 1, first.check_messages
            row = first.candidate.X_validation.head(1)
            request = {"data": {"names": list(row.columns), "ndarray": row.values.tolist()}}
            with SteadyLoad(deployer.status()["url"], request) as load:
                second = land_and_refresh(instance, range(30, 33), deployer, "retrain under load")
            assert second.deployed_version == 2 and deployer.status()["model_version"] == "2", second.check_messages
            failed = [ok for ok, _ in load.results if ok is not True]
            latencies = sorted(seconds for _, seconds in load.results)
            assert len(latencies) > 100 and not failed, failed[:5]
            p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
            record_property("requests", len(latencies))
            record_property("p50_ms", round(p50, 2))
            record_property("p99_ms", round(p99, 2))
            print(
                f"{len(latencies)} requests during retrain and redeploy, 0 failed, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert len(instance.get_run_records()) == 4, "two runs per landing, all recorded in Postgres"
    finally:
        deployer.stop()
