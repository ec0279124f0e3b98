"""ModelDeployer as Dagster uses it: a resource handed to an asset, target chosen by configuration."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request

import pytest
from dagster import asset, materialize

from fraud_assets import settings
from fraud_assets.deployment import local
from fraud_assets.deployment.deployer import KubernetesDeployer, LocalDeployer, ModelDeployer
from fraud_assets.resources import model_deployer
from fraud_assets_tests.deployment.support import bundle_for, free_port, request_row


def test_an_asset_deploys_through_the_resource(home, toy_models):
    bundle = bundle_for(*toy_models["v1"], "1")

    @asset
    def model_deployment(model_deployer: ModelDeployer) -> dict:
        return dataclasses.asdict(model_deployer.deploy(bundle))

    deployer = LocalDeployer(port=free_port(), workers=1)
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
    monkeypatch.setenv("FRAUD_K8S_NAMESPACE", "models")
    assert model_deployer().target == "kubernetes" and model_deployer().namespace == "models"
    monkeypatch.delenv("FRAUD_DEPLOY_TARGET")
    assert model_deployer().target == "local"


def test_unknown_target_is_named(home):
    with pytest.raises(ValueError, match="FRAUD_DEPLOY_TARGET='docker': one of local, kubernetes"):
        model_deployer(settings.load({"FRAUD_DEPLOY_TARGET": "docker"}))


def test_canary_needs_kubernetes(toy_models):
    bundle = bundle_for(*toy_models["v1"], "1")
    with pytest.raises(ValueError, match="canary releases need the kubernetes target"):
        LocalDeployer().deploy(bundle, canary=bundle, canary_traffic=10)


K8S_ENVIRONMENT = {
    "FRAUD_DEPLOY_TARGET": "kubernetes",
    "FRAUD_K8S_NAMESPACE": "models",
    "FRAUD_K8S_DEPLOYMENT_NAME": "fraud-canary",
    "FRAUD_K8S_IMAGE": "registry.local/fraud-assets-model:9",
    "FRAUD_K8S_IMAGE_PULL_POLICY": "always",
    "FRAUD_K8S_REPLICAS": "5",
    "FRAUD_K8S_WORKERS": "3",
    "FRAUD_K8S_CPU_REQUEST": "250m",
    "FRAUD_K8S_CPU_LIMIT": "2",
    "FRAUD_K8S_MEMORY_REQUEST": "1Gi",
    "FRAUD_K8S_MEMORY_LIMIT": "3Gi",
    "FRAUD_K8S_ARTIFACT_SECRET": "mlflow-s3",
    "FRAUD_K8S_MLFLOW_TRACKING_URI": "http://mlflow.mlflow:5000",
    "FRAUD_K8S_INGRESS_URL": "https://models.example",
    "FRAUD_K8S_WAIT_TIMEOUT_S": "90.5",
}


def test_every_kubernetes_setting_reaches_the_kubernetes_deployer():
    deployer = model_deployer(settings.load(K8S_ENVIRONMENT))

    assert isinstance(deployer, KubernetesDeployer) and isinstance(deployer, ModelDeployer)
    k8s_variables = {v for v in settings.VARIABLES if v.startswith("FRAUD_K8S_")}
    assert k8s_variables == set(K8S_ENVIRONMENT) - {"FRAUD_DEPLOY_TARGET"}, "every FRAUD_K8S_* variable is set here"
    config = deployer.plain()
    assert (config.namespace, config.deployment_name, config.image, config.image_pull_policy) == (
        "models",
        "fraud-canary",
        "registry.local/fraud-assets-model:9",
        "Always",
    )
    assert (config.replicas, config.workers, config.wait_timeout_s) == (5, 3, 90.5)
    assert (config.cpu_request, config.cpu_limit, config.memory_request, config.memory_limit) == (
        "250m",
        "2",
        "1Gi",
        "3Gi",
    )
    assert (config.artifact_secret, config.mlflow_tracking_uri, config.ingress_url) == (
        "mlflow-s3",
        "http://mlflow.mlflow:5000",
        "https://models.example",
    )


def test_the_local_deployer_gets_port_and_workers():
    deployer = model_deployer(
        settings.load({"FRAUD_DEPLOY_PORT": "9100", "FRAUD_DEPLOY_WORKERS": "4", "FRAUD_K8S_REPLICAS": "5"})
    )
    assert isinstance(deployer, LocalDeployer) and (deployer.port, deployer.workers) == (9100, 4)
