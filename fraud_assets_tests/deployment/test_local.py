"""The local target for real: seldon-core-microservice processes and the front on loopback.

Servers run with one worker; every test stops what it started (process groups) even on failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from seldon_core.seldon_client import SeldonClient
from seldon_core.utils import seldon_message_to_json

from fraud_assets.deployment import local, processes
from fraud_assets.deployment.local import DeployError, LocalSettings, post_json
from fraud_assets.deployment.seldon_model import load_verified_model
from fraud_assets_tests.deployment.support import ROW, bundle_for, free_port, request_row
from fraud_assets_tests.deployment.toy_model import FEATURES

ROOT = Path(__file__).resolve().parents[2]


def settings(port: int, **overrides) -> LocalSettings:
    return LocalSettings(port=port, workers=1, start_timeout_s=45, **overrides)


def all_pids(record: dict) -> list[int]:
    return processes.group_members(record["front"]["pid"]) + processes.group_members(record["server"]["pid"])


def listening_addresses(pids: list[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by `pids`, from /proc."""
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else []:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, _family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_address, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = local_address.split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc prints the address as 32-bit words in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((str(ipaddress.ip_address(raw)), int(hex_port, 16)))
    return found


def model_servers(serving_version: str) -> list[int]:
    """PIDs of model servers this test's home started for a version, found by their environment
    (other test runs on the machine may be serving the same version numbers)."""
    wanted = {
        b"FRAUD_MODEL_VERSION=" + serving_version.encode(),
        b"FRAUD_ASSETS_HOME=" + os.environ["FRAUD_ASSETS_HOME"].encode(),
    }
    found = []
    for pid_dir in Path("/proc").iterdir():
        try:
            environ = set((pid_dir / "environ").read_bytes().split(b"\0")) if pid_dir.name.isdigit() else set()
        except OSError:
            continue
        if wanted <= environ:
            found.append(int(pid_dir.name))
    return found


def loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # gRPC listens on ::ffff:127.0.0.1


class Traffic:
    """Clients posting predictions to the stable URL in a bounded loop, recording every outcome."""

    def __init__(self, url: str, clients: int = 2, max_seconds: float = 60.0):
        self.url, self.outcomes, self.stopping = url, [], threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, client: int) -> None:
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            try:
                status, body = post_json(self.url, request_row(), timeout=10)
                self.outcomes.append((status, body.get("meta", {}).get("tags", {}).get("model_version"), client))
            except Exception as e:  # a refused or reset connection is exactly what must not happen
                self.outcomes.append((repr(e), None, client))
            time.sleep(0.002)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def failures(self) -> list:
        return [o for o in self.outcomes if o[0] != 200]

    def versions(self, client: int | None = None) -> list[str]:
        return [version for _, version, c in self.outcomes if client in (None, c)]


@pytest.fixture
def clean_serving(home):
    """Stop whatever the test deployed, whatever happened in it."""
    yield home
    local.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory, toy_models):
    """Version 1 deployed with gRPC on too, so all three of Seldon's servers are checked."""
    home = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAUD_ASSETS_HOME", str(home))
        model_dir, sha = toy_models["v1"]
        config = settings(free_port(), grpc=True)
        result = local.deploy(bundle_for(model_dir, sha, "1"), config)
        try:
            yield result, local.status(), config
        finally:
            local.stop()


def test_deploy_serves_the_model_on_the_stable_url(served, toy_models):
    result, record, config = served
    shuffled = ["merchant_fraud_rate", "amount", "gender_code", "category_code", "customer_tx_count", "age_code"]

    status, body = post_json(result.endpoint, request_row(shuffled))

    model = load_verified_model(*toy_models["v1"])
    expected = model.predict_proba(pd.DataFrame([ROW])[FEATURES])[0, 1]
    assert status == 200 and result.endpoint == f"http://127.0.0.1:{config.port}/api/v1.0/predictions"
    assert body["data"]["names"] == ["fraud_probability", "fraud_decision"]
    assert body["data"]["ndarray"][0] == pytest.approx([expected, int(expected >= 0.5)])
    assert record["healthy"] and record["model_version"] == "1" and record["sha256"] == result.sha256


def test_serving_record_and_logs_live_under_the_home(served):
    _, record, _ = served
    serving = Path(os.environ["FRAUD_ASSETS_HOME"]) / "serving"

    saved = json.loads((serving / "record.json").read_text())

    assert saved["server"]["pid"] == record["server"]["pid"] and saved["url"] == record["url"]
    assert {"model_name", "model_version", "url", "sha256", "started_at", "front", "server"} <= saved.keys()
    assert Path(saved["server"]["log"]).parent == serving / "logs"
    assert "Booting worker" in Path(saved["server"]["log"]).read_text()


def test_nothing_listens_beyond_loopback(served):
    _, record, _ = served
    server = record["server"]

    addresses = listening_addresses(all_pids(record))

    ports = {port for _, port in addresses}
    assert {record["front"]["port"], server["http_port"], server["metrics_port"], server["grpc_port"]} <= ports
    assert all(loopback(ip) for ip, _ in addresses), addresses


def body(names=FEATURES, **data) -> bytes:
    return json.dumps({"data": {"names": list(names), **data}}).encode()


JSON = "application/json"


def test_every_server_process_runs_one_openmp_thread(served):
    _, record, _ = served
    members = processes.group_members(record["server"]["pid"])
    environments = [set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")) for pid in members]
    assert len(members) >= 4  # gunicorn master and worker, metrics server, gRPC server
    assert all(b"OMP_NUM_THREADS=1" in environment for environment in environments)


BAD_BODIES = [
    (b"", JSON, "Can't find JSON"),
    (b"", None, "must be JSON"),
    (b"{not json", JSON, "Can't find JSON"),
    (b"[1, 2]", JSON, "Invalid request data type"),
    (b'{"data": {"ndarray": [[1]]}}', JSON, 'expected {"data"'),
    (body([*FEATURES, "x"], ndarray=[[1] * 7]), JSON, "unknown features"),
    (body(FEATURES[1:], ndarray=[[1] * 5]), JSON, "misses features"),
    (body(ndarray=[[1] * 6, [1] * 4]), JSON, "row 1 has 4 values"),
    (body(ndarray=[["1"] * 6]), JSON, "got str"),
    (body(ndarray=[[1] * 6]).replace(b"[[1,", b"[[NaN,"), JSON, "nan is not a finite"),
    (body(ndarray=[[10**309] + [1] * 5]), JSON, "'amount': an integer beyond the float64 range"),
    (b"[" * 5000 + b"]" * 5000, JSON, "nests deeper than the parser allows"),
    (body(ndarray=[]), JSON, "non-empty list of rows"),
    (body(tensor={"shape": [2, 6], "values": [1] * 6}), JSON, "2 x 6 numbers"),
]


@pytest.mark.parametrize("payload, content_type, reason", BAD_BODIES)
def test_bad_requests_get_400_with_a_reason(served, payload, content_type, reason):
    result, _, _ = served
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(result.endpoint, data=payload, headers=headers, method="POST")

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=5)

    assert answer.value.code == 400
    assert reason in json.loads(answer.value.read())["status"]["info"]


def test_form_encoded_bad_json_gets_400(served):
    result, _, _ = served
    url = result.endpoint.replace("/api/v1.0/predictions", "/predict")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(url, data=b"json=%7Bnot", timeout=5)
    assert answer.value.code == 400 and "not valid JSON" in answer.value.read().decode()


def test_unknown_route_gets_404(served):
    result, _, _ = served
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(result.endpoint.replace("predictions", "nothing-here"), timeout=5)
    assert answer.value.code == 404 and json.loads(answer.value.read())["status"]["reason"] == "NOT_FOUND"


@pytest.mark.parametrize("transport, payload_type", [("rest", "ndarray"), ("rest", "tensor"), ("grpc", "ndarray")])
def test_seldon_client_works(served, transport, payload_type):
    _, record, _ = served
    port = record["front"]["port"] if transport == "rest" else record["server"]["grpc_port"]
    client = SeldonClient(microservice_endpoint=f"127.0.0.1:{port}", transport=transport, payload_type=payload_type)

    prediction = client.microservice(method="predict", data=np.array([[ROW[n] for n in FEATURES]]), names=FEATURES)

    assert prediction.success, prediction.msg
    data = seldon_message_to_json(prediction.response)["data"]
    ((probability, decision),) = data["ndarray"]
    assert data["names"] == ["fraud_probability", "fraud_decision"]
    assert 0.0 <= probability <= 1.0 and decision == (probability >= 0.5)


def test_redeploy_moves_traffic_without_a_failed_request(clean_serving, toy_models):
    config = settings(free_port())
    # The first deploy runs in a process that exits at once, like a Dagster run: the server must outlive it.
    v1_dir, v1_sha = toy_models["v1"]
    code = (
        "from fraud_assets.deployment import local; from fraud_assets_tests.deployment.support import bundle_for; "
        f"local.deploy(bundle_for({str(v1_dir)!r}, {v1_sha!r}, '1'), "
        f"local.LocalSettings(port={config.port}, workers=1))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
    first = local.status()
    assert first["healthy"] and first["model_version"] == "1"

    with Traffic(config.url) as traffic:
        time.sleep(0.3)
        result = local.deploy(bundle_for(*toy_models["v2"], "2", threshold=0.3), config)
        time.sleep(0.5)

    assert traffic.failures() == []
    versions = traffic.versions()
    assert "1" in versions and versions[-1] == "2" and len(versions) > 20
    for client in range(2):  # a client that got version 2 never gets version 1 again
        assert traffic.versions(client) == sorted(traffic.versions(client))
    assert processes.group_members(first["server"]["pid"]) == []  # old server, gunicorn and metrics children
    after = local.status()
    assert after["front"]["pid"] == first["front"]["pid"] and after["server"]["pid"] == result.pids["server"]

    stopped = local.stop()

    assert stopped["model_version"] == "2" and local.status() is None
    assert all_pids(after) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", config.port), timeout=1)


def test_failed_deploys_leave_the_old_model_serving(clean_serving, toy_models):
    config = settings(free_port())
    local.deploy(bundle_for(*toy_models["v1"], "1"), config)
    before = local.status()
    v2_dir, _v2_sha = toy_models["v2"]

    with Traffic(config.url) as traffic:
        with pytest.raises(DeployError, match=r"exited with code 1: .*ModelIntegrityError: .*refusing to load"):
            local.deploy(bundle_for(v2_dir, "0" * 64, "2"), config)
        with pytest.raises(DeployError, match="toy model told to fail"):
            local.deploy(bundle_for(*toy_models["broken"], "3"), config)

    assert traffic.failures() == [] and set(traffic.versions()) == {"1"} and len(traffic.versions()) > 10
    after = local.status()
    assert after["healthy"] and after["server"] == before["server"]
    server_logs = sorted((Path(before["server"]["log"]).parent).glob("server-*.log"))
    assert len(server_logs) == 3  # the refused starts left their reasons behind
    assert model_servers(serving_version="2") == model_servers(serving_version="3") == []


def test_front_port_taken_by_someone_else_fails_cleanly(clean_serving, toy_models):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        config = settings(squatter.getsockname()[1])
        with pytest.raises(DeployError, match=r"127\.0\.0\.1:.* is taken by another process"):
            local.deploy(bundle_for(*toy_models["v1"], "1"), config)
    assert local.status() is None


def test_a_staged_server_takes_no_traffic_until_its_deploy_takes_it_over(clean_serving, toy_models):
    config = settings(free_port())
    local.deploy(bundle_for(*toy_models["v1"], "1"), config)
    v2 = bundle_for(*toy_models["v2"], "2", threshold=0.3)

    staged = local.stage(v2, config)  # returns at once: the deploy waits for it

    assert processes.is_running(local._ref(staged)) and local.status()["model_version"] == "1"
    assert post_json(config.url, request_row())[1]["meta"]["tags"]["model_version"] == "1"
    result = local.deploy(v2, config)
    assert result.pids["server"] == staged["pid"] and local.status()["model_version"] == "2"
    assert not local.staged_path().exists()


def test_a_staged_server_for_another_bundle_is_stopped_by_a_deploy_a_new_stage_and_stop(clean_serving, toy_models):
    config = settings(free_port())
    first = local.stage(bundle_for(*toy_models["v2"], "2"), config)
    second = local.stage(bundle_for(*toy_models["v1"], "1"), config)
    assert processes.group_members(first["pid"]) == []  # one staged server at most

    result = local.deploy(bundle_for(*toy_models["v2"], "2"), config)  # not what was staged
    assert processes.group_members(second["pid"]) == [] and result.pids["server"] not in (first["pid"], second["pid"])

    third = local.stage(bundle_for(*toy_models["v1"], "1"), config)
    local.stop()
    assert processes.group_members(third["pid"]) == [] and not local.staged_path().exists()


def test_a_staged_server_that_fails_leaves_the_old_model_serving(clean_serving, toy_models):
    config = settings(free_port())
    local.deploy(bundle_for(*toy_models["v1"], "1"), config)
    broken = bundle_for(*toy_models["broken"], "3")
    local.stage(broken, config)
    with pytest.raises(DeployError, match="toy model told to fail"):
        local.deploy(broken, config)
    assert local.status()["healthy"] and local.status()["model_version"] == "1"
    assert model_servers(serving_version="3") == []
