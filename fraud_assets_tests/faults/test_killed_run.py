"""A run SIGKILLed while the model trains leaves nothing the next run trips over.

The graph runs in a child process against a persistent home and Dagster instance; the test
kills it once the instance records that `fraud_model` started, then runs the graph again in
this process: it completes and deploys, ignores the half-written temporary file an interrupted
atomic write leaves, and every stored file it reads is whole.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest
from dagster import DagsterEventType, DagsterInstance
from mlflow.tracking import MlflowClient

from fraud_assets import registry, settings
from fraud_assets.asset_keys import TRANSACTION_FEATURES
from fraud_assets.demo import land_and_refresh
from fraud_assets.features.state import FeatureState
from fraud_assets.instance import prepare_dagster_home
from fraud_assets.storage import StorageLayout, read_parquet
from fraud_assets_tests.faults.conftest import free_port, stop_group

GRAPH_IN_A_CHILD = """
import sys
from dagster import DagsterInstance
from fraud_assets.instance import prepare_dagster_home
from fraud_assets.demo import land_and_refresh
from fraud_assets.features.state import FeatureState
from fraud_assets.deployment.deployer import LocalDeployer

prepare_dagster_home()
with DagsterInstance.get() as instance:
    land_and_refresh(instance, range(0, 30), LocalDeployer(port=int(sys.argv[1]), workers=1), "to be killed")
"""


# How the graph reads back each kind of stored file (Parquet partitions, feature state, pickles, drift rankings,
# models' validation scores).
READERS = {
    ".parquet": read_parquet,
    ".state": lambda path: FeatureState.from_bytes(path.read_bytes()),
    ".pkl": lambda path: pickle.loads(path.read_bytes()),
    ".json": lambda path: json.loads(path.read_text())["digest"],  # a stored slice's kept digest
    ".arrow": lambda path: feather.read_table(path),
    ".npz": lambda path: dict(np.load(path, allow_pickle=False)),
}


def step_started(instance: DagsterInstance, step_key: str) -> bool:
    return any(
        event.step_key == step_key
        for run in instance.get_runs(limit=5)
        for event in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
    )


def kill_when_step_starts(process: subprocess.Popen, step_key: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    with DagsterInstance.get() as instance:
        while not step_started(instance, step_key):
            assert process.poll() is None, f"the child exited ({process.returncode}) before {step_key} started"
            assert time.monotonic() < deadline, f"{step_key} did not start within {timeout_s:.0f} s"
            time.sleep(0.2)
    time.sleep(1.0)  # well inside the fit (several seconds on 30 days)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.timeout(400)
def test_graph_completes_after_a_run_killed_during_training(home, deployer, tmp_path):
    prepare_dagster_home()
    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", GRAPH_IN_A_CHILD, str(free_port())],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        kill_when_step_starts(child, "fraud_model")
    finally:
        stop_group(child)
    assert child.returncode == -signal.SIGKILL, log.read_text()[-2000:]

    # What a kill in the middle of atomic_write_bytes leaves: a hidden, truncated temporary file
    # next to the partition it was replacing. The next run reads that partition.
    features = Path(StorageLayout(settings.storage()).partitions_dir(TRANSACTION_FEATURES))
    whole = (features / "step_029.parquet").read_bytes()
    leftover = features / f".step_029.parquet.{uuid.uuid4().hex}.tmp"
    leftover.write_bytes(whole[: len(whole) // 2])

    with DagsterInstance.get() as instance:
        killed = instance.get_runs(limit=1)[0]
        succeeded = {e.step_key for e in instance.all_logs(killed.run_id, of_type=DagsterEventType.STEP_SUCCESS)}
        assert not killed.is_success and "fraud_model" not in succeeded, (killed.status, succeeded)

        after = land_and_refresh(instance, [30], deployer, "after the kill")

    assert after.success and all(after.checks.values()), after.check_messages
    uri = registry.tracking_uri()
    versions = MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(
        f"name='{registry.DEFAULT_MODEL_NAME}'"
    )
    assert after.deployed_version == max(int(v.version) for v in versions)
    assert after.serving_version == str(after.deployed_version)
    assert after.candidate.training_slices == tuple(f"step_{i:03d}" for i in range(31))

    # Whatever the kill interrupted, every stored file a run can read is whole; a temporary
    # file left by an interrupted atomic write is hidden and never addressed by a partition.
    stored = [p for p in Path(settings.storage()).rglob("*") if p.is_file()]
    visible = [p for p in stored if not p.name.startswith(".")]
    names = {str(p.relative_to(settings.storage())) for p in visible}
    assert {
        "transaction_slices/step_030.parquet",
        "transaction_features/step_030.parquet",
        "fraud_model.pkl",
    } <= names, names
    unknown = [p for p in visible if p.suffix not in READERS]
    assert not unknown, f"no reader for {unknown[:5]}"
    for path in visible:
        READERS[path.suffix](path)
    assert all(p.name.endswith(".tmp") for p in stored if p.name.startswith(".")), stored
    assert (features / "step_029.parquet").read_bytes() == whole
