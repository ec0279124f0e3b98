"""Every Kubernetes object under deploy/ is one the API server would accept as written."""

from __future__ import annotations

import copy
import re

import pytest
from kubernetes.client import V1PodSpec

from fraud_assets import execution, settings
from fraud_assets.deployment import kubernetes as seldon
from fraud_assets_tests.platform.kube import InvalidObject, parse_as, validate_object
from fraud_assets_tests.platform.project import ROOT, kubernetes_documents, objects_of_kind

DOCUMENTS = kubernetes_documents()
# Variables read by libraries rather than by fraud_assets' own code.
READ_BY_LIBRARIES = {"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def validate_seldon_deployment(manifest: dict, where: str) -> None:
    """Custom resource: the CRD's schema (deployment module), plus each pod spec as a real PodSpec."""
    seldon.validate_manifest(manifest)
    for p, predictor in enumerate(manifest["spec"]["predictors"]):
        for c, component in enumerate(predictor.get("componentSpecs", [])):
            parse_as(V1PodSpec, component["spec"], f"{where}: predictors[{p}].componentSpecs[{c}].spec")


CUSTOM_KINDS = {("machinelearning.seldon.io/v1", "SeldonDeployment"): validate_seldon_deployment}


def validate(manifest: dict, where: str) -> None:
    custom = CUSTOM_KINDS.get((manifest.get("apiVersion"), manifest.get("kind")))
    if custom:
        custom(manifest, where)
    else:
        validate_object(manifest, where)


def test_deploy_holds_the_environment_objects():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in DOCUMENTS}
    assert {
        ("ConfigMap", "fraud-assets-env"),
        ("Secret", "fraud-assets-secrets"),
        ("Secret", "dagster-postgresql-secret"),
    } <= kinds


@pytest.mark.parametrize("where, manifest", DOCUMENTS, ids=[where for where, _ in DOCUMENTS])
def test_every_object_matches_its_kubernetes_schema(where, manifest):
    validate(manifest, where)


def env_config_map() -> dict:
    return objects_of_kind("ConfigMap")["fraud-assets-env"]


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda m: m["metadata"].update(nmae="x"), "Unexpected keys in model class V1ObjectMeta: {'nmae'}"),
        (lambda m: m.update(dta=m.pop("data")), "Unexpected keys in model class V1ConfigMap"),
        (lambda m: m["data"].update(DAGSTER_PG_PORT=5432), "DAGSTER_PG_PORT is 5432 but the API reads it as '5432'"),
        (lambda m: m["data"].update(FRAUD_EXECUTOR=True), "FRAUD_EXECUTOR is True"),
        (lambda m: m.update(apiVersion="apps/v1"), "apps/v1 ConfigMap is not a built-in Kubernetes kind"),
        (lambda m: m["metadata"].pop("name"), "metadata.name is required"),
    ],
)
def test_a_typo_or_a_wrong_type_fails_the_check(mutate, problem):
    manifest = copy.deepcopy(env_config_map())
    mutate(manifest)
    with pytest.raises(InvalidObject, match=re.escape(problem)):
        validate(manifest, "fraud-assets-env")


def test_a_typo_inside_a_seldon_pod_spec_fails_the_check():
    manifest = copy.deepcopy(objects_of_kind("SeldonDeployment")["fraud-model"])
    manifest["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["envFrm"] = []
    with pytest.raises((InvalidObject, seldon.ManifestError), match="envFrm"):
        validate(manifest, "fraud-model")


def test_the_environment_selects_kubernetes_everywhere():
    data = env_config_map()["data"]
    assert execution.executor_for(settings.load(data)).name == "k8s"
    assert data["FRAUD_DEPLOY_TARGET"] == "kubernetes"
    assert data["MLFLOW_TRACKING_URI"].startswith("http")
    # Storage locations; FRAUD_K8S_INGRESS_URL is the model's gateway and FRAUD_STATE_STORE_URL the online
    # state's store (Redis), not storage.
    urls = {
        k: v
        for k, v in data.items()
        if k.startswith("FRAUD_") and k.endswith("_URL") and "_K8S_" not in k and k != "FRAUD_STATE_STORE_URL"
    }
    assert {"FRAUD_LANDING_URL", "FRAUD_QUARANTINE_URL", "FRAUD_STORAGE_URL", "FRAUD_REPORTS_URL"} <= set(urls)
    assert all(url.startswith("s3://") for url in urls.values()), urls


def test_every_kubernetes_setting_is_in_the_config_map_and_every_value_is_accepted():
    data = env_config_map()["data"]
    missing = sorted(v for v in settings.VARIABLES if v.startswith("FRAUD_K8S_") and v not in data)
    assert not missing, f"deploy/k8s/fraud-assets-env.yaml lacks {missing}"
    settings.load(data)  # raises SettingError naming any value the settings do not accept


def test_every_variable_set_is_read_somewhere():
    """A misspelt name would be ignored silently by the pods; each must appear in the code or config."""
    sources = "\n".join(p.read_text() for p in (ROOT / "fraud_assets").rglob("*.py"))
    sources += (ROOT / "deploy" / "dagster.yaml").read_text()
    names = set(env_config_map()["data"]) | set(objects_of_kind("Secret")["fraud-assets-secrets"]["stringData"])
    unread = sorted(n for n in names - READ_BY_LIBRARIES if f'"{n}"' not in sources and f"env: {n}" not in sources)
    assert not unread, f"set in deploy/k8s but read nowhere in fraud_assets/ or deploy/dagster.yaml: {unread}"


def test_the_model_pods_find_the_state_store_in_the_config_map_and_its_password_in_the_secret():
    """Every ConfigMap and Secret a SeldonDeployment example refers to is in deploy/k8s with the keys it names,
    and the ConfigMap gives the pods a shared store (not each pod its own SQLite file) and the stored states."""
    config_maps, secrets = objects_of_kind("ConfigMap"), objects_of_kind("Secret")
    for name, manifest in objects_of_kind("SeldonDeployment").items():
        for predictor in manifest["spec"]["predictors"]:
            for component in predictor["componentSpecs"]:
                for container in component["spec"]["containers"]:
                    sources = container.get("envFrom", [])
                    read = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
                    assert read == ["fraud-assets-env"], f"{name}: the pods read ConfigMaps {read}"
                    for variable in container["env"]:
                        ref = variable.get("valueFrom", {}).get("secretKeyRef")
                        if ref:
                            assert ref["key"] in secrets[ref["name"]]["stringData"], f"{name}: {ref}"
                    by_key = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in container["env"] if "valueFrom" in v}
                    assert by_key["FRAUD_STATE_STORE_PASSWORD"]["name"] == "fraud-assets-secrets"
    data = settings.load(config_maps["fraud-assets-env"]["data"])
    assert data.state_store_url.startswith(("redis://", "rediss://")) and data.storage_url.startswith("s3://")


def test_secret_examples_hold_placeholders_only():
    for name, secret in objects_of_kind("Secret").items():
        assert "data" not in secret, f"{name}: use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert re.fullmatch(r"<[a-z0-9-]+>", value), f"{name}.{key} holds {value!r}, not a <placeholder>"
