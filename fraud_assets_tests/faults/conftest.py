"""Fault fixtures: a real `mlflow server` process on loopback, free ports, a model deployer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from fraud_assets.deployment.deployer import LocalDeployer

MLFLOW = Path(sys.executable).with_name("mlflow")


def free_port() -> int:
    """A loopback port the kernel had free a moment ago (nothing listens on it afterwards)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mlflow_server(root: Path, timeout_s: float = 60.0):
    """`mlflow server` with a SQLite store and proxied artifacts under `root`; yields its URL and
    kills its whole process group (gunicorn/uvicorn workers included) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the server writes to it until it is stopped
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {process.returncode}: {(root / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server on {url} did not answer /health within {timeout_s:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        stop_group(process)
        log.close()


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group started for `process`, SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
    with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def deployer(home, monkeypatch):
    monkeypatch.delenv("FRAUD_MIN_F1", raising=False)
    deployer = LocalDeployer(port=free_port(), workers=1)
    try:
        yield deployer
    finally:
        deployer.stop()
