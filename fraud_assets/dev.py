"""What `make run` starts: the Dagster webserver and daemon (`dagster dev`), MLflow's UI over the same
store, and the scoring page, all on loopback, and how they stop together.

Each service runs in a process group of its own inside this process's session, so this process
alone receives the terminal's Ctrl-C and stops them in order: `dagster dev` through its shutdown
pipe (in the background it ignores SIGINT), the others by SIGTERM to their group, and whatever of a
group is still alive after a grace period by SIGKILL. The model server is not among them: the
deployment asset starts it in a session of its own, and it keeps serving (`fraud-assets serve stop`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fraud_assets.deployment import processes

PAGE_SCRIPT = Path(__file__).resolve().parent / "pages" / "scoring.py"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    url: str
    shutdown_pipe: bool = False  # stopped by a message on a pipe (`dagster dev --shutdown-pipe`), not SIGTERM
    grace_s: float = 10.0
    env: dict[str, str] = field(default_factory=dict)  # added to the environment for this service


@dataclass(frozen=True)
class Ports:
    dagster: int = 3000
    mlflow: int = 5000
    page: int = 8501


@dataclass
class Running:
    service: Service
    process: subprocess.Popen
    pipe: int | None = None  # write end of the shutdown pipe
    stopped_by: list[str] = field(default_factory=list)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def services(
    host: str, ports: Ports, workspace: Path, tracking_uri: str, artifacts: str | None, start_mlflow: bool
) -> list[Service]:
    """The services and their URLs; MLflow's UI only for a store no server serves already."""
    found = [
        Service(
            "Dagster",
            [_bin("dagster"), "dev", "-h", host, "-p", str(ports.dagster), "-w", str(workspace)],
            f"http://{host}:{ports.dagster}",
            shutdown_pipe=True,
            grace_s=30.0,
        )
    ]
    if start_mlflow:
        command = [
            _bin("mlflow"),
            "server",
            "--backend-store-uri",
            tracking_uri,
            "--host",
            host,
            "--port",
            str(ports.mlflow),
            "--workers",
            "1",
        ]
        if artifacts:  # where proxied artifacts go (the experiments name their own locations)
            command += ["--artifacts-destination", artifacts]
        # Its job runner (a process per GenAI job type) serves nothing this project uses.
        found.append(
            Service(
                "MLflow", command, f"http://{host}:{ports.mlflow}", env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
            )
        )
    found.append(
        Service(
            "scoring page",
            [
                _bin("streamlit"),
                "run",
                str(PAGE_SCRIPT),
                "--server.address",
                host,
                "--server.port",
                str(ports.page),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            f"http://{host}:{ports.page}",
        )
    )
    return found


def _start(service: Service, env: Mapping[str, str]) -> Running:
    command, pass_fds, write_end = list(service.command), (), None
    if service.shutdown_pipe:
        read_end, write_end = os.pipe()
        command += ["--shutdown-pipe", str(read_end)]
        pass_fds = (read_end,)
    process = subprocess.Popen(
        command, env={**env, **service.env}, pass_fds=pass_fds, stdin=subprocess.DEVNULL, process_group=0
    )
    if pass_fds:
        os.close(pass_fds[0])
    return Running(service, process, write_end)


def _ask_to_stop(running: Running) -> None:
    if running.process.poll() is not None:
        return
    if running.pipe is not None:
        with contextlib.suppress(OSError):  # it may have exited and closed its end already
            os.write(running.pipe, b"SHUTDOWN\n")
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.process.pid, signal.SIGTERM)


def stop(started: list[Running]) -> list[str]:
    """Stop every service and everything in its group; what had to be killed, for the console."""
    for running in started:
        _ask_to_stop(running)
    killed = []
    deadline = {id(r): time.monotonic() + r.service.grace_s for r in started}
    pending = list(started)
    while pending:
        for running in list(pending):
            running.process.poll()
            group_left = processes.group_members(running.process.pid)
            if running.process.returncode is not None and not group_left:
                pending.remove(running)
            elif time.monotonic() > deadline[id(running)]:
                killed.append(f"{running.service.name} (pids {group_left})")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(running.process.pid, signal.SIGKILL)
                running.process.wait()
                pending.remove(running)
            elif running.process.returncode is not None:
                # the service is gone but its group is not (a worker, a code server): ask them too
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(running.process.pid, signal.SIGTERM)
        time.sleep(0.2)
    for running in started:
        if running.pipe is not None:
            with contextlib.suppress(OSError):
                os.close(running.pipe)
    return killed


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(found: list[Service], env: Mapping[str, str], model_server_note: Callable[[], str]) -> int:
    """Start the services, print their URLs, and stop them all on Ctrl-C (or when one of them exits)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    started: list[Running] = []
    code = 0
    try:
        for service in found:
            started.append(_start(service, env))
        print("\n".join(f"{s.name:<13} {s.url}" for s in found), flush=True)
        print(f"Ctrl-C stops them all; {model_server_note()}", flush=True)
        while code == 0:
            time.sleep(1)
            for running in started:
                if running.process.poll() is not None:
                    print(
                        f"{running.service.name} exited with code {running.process.returncode}: stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    code = 1
    except KeyboardInterrupt:
        pass
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        print("stopping " + ", ".join(r.service.name for r in started) + " ...", flush=True)
        killed = stop(started)
        if killed:
            print("killed after the grace period: " + "; ".join(killed), flush=True)
        print(f"stopped. {model_server_note()}", flush=True)
    return code
