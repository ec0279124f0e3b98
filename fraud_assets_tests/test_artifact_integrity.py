"""A registered model tampered with in the artifact store, at every place a model is loaded.

A version is registered for real, then its folder in the store is changed with a payload that
creates a sentinel file when unpickled (`tampering`). The champion comparison, a deploy, a
rollback from the CLI, a real seldon-core-microservice given the folder, and lineage each refuse
it; the payload never runs, nothing lands on sys.path, and the model that served keeps serving.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import cloudpickle
import pytest
from dagster import DagsterInstance
from mlflow.tracking import MlflowClient

from fraud_assets import registry, release
from fraud_assets.cli import main
from fraud_assets.deployment import local
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.deployment.deployer import LocalDeployer
from fraud_assets.deployment.local import DeployError
from fraud_assets.lineage import serving_lineage
from fraud_assets.model_artifact import ModelIntegrityError
from fraud_assets.training.candidate import ModelCandidate
from fraud_assets.training.evaluation import evaluate
from fraud_assets.training.gates import MetricBounds
from fraud_assets.training.judging import judge
from fraud_assets_tests.deployment import toy_model
from fraud_assets_tests.deployment.support import free_port
from fraud_assets_tests.tampering import TAMPERINGS, tamper

NAME = registry.DEFAULT_MODEL_NAME


def register(seed: int) -> registry.RegisteredModelVersion:
    """A toy model registered as training registers one (its class pickled by value, like training's)."""
    X, y = toy_model.training_frame(seed=seed)
    model = toy_model.ToyFraudClassifier().fit(X, y)
    cloudpickle.register_pickle_by_value(toy_model)
    try:
        return registry.log_and_register(
            model,
            evaluate(model, X, y),
            params={},
            tags=registry.lineage_tags(None, None, ["step_000"]),
            input_example=X.head(3),
        )
    finally:
        cloudpickle.unregister_pickle_by_value(toy_model)


def candidate_of(registered: registry.RegisteredModelVersion) -> ModelCandidate:
    X, y = toy_model.training_frame(seed=9)
    return ModelCandidate(
        registered=registered,
        evaluation=None,
        split={},
        training_slices=("step_000",),
        X_validation=X,
        y_validation=y,
        fit_seconds=0.0,
        training_rows=len(X),
    )


def folder_in_store(version: int) -> Path:
    return Path(urlparse(registry.artifact_uri(NAME, version)).path)


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """Version 1 deployed through the release path, on its own home and port, for the whole module."""
    home = tmp_path_factory.mktemp("integrity") / "home"
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("FRAUD_LANDING_URL", "FRAUD_QUARANTINE_URL", "FRAUD_STORAGE_URL", "MLFLOW_TRACKING_URI"):
            mp.delenv(var, raising=False)
        mp.setenv("FRAUD_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("FRAUD_DEPLOY_PORT", str(port))
        mp.setenv("FRAUD_DEPLOY_WORKERS", "1")
        deployer = LocalDeployer(port=port, workers=1)
        try:
            good = register(seed=0)
            release.deploy_candidate(deployer, NAME, good.version, [], "test")
            yield deployer, good
        finally:
            deployer.stop()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", TAMPERINGS)
def test_a_tampered_version_is_refused_at_every_load_path(serving, tmp_path, how, capsys):
    deployer, good = serving
    bad = register(seed=1)
    registry.record_gates_passed(NAME, bad.version, "test")  # as if it had been deployed before: rollback may pick it
    sentinel = tmp_path / "payload-ran"
    tamper(folder_in_store(bad.version), how, sentinel)
    import_path = list(sys.path)

    def still_safe():
        assert not sentinel.exists(), "the payload ran"
        assert sys.path == import_path, "a code path of the model folder went onto sys.path"
        status = deployer.status()
        assert status["healthy"] and status["model_version"] == str(good.version)

    # The champion comparison of model_evaluation, with the tampered version as champion.
    client = MlflowClient(registry.tracking_uri())
    client.set_registered_model_alias(NAME, registry.CHAMPION, str(bad.version))
    try:
        with pytest.raises(ModelIntegrityError, match="refusing to load"):
            judge(candidate_of(good), MetricBounds())
    finally:
        client.set_registered_model_alias(NAME, registry.CHAMPION, str(good.version))
    still_safe()

    # A deploy (what model_deployment does once its gates passed).
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        release.deploy_candidate(deployer, NAME, bad.version, [], "test")
    still_safe()

    # A rollback from the command line.
    assert main(["rollback", "--version", str(bad.version)]) == 1
    assert "refusing to load" in capsys.readouterr().err
    still_safe()

    # The Seldon server itself, handed the tampered folder with its registered manifest hash.
    bundle = ModelBundle(
        str(folder_in_store(bad.version)), bad.manifest_sha256, NAME, str(bad.version), 0.5, tuple(toy_model.FEATURES)
    )
    with pytest.raises(DeployError, match=r"ModelIntegrityError: .*refusing to load"):
        local.deploy(bundle, local.LocalSettings(port=deployer.port, workers=1))
    still_safe()

    # Lineage of the tampered version: its artifact is reported refused.
    with DagsterInstance.ephemeral() as instance:
        chain = serving_lineage(instance, {**deployer.status(), "model_version": bad.version})
    assert chain["artifact"]["verified"] is False and "refusing to load" in chain["artifact"]["problem"]
    still_safe()
