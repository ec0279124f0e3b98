"""The graph against a real MLflow tracking server, then with that server gone mid-life.

One story so a model is trained once: a 30-day baseline is tracked, registered and its artifact
stored through `mlflow server` (v1 serves); the server stops; the next day's refresh fails before
training (the MLflow resource cannot start) with a message naming the unreachable tracking URI,
registers nothing, materializes nothing downstream, and v1 keeps serving.
"""

import hashlib
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance
from mlflow.tracking import MlflowClient

from fraud_assets import registry
from fraud_assets.asset_keys import FRAUD_MODEL, MODEL_DEPLOYMENT, MODEL_EVALUATION
from fraud_assets.demo import land_and_refresh
from fraud_assets.model_artifact import MANIFEST_FILE
from fraud_assets_tests.faults.conftest import mlflow_server

DOWNSTREAM_OF_MODEL = (MODEL_EVALUATION, MODEL_DEPLOYMENT)


def materialization_counts(instance) -> dict[str, int]:
    return {
        key.to_user_string(): len(instance.fetch_materializations(key, limit=100).records)
        for key in (FRAUD_MODEL, *DOWNSTREAM_OF_MODEL)
    }


def training_failure(instance) -> str:
    """The error messages (without their stacks) the latest run recorded for training: the fraud_model
    step failing, or the run's resources (the MLflow one among them) failing to start before any step."""
    run = instance.get_runs(limit=1)[0]
    kinds = {DagsterEventType.RESOURCE_INIT_FAILURE, DagsterEventType.STEP_FAILURE}
    steps = (None, FRAUD_MODEL.to_python_identifier())
    failures = [e for e in instance.all_logs(run.run_id, of_type=kinds) if e.step_key in steps]
    assert failures, f"run {run.run_id} records no failure of fraud_model or of its resources"
    error = failures[0].dagster_event.event_specific_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.timeout(300)
def test_tracking_server_then_server_gone(home, deployer, tmp_path, monkeypatch):
    server_root = tmp_path / "mlflow-server"
    with DagsterInstance.ephemeral() as instance:
        with mlflow_server(server_root) as url:
            monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
            first = land_and_refresh(instance, range(0, 30), deployer, "baseline")
            assert first.success and all(first.checks.values()), first.check_messages
            assert first.deployed_version == 1 and first.serving_version == "1"

            client = MlflowClient(tracking_uri=url, registry_uri=url)
            version = client.get_model_version(registry.DEFAULT_MODEL_NAME, "1")
            assert version.tags[registry.MANIFEST_SHA256_TAG] == first.candidate.registered.manifest_sha256
            assert client.get_registered_model(registry.DEFAULT_MODEL_NAME).aliases == {registry.CHAMPION: "1"}
            run = client.get_run(version.run_id)
            assert run.info.status == "FINISHED" and run.data.tags[registry.DAGSTER_RUN_TAG]

        # The artifacts went through the server to its destination, not to the client's home.
        stored = files_under(server_root / "artifacts")
        assert any(p.name == registry.MODEL_FILE for p in stored), sorted(map(str, stored))[:20]
        manifest = next(p for p in stored if p.name == MANIFEST_FILE)
        assert hashlib.sha256(manifest.read_bytes()).hexdigest() == first.candidate.registered.manifest_sha256
        assert not files_under(home / "mlflow"), sorted(map(str, files_under(home / "mlflow")))[:20]

        # The server is gone (its port is closed): the retrain fails and says where it tried.
        # (MLflow's default retries would spend minutes confirming that; one try is the same test.)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        second = land_and_refresh(instance, [30], deployer, "tracking server down")
        assert not second.success
        failure = training_failure(instance)
        assert f"MLflow tracking store {url}: " in failure and "Connection refused" in failure, failure
        assert materialization_counts(instance) == {"fraud_model": 1, "model_evaluation": 1, "model_deployment": 1}
        assert second.deployed_version is None and second.serving_version == "1"
        assert deployer.status()["model_version"] == "1" and deployer.status().get("healthy", True)

    # Nothing new reached the store (read directly, the server being down).
    offline = f"sqlite:///{server_root / 'mlflow.db'}"
    versions = MlflowClient(tracking_uri=offline, registry_uri=offline).search_model_versions(
        f"name='{registry.DEFAULT_MODEL_NAME}'"
    )
    assert [str(v.version) for v in versions] == ["1"]
