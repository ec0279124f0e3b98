"""The browser test's machinery: `fraud-assets dev` on free loopback ports, and a headless Debian
Chromium driven by Playwright.

Playwright's own browser download does not work here, so it drives /usr/bin/chromium through
`executable_path`; `scripts/browser-deps` installs it. Screenshots and the server log go to
test-artifacts/ui/ so a failed CI run can be read afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from playwright.sync_api import expect, sync_playwright

from fraud_assets.deployment import processes
from fraud_assets.resources import model_deployer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What workspace.yaml loads, as the webserver names it: the location, the repository Definitions make, its asset job.
LOCATION, REPOSITORY, ASSET_JOB = "fraud_assets", "__repository__", "__ASSET_JOB"
VIEWPORT = {"width": 1920, "height": 1200}  # wide enough for the six-asset graph with labels
# Dagster, MLflow, the page and the model server share the machine with the browser: pages can take a while.
expect.set_options(timeout=30_000)


def free_ports(count: int) -> list[int]:
    """Ports the kernel had free a moment ago, all distinct (sockets held open together)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of a session."""
    members = []
    for pid_dir in Path("/proc").iterdir():
        try:
            fields = (pid_dir / "stat").read_text().rpartition(")")[2].split() if pid_dir.name.isdigit() else None
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(pid_dir.name))
    return members


class DagsterDev:
    """`fraud-assets dev` (what `make run` starts: Dagster's webserver and daemon, MLflow's UI, the
    scoring page) as the leader of its own session, each service in a process group of its own.

    Ctrl-C is SIGINT to the leader's process group, as a terminal sends it. Whatever of the session
    is left after that is SIGKILLed on stop. The model server the deployment asset starts is a
    session leader of its own, so it is stopped through the deployer.
    """

    def __init__(self, home: Path, ports: list[int], deploy_port: int, log: Path):
        self.home, self.deploy_port, self.log = home, deploy_port, log
        self.port, self.mlflow_port, self.page_port = ports
        self.process: subprocess.Popen | None = None
        self.serving_record: dict | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.page_port}"

    def start(self) -> None:
        command = [
            str(Path(sys.executable).parent / "fraud-assets"),
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mlflow-port",
            str(self.mlflow_port),
            "--page-port",
            str(self.page_port),
        ]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # cwd is the home so nothing a library writes to the working directory lands in the repo.
        self.process = subprocess.Popen(
            command,
            cwd=self.home,
            env=dict(os.environ),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str):
        """Poll `predicate` each second until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(
                    f"`fraud-assets dev` exited ({self.process.returncode}) while waiting for {what}:\n{self.log_tail()}"
                )
            if value := predicate():
                return value
            time.sleep(1)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; `fraud-assets dev` log:\n{self.log_tail()}")

    def serving_ui(self) -> bool:
        return all(
            self._answers(url)
            for url in (f"{self.url}/server_info", f"{self.mlflow_url}/health", f"{self.page_url}/_stcore/health")
        )

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def interrupt(self, timeout: float = 120) -> str:
        """Ctrl-C as a terminal sends it (SIGINT to the process group); what `fraud-assets dev` printed."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=timeout)
        return self.log_tail(2000)

    @contextlib.contextmanager
    def instance(self) -> Iterator[DagsterInstance]:
        with DagsterInstance.from_config(str(self.home / "dagster")) as instance:
            yield instance

    def materialized_partitions(self, asset: str) -> set[str]:
        with self.instance() as instance:
            return {r.partition_key for r in instance.fetch_materializations(AssetKey(asset), limit=10_000).records}

    def slices_idle(self) -> bool:
        """No run that stores slices is queued or running."""
        with self.instance() as instance:
            runs = instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
        return not [run for run in runs if AssetKey("transaction_slices") in (run.asset_selection or ())]

    def launch_run(self, assets: list[str], partition_range: tuple[str, str]) -> str:
        """One run of `assets` over a range of partition keys (unpartitioned assets run whole), launched through the
        webserver (GraphQL launchRun, as the UI's Materialize button does) so it runs with the server's settings;
        the run id."""
        mutation = """mutation Launch($params: ExecutionParams!) {
            launchRun(executionParams: $params) {
                __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": ASSET_JOB,
                "assetSelection": [{"path": [asset]} for asset in assets],
            },
            "executionMetadata": {
                "tags": [
                    {"key": ASSET_PARTITION_RANGE_START_TAG, "value": partition_range[0]},
                    {"key": ASSET_PARTITION_RANGE_END_TAG, "value": partition_range[1]},
                ]
            },
        }
        body = json.dumps({"query": mutation, "variables": {"params": params}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        launched = (answer.get("data") or {}).get("launchRun") or {}
        assert launched.get("__typename") == "LaunchRunSuccess", answer
        return launched["run"]["runId"]

    def finished_run(self, run_id: str) -> DagsterRun | None:
        """The run once it has finished, else None; fails the test, with each failed step's error, if it failed."""
        with self.instance() as instance:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished and run.status != DagsterRunStatus.SUCCESS:
                pytest.fail(f"run {run_id[:8]} {run.status.value}\n" + "\n".join(self._step_failures(instance, [run])))
        return run if run is not None and run.is_finished else None

    def materialized_by(self, asset: str, run_id: str) -> bool:
        """Whether the asset's latest materialization came from the run."""
        with self.instance() as instance:
            latest = instance.fetch_materializations(AssetKey(asset), limit=1).records
        return bool(latest) and latest[0].run_id == run_id

    def backfill_run(self, backfill_id: str, asset: str) -> DagsterRun | None:
        """The backfill's run that materializes `asset`, once launched; fails the test as soon as
        any run of the backfill failed, with each failed step's error."""
        with self.instance() as instance:
            runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
            failed = [run for run in runs if run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)]
            if failed:
                pytest.fail(
                    f"backfill {backfill_id}: {[f'{r.run_id[:8]} {r.status.value}' for r in failed]}\n"
                    + "\n".join(self._step_failures(instance, failed))
                )
            return next((run for run in runs if AssetKey(asset) in (run.asset_selection or ())), None)

    @staticmethod
    def _step_failures(instance: DagsterInstance, runs: list[DagsterRun]) -> list[str]:
        failures = []
        for run in runs:
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
                error = entry.dagster_event.step_failure_data.error
                failures.append(
                    f"run {run.run_id[:8]} step {entry.step_key}: {error.message.strip() if error else '?'}"
                )
        return failures

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        """Kill what is left of the dev session and stop the model server; safe to call twice."""
        if self.process is not None:
            for pid in [self.process.pid, *session_members(self.process.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        deployer = model_deployer()
        self.serving_record = deployer.status() or self.serving_record
        deployer.stop()

    def leftovers(self, model_server: bool = True) -> list[str]:
        """What still runs of everything this server started (with the model server, or without),
        described for an assertion."""
        left = []
        if self.process is not None and (members := session_members(self.process.pid)):
            left.append(f"fraud-assets dev session {self.process.pid}: pids {members}")
        for name, port in (("Dagster", self.port), ("MLflow", self.mlflow_port), ("page", self.page_port)):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    left.append(f"something still listens on the {name} port {port}")
        if not model_server:
            return left
        for role in ("front", "server"):
            info = (self.serving_record or {}).get(role)
            if info and processes.is_running(processes.ProcessRef(info["pid"], info["start_time"])):
                left.append(f"model {role} pid {info['pid']}")
        if model_deployer().status() is not None:
            left.append("a serving record in $FRAUD_ASSETS_HOME/serving")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.deploy_port)) == 0:
                left.append(f"something still listens on the model port {self.deploy_port}")
        return left


@pytest.fixture
def dagster_dev(home, monkeypatch) -> Iterator[DagsterDev]:
    """A server for the isolated home, in manual mode: the landing sensor still ingests files, but
    nothing downstream runs until someone asks (FRAUD_AUTOMATION=off)."""
    for variable in [v for v in os.environ if v.startswith("FRAUD_") and v != "FRAUD_ASSETS_HOME"]:
        monkeypatch.delenv(variable)  # default gates, local target, this machine's executor
    *ports, deploy_port = free_ports(4)
    monkeypatch.setenv("FRAUD_AUTOMATION", "off")
    monkeypatch.setenv("FRAUD_DEPLOY_PORT", str(deploy_port))
    monkeypatch.setenv("FRAUD_DEPLOY_WORKERS", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    dev = DagsterDev(home, ports, deploy_port, ARTIFACTS / "dagster-dev.log")
    try:
        yield dev
    finally:
        dev.stop()


class Screenshots:
    """Numbered full-page screenshots, one per step of the story, under test-artifacts/ui/."""

    def __init__(self, folder: Path):
        self.folder, self.count = folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def take(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshots() -> Screenshots:
    return Screenshots(ARTIFACTS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.ui_call_failed = report.failed


@pytest.fixture
def page(request):
    """A page in a fresh headless Chromium; on failure, the page as it was goes to failure.png."""
    with sync_playwright() as playwright:
        # launch() gives every browser a fresh, throwaway user-data-dir.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, chromium_sandbox=False
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(30_000)
            yield page
            if getattr(request.node, "ui_call_failed", False):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        finally:
            browser.close()
