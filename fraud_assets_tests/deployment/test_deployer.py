"""ModelDeployer as Dagster uses it: a resource handed to an asset, target chosen by configuration."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request

import pytest
from dagster import asset, materialize

from fraud_assets.deployment import local
from fraud_assets.deployment.deployer import ModelDeployer
from fraud_assets_tests.deployment.support import bundle_for, free_port, request_row


def test_an_asset_deploys_through_the_resource(home, toy_models):
    bundle = bundle_for(*toy_models["v1"], "1")

    @asset
    def model_deployment(model_deployer: ModelDeployer) -> dict:
        return dataclasses.asdict(model_deployer.deploy(bundle))

    deployer = ModelDeployer(port=free_port(), workers=1)
    try:
        result = materialize([model_deployment], resources={"model_deployer": deployer})
        deployed = result.output_for_node("model_deployment")
        status, body = local.post_json(deployed["endpoint"], request_row())
        assert result.success and status == 200 and body["meta"]["tags"]["model_version"] == "1"
        assert deployed["pids"]["server"] == deployer.status()["server"]["pid"]
    finally:
        stopped = deployer.stop()
    assert stopped["model_version"] == "1" and deployer.status() is None
    with pytest.raises(OSError):
        urllib.request.urlopen(deployed["endpoint"].replace("api/v1.0/predictions", "health/ping"), timeout=2)


def test_target_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FRAUD_DEPLOY_TARGET", "kubernetes")
    assert ModelDeployer.from_env(namespace="models").target == "kubernetes"
    monkeypatch.delenv("FRAUD_DEPLOY_TARGET")
    assert ModelDeployer.from_env().target == "local"


def test_unknown_target_is_named(home):
    with pytest.raises(ValueError, match="'docker' is not one of .*FRAUD_DEPLOY_TARGET"):
        ModelDeployer(target="docker").status()


def test_canary_needs_kubernetes(toy_models):
    bundle = bundle_for(*toy_models["v1"], "1")
    with pytest.raises(ValueError, match="canary releases need the kubernetes target"):
        ModelDeployer().deploy(bundle, canary=bundle, canary_traffic=10)
