"""The local target: a real `seldon-core-microservice` serving the model on 127.0.0.1, behind a
stable URL that keeps answering through redeploys.

Layout (all loopback, all recorded in $FRAUD_ASSETS_HOME/serving/record.json):
    front  (front.py)  127.0.0.1:9000, the URL clients use; forwards to the server in charge
    server (microservice.py + seldon_model.FraudModel)  REST, metrics (and gRPC if asked) on
           private ports, gunicorn workers with OMP_NUM_THREADS=1

A deploy starts the new server on private ports, waits until every worker has loaded and warmed
the model, smoke-tests it (a prediction with shuffled feature names, a request that must get a
400), only then switches the front, checks the new version answers on the stable URL, drains the
old server and stops its whole process group. A server can be *staged* ahead of its deploy
(`stage`): started for a bundle while its last gates are still judged, never sent traffic; the
deploy of that bundle then takes it over (verified the same way), and any other deploy, a new stage
or `stop()` stops it. Its start (imports, model load, warm-up) is most of a deploy's time. If the
new server fails to start or answer, it is stopped, the old one never stops serving, and
DeployError gives the root cause from the new server's log. Servers and front are session leaders:
they outlive the Dagster run that started them, and `stop()` (or `fraud-assets serve stop`) ends them.

Why one OpenMP thread per worker: HistGradientBoosting's predict_proba otherwise runs one thread
per core even for one row, and concurrent requests then fight over the cores: with 4 clients
throughput fell from 446 to 12 requests/s on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraud_assets import settings
from fraud_assets.deployment import front, processes
from fraud_assets.deployment.bundle import DeploymentResult, ModelBundle
from fraud_assets.deployment.processes import ProcessRef
from fraud_assets.storage import atomic_write_bytes

PREDICT_PATH = "/api/v1.0/predictions"
HEALTH_PATH = "/health/status"
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception): ")


class DeployError(RuntimeError):
    """A new model could not take over; whatever served before still serves."""


@dataclass(frozen=True)
class LocalSettings:
    host: str = "127.0.0.1"
    port: int = settings.DEFAULTS.deploy_port
    workers: int = settings.DEFAULTS.deploy_workers
    grpc: bool = False  # the REST API is the product; gRPC adds a process and a port
    start_timeout_s: float = 60.0
    drain_timeout_s: float = 10.0
    stop_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        front.parse_loopback_address(f"{self.host}:{self.port}")
        if self.workers < 1:
            raise ValueError(f"local serving: workers must be >= 1, got {self.workers}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PREDICT_PATH}"


def serving_dir() -> Path:
    return settings.serving_dir()


def record_path() -> Path:
    return serving_dir() / "record.json"


def staged_path() -> Path:
    return serving_dir() / "staged.json"


def control_path() -> Path:
    return front.check_control_path(serving_dir() / "front.sock")


def status() -> dict | None:
    """The serving record with liveness added, or None when nothing was deployed."""
    record = _read_record()
    if record is None:
        return None
    front_running = processes.is_running(_ref(record["front"]))
    server_running = processes.is_running(_ref(record["server"]))
    return {
        **record,
        "front_running": front_running,
        "server_running": server_running,
        "healthy": front_running and server_running and _healthy(record["front"]["host"], record["front"]["port"]),
    }


def stop() -> dict | None:
    """Stop the front and the model server (whole process groups), and a staged server; returns what served."""
    with _deploy_lock():
        _stop_staged(LocalSettings())
        record = _read_record()
        if record is None:
            return None
        processes.stop_group(_ref(record["front"]))
        processes.stop_group(_ref(record["server"]))
        record_path().unlink()
        return record


def stage(bundle: ModelBundle, config: LocalSettings = LocalSettings()) -> dict:
    """Start `bundle`'s server without waiting for it and without moving traffic, so that its deploy (once the
    remaining gates pass) finds it loaded; returns the staged server's record. One staged server at most: the
    one staged before is stopped."""
    with _deploy_lock():
        _stop_staged(config)
        _process, _server, info = _spawn_server(bundle, config)
        atomic_write_bytes(staged_path(), json.dumps({"for": _staged_key(bundle, config), "server": info}).encode())
        return info


def deploy(bundle: ModelBundle, config: LocalSettings = LocalSettings()) -> DeploymentResult:
    """Serve `bundle` at `config.url`, replacing the current server without dropping a request."""
    with _deploy_lock():
        previous = _read_record()
        if _running_front(previous, config) is None:
            _check_port_free(config)  # before spending a server start on it
        server, server_info = _take_staged(bundle, config) or _start_verified_server(bundle, config)
        try:
            front_info, old_server = _move_traffic(previous, server_info, config, bundle)
        except Exception:
            processes.stop_group(server, config.stop_timeout_s)
            raise
        record = {
            "model_name": bundle.name,
            "model_version": bundle.version,
            "sha256": bundle.sha256,
            "url": config.url,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "front": front_info,
            "server": server_info,
        }
        _write_record(record)
        if old_server is not None:
            _drain(front_info, old_server, config.drain_timeout_s)
            processes.stop_group(_ref(old_server), config.stop_timeout_s)
    return DeploymentResult(
        target="local",
        endpoint=config.url,
        model_name=bundle.name,
        model_version=bundle.version,
        sha256=bundle.sha256,
        pids={"front": front_info["pid"], "server": server_info["pid"]},
    )


def _start_verified_server(bundle: ModelBundle, config: LocalSettings) -> tuple[ProcessRef, dict]:
    process, server, info = _spawn_server(bundle, config)
    _verify_server(server, info, bundle, config, lambda: process.poll() is not None and f"code {process.returncode}")
    return server, info


def _take_staged(bundle: ModelBundle, config: LocalSettings) -> tuple[ProcessRef, dict] | None:
    """The staged server, verified as a new one is, when it was staged for `bundle` with these settings and still
    runs; a server staged for anything else is stopped (and None returned)."""
    staged = _read_json(staged_path())
    if staged is None:
        return None
    staged_path().unlink()
    info = staged["server"]
    server = ProcessRef(info["pid"], info["start_time"])
    if staged["for"] != _staged_key(bundle, config) or not processes.is_running(server):
        processes.stop_group(server, config.stop_timeout_s)
        return None
    _verify_server(server, info, bundle, config, lambda: not processes.is_running(server) and "its process group")
    return server, info


def _stop_staged(config: LocalSettings) -> None:
    staged = _read_json(staged_path())
    if staged is not None:
        processes.stop_group(_ref(staged["server"]), config.stop_timeout_s)
        staged_path().unlink()


def _staged_key(bundle: ModelBundle, config: LocalSettings) -> dict:
    """What a staged server must have been started for to be taken over by a deploy."""
    return {
        "model_dir": bundle.model_dir,
        "sha256": bundle.sha256,
        "name": bundle.name,
        "version": bundle.version,
        "host": config.host,
        "workers": config.workers,
        "grpc": config.grpc,
    }


def _spawn_server(bundle: ModelBundle, config: LocalSettings) -> tuple[subprocess.Popen, ProcessRef, dict]:
    """Start a server for `bundle` on free private ports; returns at once (see `_verify_server`)."""
    from fraud_assets.deployment.seldon_model import MODEL_CLASS

    http_port, metrics_port, grpc_port = _free_ports(config.host, 3, avoid=config.port)
    grpc_port = grpc_port if config.grpc else None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    log_path = serving_dir() / "logs" / f"server-{bundle.k8s_name}-v{bundle.version}-{stamp}-{http_port}.log"
    command = [
        sys.executable,
        "-m",
        "fraud_assets.deployment.microservice",
        MODEL_CLASS,
        "--service-type",
        "MODEL",
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port),
        "--workers",
        str(config.workers),
        "--threads",
        "1",
    ]
    command += ["--grpc-port", str(grpc_port), "--grpc-workers", "1"] if grpc_port else ["--grpc-workers", "0"]
    process = processes.spawn(command, _server_env(bundle, config.host), log_path, cwd=serving_dir())
    server = processes.ref(process)
    info = {
        **server.as_dict(),
        "http_port": http_port,
        "metrics_port": metrics_port,
        "grpc_port": grpc_port,
        "workers": config.workers,
        "model_dir": bundle.model_dir,
        "log": str(log_path),
    }
    return process, server, info


def _verify_server(
    server: ProcessRef, info: dict, bundle: ModelBundle, config: LocalSettings, exited: Callable[[], str | bool]
) -> None:
    """Wait until the server's workers are healthy and smoke-test it; stop it and raise DeployError if either fails.
    `exited` says how the server ended (false while it runs)."""
    base = f"http://{config.host}:{info['http_port']}"
    try:
        _wait_until_healthy(exited, base, config.start_timeout_s, Path(info["log"]))
        smoke_test(base, bundle)
    except Exception as e:
        processes.stop_group(server, config.stop_timeout_s)
        raise DeployError(f"{bundle.name} version {bundle.version} was not deployed: {e}") from e


def _server_env(bundle: ModelBundle, host: str) -> dict[str, str]:
    from fraud_assets.deployment.seldon_model import ENV

    return settings.child_environment(
        {
            "OMP_NUM_THREADS": "1",
            "FRAUD_SERVING_HOST": host,
            ENV["model_dir"]: str(bundle.local_dir.resolve()),
            ENV["expected_sha256"]: bundle.sha256,
            ENV["model_name"]: bundle.name,
            ENV["model_version"]: bundle.version,
            # labels of Seldon's Prometheus metrics
            "PREDICTIVE_UNIT_ID": bundle.name,
            "PREDICTOR_ID": "local",
            "SELDON_DEPLOYMENT_ID": "fraud-assets-local",
            "PREDICTOR_LABELS": json.dumps({"version": bundle.version}),
            "SELDON_DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
        },
        drop=["PREDICTIVE_UNIT_PARAMETERS"],
    )


def _move_traffic(
    previous: dict | None, server_info: dict, config: LocalSettings, bundle: ModelBundle
) -> tuple[dict, dict | None]:
    """Point the front at the new server; returns (front info, old server info or None)."""
    backend = f"{config.host}:{server_info['http_port']}"
    old_front = previous["front"] if previous else None
    old_server = previous["server"] if previous and processes.is_running(_ref(previous["server"])) else None
    if (running := _running_front(previous, config)) is not None:
        switched = front.request(Path(running["control"]), {"cmd": "switch", "backend": backend})
        try:
            smoke_test(f"http://{config.host}:{config.port}", bundle)
        except Exception as e:
            front.request(Path(running["control"]), {"cmd": "switch", "backend": switched["previous"]})
            raise DeployError(
                f"{bundle.name} version {bundle.version} failed on the stable URL, traffic moved back: {e}"
            ) from e
        return running, old_server
    front_info = _start_front(config, backend)
    try:
        smoke_test(f"http://{config.host}:{config.port}", bundle)
    except Exception as e:
        processes.stop_group(_ref(front_info), config.stop_timeout_s)
        raise DeployError(f"{bundle.name} version {bundle.version} failed through the front: {e}") from e
    if old_front is not None:
        processes.stop_group(_ref(old_front), config.stop_timeout_s)  # it had died, or served another port
    return front_info, old_server


def _running_front(previous: dict | None, config: LocalSettings) -> dict | None:
    """The recorded front, if it is alive and serves the address asked for."""
    recorded = previous["front"] if previous else None
    if recorded is None or (recorded["host"], recorded["port"]) != (config.host, config.port):
        return None
    return recorded if processes.is_running(_ref(recorded)) else None


def _check_port_free(config: LocalSettings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the front does: TIME_WAIT is no conflict
        try:
            sock.bind((config.host, config.port))
        except OSError as e:
            raise DeployError(
                f"{config.host}:{config.port} is taken by another process ({e.strerror}); "
                "stop it or choose another port"
            ) from None


def _start_front(config: LocalSettings, backend: str) -> dict:
    control = control_path()
    log_path = serving_dir() / "logs" / "front.log"
    command = [
        sys.executable,
        "-m",
        "fraud_assets.deployment.front",
        "--listen",
        f"{config.host}:{config.port}",
        "--backend",
        backend,
        "--control",
        str(control),
    ]
    with contextlib.suppress(FileNotFoundError):
        control.unlink()
    process = processes.spawn(
        command, settings.child_environment({"PYTHONUNBUFFERED": "1"}), log_path, cwd=serving_dir()
    )
    ref = processes.ref(process)
    deadline = time.monotonic() + config.start_timeout_s
    while True:
        if process.poll() is not None:
            raise DeployError(
                f"the front on {config.host}:{config.port} exited with code {process.returncode}: {_tail(log_path)}"
            )
        with contextlib.suppress(OSError):
            front.request(control, {"cmd": "status"}, timeout=1.0)
            break
        if time.monotonic() > deadline:
            processes.stop_group(ref)
            raise DeployError(
                f"the front on {config.host}:{config.port} did not start in {config.start_timeout_s:.0f} s"
            )
        time.sleep(0.05)
    return {**ref.as_dict(), "host": config.host, "port": config.port, "control": str(control), "log": str(log_path)}


def _drain(front_info: dict, old_server: dict, timeout: float) -> None:
    """Wait until the front holds no connection to the old server, so stopping it cuts no
    request short (gunicorn's graceful stop is the second safeguard, after `timeout`)."""
    key = f"{front_info['host']}:{old_server['http_port']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not front.request(Path(front_info["control"]), {"cmd": "status"})["open"].get(key):
            return
        time.sleep(0.02)


def smoke_test(base_url: str, bundle: ModelBundle) -> None:
    """One valid prediction (features deliberately out of order) and one invalid one, through the
    real HTTP stack; raises with what was wrong."""
    from fraud_assets.deployment.seldon_model import OUTPUT_NAMES

    names = list(bundle.feature_names)[::-1]
    status, body = post_json(base_url + PREDICT_PATH, {"data": {"names": names, "ndarray": [[0.0] * len(names)]}})
    if status != 200:
        raise DeployError(f"smoke prediction got HTTP {status}: {body}")
    data, tags = body.get("data", {}), body.get("meta", {}).get("tags", {})
    if data.get("names") != list(OUTPUT_NAMES) or len(data.get("ndarray", [])) != 1:
        raise DeployError(f"smoke prediction answered {body}, expected names {list(OUTPUT_NAMES)} and one row")
    probability, decision = data["ndarray"][0]
    if not 0.0 <= probability <= 1.0 or decision not in (0, 1):
        raise DeployError(f"smoke prediction answered probability {probability}, decision {decision}")
    if (tags.get("model_version"), tags.get("model_sha256")) != (bundle.version, bundle.sha256):
        raise DeployError(f"smoke prediction was answered by {tags}, not version {bundle.version} ({bundle.sha256})")
    status, body = post_json(base_url + PREDICT_PATH, {"data": {"names": ["not_a_feature"], "ndarray": [[1.0]]}})
    if status != 400:
        raise DeployError(f"a request with an unknown feature got HTTP {status}, expected 400: {body}")


def post_json(url: str, payload: dict, timeout: float = 5.0) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _wait_until_healthy(exited: Callable[[], str | bool], base_url: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if how := exited():
            raise DeployError(f"the model server exited with {how}: {_tail(log_path)}")
        if _get_ok(base_url + HEALTH_PATH):
            return
        time.sleep(0.1)
    raise DeployError(f"the model server was not healthy after {timeout:.0f} s: {_tail(log_path)}")


def _healthy(host: str, port: int) -> bool:
    return _get_ok(f"http://{host}:{port}{HEALTH_PATH}")


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _tail(log_path: Path) -> str:
    """Why a server did not start: the log's first exception line (the root cause, e.g. the
    refused SHA-256) and its last line (e.g. gunicorn's 'Worker failed to boot')."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return f"no log at {log_path}"
    exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return " | ".join(dict.fromkeys(exceptions[:1] + lines[-1:])) + f" (log: {log_path})"


def _free_ports(host: str, count: int, avoid: int) -> list[int]:
    """Distinct free ports (held together while chosen, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            if sock.getsockname()[1] != avoid:
                ports.append(sock.getsockname()[1])
        return ports


def _ref(info: dict | None) -> ProcessRef | None:
    return ProcessRef(info["pid"], info["start_time"]) if info else None


def _read_record() -> dict | None:
    return _read_json(record_path())


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _write_record(record: dict) -> None:
    atomic_write_bytes(record_path(), (json.dumps(record, indent=2) + "\n").encode())


@contextlib.contextmanager
def _deploy_lock():
    """One deploy or stop at a time per FRAUD_ASSETS_HOME (Dagster may run two at once)."""
    serving_dir().mkdir(parents=True, exist_ok=True)
    with open(serving_dir() / "deploy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
