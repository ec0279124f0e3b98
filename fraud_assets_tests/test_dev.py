"""`fraud-assets dev`'s supervision (fraud_assets/dev.py) with stand-in services: Ctrl-C stops each
service and everything it started, in its own way, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fraud_assets import dev
from fraud_assets_tests.ui.conftest import session_members

# Starts a grandchild (as mlflow's uvicorn or dagster's code server are) and waits.
WITH_CHILD = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
# Ignores SIGTERM: only SIGKILL after the grace period stops it.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
# Like `dagster dev --shutdown-pipe FD`: ignores SIGINT and SIGTERM, exits when the pipe says SHUTDOWN.
PIPED = (
    "import os, signal, sys; [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]; "
    "pipe = os.fdopen(int(sys.argv[-1])); line = pipe.readline(); print('piped service got', line.strip(), flush=True)"
)


def supervise(tmp_path: Path, services: str) -> subprocess.Popen:
    script = tmp_path / "supervise.py"
    script.write_text(
        "import os, sys\nfrom fraud_assets.dev import Service, run\n"
        f"sys.exit(run({services}, os.environ, lambda: 'the model server note.'))\n"
    )
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


def wait_until_started(process: subprocess.Popen, count: int) -> str:
    """The supervisor's first line and the service processes it started."""
    first = process.stdout.readline()
    assert first, "the supervisor printed nothing"
    deadline = time.monotonic() + 30
    while len(session_members(process.pid)) < count + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return first


def test_ctrl_c_stops_every_service_and_what_it_started(tmp_path):
    py = repr(sys.executable)
    process = supervise(
        tmp_path,
        f"""[
        Service("with-child", [{py}, "-c", {WITH_CHILD!r}], "http://a"),
        Service("stubborn", [{py}, "-c", {STUBBORN!r}], "http://b", grace_s=2.0),
        Service("piped", [{py}, "-c", {PIPED!r}], "http://c", shutdown_pipe=True),
    ]""",
    )
    wait_until_started(process, 4)  # three services and one grandchild
    time.sleep(1.5)  # the Python children install their signal handlers
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert session_members(process.pid) == [], output
    assert "piped service got SHUTDOWN" in output
    assert "killed after the grace period: stubborn" in output
    assert "with-child" not in output.split("killed after the grace period:")[-1]
    assert output.rstrip().endswith("stopped. the model server note.")


def test_a_service_that_exits_stops_the_others(tmp_path):
    py = repr(sys.executable)
    process = supervise(
        tmp_path,
        f"""[
        Service("with-child", [{py}, "-c", {WITH_CHILD!r}], "http://a"),
        Service("crashing", [{py}, "-c", "import time; time.sleep(2); raise SystemExit(3)"], "http://b"),
    ]""",
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "crashing exited with code 3: stopping the others" in output
    assert session_members(process.pid) == []


def test_make_run_serves_dagster_mlflow_and_the_page_on_loopback(tmp_path):
    found = dev.services(
        "127.0.0.1",
        dev.Ports(3000, 5000, 8501),
        tmp_path / "workspace.yaml",
        "sqlite:////x/mlflow.db",
        "file:///x/artifacts",
        start_mlflow=True,
    )
    assert [(s.name, s.url) for s in found] == [
        ("Dagster", "http://127.0.0.1:3000"),
        ("MLflow", "http://127.0.0.1:5000"),
        ("scoring page", "http://127.0.0.1:8501"),
    ]
    mlflow = found[1].command
    assert mlflow[mlflow.index("--backend-store-uri") + 1] == "sqlite:////x/mlflow.db"
    assert found[2].command[2] == str(dev.PAGE_SCRIPT) and dev.PAGE_SCRIPT.exists()
    # a tracking server is its own UI: none is started
    assert [s.name for s in dev.services("127.0.0.1", dev.Ports(), tmp_path, "http://mlflow:5000", None, False)] == [
        "Dagster",
        "scoring page",
    ]
