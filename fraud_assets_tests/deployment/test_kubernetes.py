"""SeldonDeployment manifests against the CRD's schema (no cluster here), and the apply path
against a real cluster when KUBECONFIG points at one."""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from fraud_assets.deployment import kubernetes
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.deployment.kubernetes import (
    KubernetesSettings,
    ManifestError,
    render_seldon_deployment,
    validate_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("amount", "category_code", "age_code")
MAIN = ModelBundle("s3://mlflow/artifacts/1/abc/artifacts/model", "a" * 64, "Fraud Model", "7", 0.42, FEATURES)
CANARY = ModelBundle("s3://mlflow/artifacts/1/def/artifacts/model", "b" * 64, "Fraud Model", "8", 0.40, FEATURES)


def container(predictor: dict) -> dict:
    return predictor["componentSpecs"][0]["spec"]["containers"][0]


def parameters(predictor: dict) -> dict:
    return {p["name"]: p["value"] for p in predictor["graph"]["parameters"]}


def test_single_predictor_carries_the_model_version_and_settings():
    config = KubernetesSettings(
        namespace="models",
        image="registry.local/fraud-assets:0.1",
        replicas=3,
        cpu_limit="2",
        artifact_secret="mlflow-s3",
    )

    manifest = render_seldon_deployment(MAIN, config)

    (predictor,) = manifest["spec"]["predictors"]
    served = container(predictor)
    assert manifest["apiVersion"] == "machinelearning.seldon.io/v1" and manifest["kind"] == "SeldonDeployment"
    assert manifest["metadata"] == {
        "name": "fraud-model",
        "namespace": "models",
        "labels": {
            "app.kubernetes.io/name": "fraud-model",
            "app.kubernetes.io/part-of": "fraud-assets",
            "app.kubernetes.io/version": "7",
        },
    }
    assert predictor["replicas"] == 3 and predictor["traffic"] == 100 and predictor["labels"]["version"] == "7"
    assert served["image"] == "registry.local/fraud-assets:0.1" and served["name"] == predictor["graph"]["name"]
    assert {"name": "OMP_NUM_THREADS", "value": "1"} in served["env"]
    assert served["resources"]["limits"]["cpu"] == "2"
    assert served["envFrom"] == [{"configMapRef": {"name": "fraud-assets-env"}}, {"secretRef": {"name": "mlflow-s3"}}]
    assert served["args"][0] == "fraud_assets.deployment.seldon_model.FraudModel"
    assert parameters(predictor) == {
        "model_dir": MAIN.model_dir,
        "expected_sha256": "a" * 64,
        "model_name": "Fraud Model",
        "model_version": "7",
    }


@pytest.mark.parametrize("canary", [None, CANARY])
def test_every_pod_takes_the_state_store_url_from_the_config_map_and_its_password_from_the_secret(canary):
    """One online state for all replicas: the pods read FRAUD_STATE_STORE_URL (and FRAUD_STORAGE_URL) from
    the ConfigMap every fraud-assets pod reads, and the password by its key in the Secret."""
    manifest = render_seldon_deployment(MAIN, KubernetesSettings(), canary=canary, canary_traffic=10 if canary else 0)
    for predictor in manifest["spec"]["predictors"]:
        served = container(predictor)
        assert served["envFrom"] == [{"configMapRef": {"name": "fraud-assets-env"}}]
        (password,) = [e for e in served["env"] if e["name"] == "FRAUD_STATE_STORE_PASSWORD"]
        assert password == {
            "name": "FRAUD_STATE_STORE_PASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": "fraud-assets-secrets", "key": "FRAUD_STATE_STORE_PASSWORD", "optional": True}
            },
        }
        assert not any(e["name"] == "FRAUD_STATE_STORE_URL" for e in served["env"]), "the ConfigMap's must win"


def test_a_local_path_is_refused_for_a_cluster():
    local_model = ModelBundle("/home/me/.fraud_assets/serving/models/fraud-v7", "a" * 64, "fraud", "7", 0.5, FEATURES)
    with pytest.raises(ValueError, match=r"local path .*give the artifact URI"):
        render_seldon_deployment(local_model, KubernetesSettings())


def test_the_artifact_uri_is_served_when_the_bundle_also_has_a_local_copy():
    both = dataclasses.replace(
        MAIN, model_dir="/home/me/.fraud_assets/serving/models/fraud-v7", artifact_uri=MAIN.model_dir
    )
    (predictor,) = render_seldon_deployment(both, KubernetesSettings())["spec"]["predictors"]
    assert parameters(predictor)["model_dir"] == MAIN.model_dir


def test_canary_gets_its_share_of_traffic():
    manifest = render_seldon_deployment(MAIN, KubernetesSettings(), canary=CANARY, canary_traffic=10)

    main, canary = manifest["spec"]["predictors"]
    assert (main["name"], main["traffic"]) == ("main", 90) and (canary["name"], canary["traffic"]) == ("canary", 10)
    assert parameters(canary)["model_version"] == "8" and parameters(canary)["expected_sha256"] == "b" * 64
    assert canary["replicas"] == 1


@pytest.mark.parametrize("traffic", [0, 100, 150])
def test_canary_share_must_leave_both_sides_traffic(traffic):
    with pytest.raises(ValueError, match="between 1 and 99"):
        render_seldon_deployment(MAIN, KubernetesSettings(), canary=CANARY, canary_traffic=traffic)


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda m: m["spec"]["predictors"][0]["graph"].update(modelURI="s3://x"), "'modelURI' was unexpected"),
        (lambda m: m["spec"]["predictors"][0].update(replica=2), "'replica' was unexpected"),
        (lambda m: container(m["spec"]["predictors"][0]).update(imagePullPolicy=None), "None is not of type 'string'"),
        (lambda m: m["spec"]["predictors"][0].update(traffic="all"), "'all' is not of type 'integer'"),
        (lambda m: m["spec"]["predictors"][0]["graph"]["parameters"][0].pop("type"), "'type' is a required property"),
        (lambda m: m["spec"]["predictors"][0]["componentSpecs"][0]["spec"].update(containerz=[]), "'containerz'"),
        (lambda m: m.update(kind="Deployment"), "apiVersion/kind"),
        (
            lambda m: m["spec"]["predictors"].append(copy.deepcopy(m["spec"]["predictors"][0])),
            "traffic must add up to 100",
        ),
    ],
)
def test_schema_violations_are_rejected_with_their_path(mutate, problem):
    manifest = render_seldon_deployment(MAIN, KubernetesSettings())
    mutate(manifest)
    with pytest.raises(ManifestError, match=problem):
        validate_manifest(manifest)


def test_crd_ships_with_the_package():
    assert kubernetes.CRD_PATH.is_file() and kubernetes.CRD_PATH.is_relative_to(ROOT / "fraud_assets")
    assert kubernetes.strict_schema()["additionalProperties"] is False


def test_example_manifests_in_deploy_are_valid():
    examples = sorted((ROOT / "deploy" / "seldon").glob("*.yaml"))
    assert examples
    for path in examples:
        validate_manifest(yaml.safe_load(path.read_text()))


def test_example_manifests_in_deploy_are_what_the_deployer_renders():
    """So the examples show the current wiring (state store URL and password included), not an old one."""
    config = KubernetesSettings(mlflow_tracking_uri="http://mlflow.mlflow.svc:5000", artifact_secret="mlflow-artifacts")
    main = ModelBundle("models:/fraud-model/3", "0" * 64, "fraud-model", "3", 0.5, FEATURES)
    canary = ModelBundle("models:/fraud-model/4", "1" * 64, "fraud-model", "4", 0.5, FEATURES)
    examples = {
        "fraud-model.yaml": render_seldon_deployment(main, config),
        "fraud-model-canary.yaml": render_seldon_deployment(main, config, canary, 10),
    }
    for name, rendered in examples.items():
        assert yaml.safe_load((ROOT / "deploy" / "seldon" / name).read_text()) == rendered, name


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="no cluster: set KUBECONFIG to test apply against one")
def test_apply_creates_then_patches_and_reports_available():
    if not os.environ.get("FRAUD_K8S_TEST_MODEL_URI"):
        pytest.skip("set FRAUD_K8S_TEST_MODEL_URI and FRAUD_K8S_TEST_MODEL_SHA256 to a model the cluster can read")
    namespace = os.environ.get("FRAUD_K8S_TEST_NAMESPACE", "fraud-assets-test")
    image = os.environ.get("FRAUD_K8S_TEST_IMAGE", KubernetesSettings().image)
    config = KubernetesSettings(namespace=namespace, replicas=1, deployment_name="fraud-model-test", image=image)
    bundle = ModelBundle(
        os.environ["FRAUD_K8S_TEST_MODEL_URI"],
        os.environ["FRAUD_K8S_TEST_MODEL_SHA256"],
        "fraud-model",
        "1",
        0.5,
        FEATURES,
    )
    try:
        created = kubernetes.apply(render_seldon_deployment(bundle, config), config)
        scaled = dataclasses.replace(config, replicas=2)
        patched = kubernetes.apply(render_seldon_deployment(bundle, scaled), scaled)
        assert created["status"]["state"] == patched["status"]["state"] == "Available"
        assert patched["spec"]["predictors"][0]["replicas"] == 2
        assert kubernetes.endpoint_urls(patched, config)["cluster"].startswith("http")
    finally:
        kubernetes.delete(namespace, "fraud-model-test")


class StatusSequence:
    """Stands in for CustomObjectsApi.get: returns the given statuses one after another."""

    def __init__(self, *statuses: dict):
        self.statuses = list(statuses)

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        return {"metadata": {"name": name, "namespace": namespace}, "status": self.statuses.pop(0)}


def test_waiting_ignores_the_state_of_an_older_generation():
    api = StatusSequence(
        {"state": "Available", "observedGeneration": 1},
        {"state": "Creating", "observedGeneration": 2},
        {"state": "Available", "observedGeneration": 2, "address": {"url": "http://x:8000/api/v1.0/predictions"}},
    )

    deployed = kubernetes.wait_until_available(api, "ns", "fraud-model", generation=2, timeout=5, poll_s=0)

    assert api.statuses == [] and kubernetes.endpoint_urls(deployed)["cluster"] == "http://x:8000/api/v1.0/predictions"


def test_waiting_reports_seldons_failure_reason():
    api = StatusSequence(
        {"state": "Failed", "observedGeneration": 3, "description": "ImagePullBackOff: fraud-assets:9"}
    )
    with pytest.raises(kubernetes.DeploymentFailed, match="ns/fraud-model failed: ImagePullBackOff"):
        kubernetes.wait_until_available(api, "ns", "fraud-model", generation=3, timeout=5, poll_s=0)
