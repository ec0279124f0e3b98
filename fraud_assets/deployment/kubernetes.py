"""The Kubernetes target: a `SeldonDeployment` (machinelearning.seldon.io/v1) running the project's
own image with the same `FraudModel` class as the local target.

`render_seldon_deployment` builds the manifest (one predictor, or a main and a canary with a
traffic split), `validate_manifest` checks it offline against the CRD shipped beside this module
with unknown fields rejected, and `apply` creates or patches it through the Kubernetes API and
waits until Seldon reports it Available. The pod downloads the MLflow artifact itself (FraudModel
accepts an artifact URI) and refuses it unless every file matches the registered manifest; Seldon's storage
initializer is not used because Seldon 1.x only injects it for its prepackaged servers.

Raw-transaction scoring needs one online state for all replicas: each pod takes the settings of
every fraud-assets pod from the `fraud-assets-env` ConfigMap (the state store's URL,
FRAUD_STATE_STORE_URL, and the storage holding the stored feature states, FRAUD_STORAGE_URL) and
the store's password from the `fraud-assets-secrets` Secret (both in deploy/k8s/, the names the
Dagster pods use in deploy/dagster.yaml and deploy/helm/values.yaml).
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from fraud_assets import settings
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.settings import DEFAULTS

GROUP, VERSION, PLURAL, KIND = "machinelearning.seldon.io", "v1", "seldondeployments", "SeldonDeployment"
CRD_PATH = Path(__file__).with_name("seldondeployments.machinelearning.seldon.io.yaml")
CONTAINER = "classifier"  # the graph node and its container share this name, as Seldon requires
ENV_CONFIG_MAP, SECRET = "fraud-assets-env", "fraud-assets-secrets"  # deploy/k8s/
STATE_STORE_PASSWORD = "FRAUD_STATE_STORE_PASSWORD"  # its key in SECRET; optional: a store may need none


class ManifestError(ValueError):
    """A rendered manifest the cluster would reject or silently misread."""


class DeploymentFailed(RuntimeError):
    """Seldon reported the deployment Failed, or it was not Available in time."""


@dataclass(frozen=True)
class KubernetesSettings:
    """Field `x` is set by FRAUD_K8S_X (settings `k8s_x`)."""

    namespace: str = DEFAULTS.k8s_namespace
    deployment_name: str = DEFAULTS.k8s_deployment_name
    image: str = DEFAULTS.k8s_image  # the Dockerfile's `model` target
    image_pull_policy: str = DEFAULTS.k8s_image_pull_policy
    replicas: int = DEFAULTS.k8s_replicas
    workers: int = DEFAULTS.k8s_workers  # gunicorn workers per pod: scale out with replicas
    cpu_request: str = DEFAULTS.k8s_cpu_request
    cpu_limit: str = DEFAULTS.k8s_cpu_limit
    memory_request: str = DEFAULTS.k8s_memory_request
    memory_limit: str = DEFAULTS.k8s_memory_limit
    artifact_secret: str | None = DEFAULTS.k8s_artifact_secret  # Secret with the artifact store's credentials
    mlflow_tracking_uri: str | None = DEFAULTS.k8s_mlflow_tracking_uri  # for runs:/ and models:/ artifact URIs
    ingress_url: str | None = DEFAULTS.k8s_ingress_url  # e.g. http://ambassador.example; adds the gateway URL
    wait_timeout_s: float = DEFAULTS.k8s_wait_timeout_s

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.workers < 1:
            raise ValueError(f"kubernetes: replicas and workers must be >= 1, got {self.replicas} and {self.workers}")


def render_seldon_deployment(
    bundle: ModelBundle,
    config: KubernetesSettings = KubernetesSettings(),
    canary: ModelBundle | None = None,
    canary_traffic: int = 0,
) -> dict:
    """The SeldonDeployment serving `bundle`, plus `canary` on `canary_traffic` percent if given."""
    if canary is None and canary_traffic:
        raise ValueError("kubernetes: canary_traffic given without a canary model")
    if canary is not None and not 0 < canary_traffic < 100:
        raise ValueError(f"kubernetes: canary_traffic must be between 1 and 99 percent, got {canary_traffic}")
    name = config.deployment_name
    predictors = [_predictor("main", bundle, config, 100 - canary_traffic)]
    if canary is not None:
        predictors.append(_predictor("canary", canary, config, canary_traffic, replicas=1))
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": config.namespace,
            "labels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/part-of": "fraud-assets",
                "app.kubernetes.io/version": _label_value(bundle.version),
            },
        },
        "spec": {"name": name, "protocol": "seldon", "transport": "rest", "predictors": predictors},
    }
    validate_manifest(manifest)
    return manifest


def _artifact_uri(bundle: ModelBundle) -> str:
    """Where the pod fetches the model: a path of this machine means nothing inside a cluster."""
    if bundle.artifact_uri:
        return bundle.artifact_uri
    if "://" in bundle.model_dir or bundle.model_dir.startswith(("models:/", "runs:/")):
        return bundle.model_dir
    raise ValueError(
        f"kubernetes: model {bundle.name} version {bundle.version} has the local path "
        f"{bundle.model_dir!r}; give the artifact URI the pod can read (s3://..., models:/NAME/VERSION, "
        "or file:// for a model baked into the image)"
    )


def _predictor(
    role: str, bundle: ModelBundle, config: KubernetesSettings, traffic: int, replicas: int | None = None
) -> dict:
    from fraud_assets.deployment.seldon_model import MODEL_CLASS

    parameters = {
        "model_dir": _artifact_uri(bundle),
        "expected_sha256": bundle.sha256,
        "model_name": bundle.name,
        "model_version": bundle.version,
    }
    env = [
        {"name": "OMP_NUM_THREADS", "value": "1"},  # one thread per worker: see local.py
        {"name": "GUNICORN_WORKERS", "value": str(config.workers)},
        {"name": "GUNICORN_THREADS", "value": "1"},
        {
            "name": STATE_STORE_PASSWORD,
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": STATE_STORE_PASSWORD, "optional": True}},
        },
    ]
    if config.mlflow_tracking_uri:
        env.append({"name": "MLFLOW_TRACKING_URI", "value": config.mlflow_tracking_uri})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["seldon-core-microservice"],
        "args": [MODEL_CLASS, "--service-type", "MODEL"],
        "env": env,  # wins over envFrom for the same name
        "envFrom": [{"configMapRef": {"name": ENV_CONFIG_MAP}}],
        "resources": {
            "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
            "limits": {"cpu": config.cpu_limit, "memory": config.memory_limit},
        },
    }
    if config.artifact_secret:
        container["envFrom"].append({"secretRef": {"name": config.artifact_secret}})
    return {
        "name": role,
        "replicas": config.replicas if replicas is None else replicas,
        "traffic": traffic,
        "labels": {"version": _label_value(bundle.version), "fraud-assets/role": role},
        "componentSpecs": [{"spec": {"containers": [container]}}],
        "graph": {
            "name": CONTAINER,
            "type": "MODEL",
            "children": [],
            "parameters": [{"name": key, "type": "STRING", "value": value} for key, value in parameters.items()],
        },
    }


def _label_value(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:63].strip("-_.") or "unknown"


@functools.cache
def strict_schema() -> dict:
    """The CRD's schema with `additionalProperties: false` wherever it lists properties and says
    nothing else, so an unknown or misspelt field (e.g. `modelURI`) fails like a typo should."""
    crd = yaml.load(CRD_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    _close_objects(schema)
    return schema


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def validate_manifest(manifest: dict) -> None:
    """Raise ManifestError listing every schema violation with its path in the manifest."""
    problems = []
    if manifest.get("apiVersion") != f"{GROUP}/{VERSION}" or manifest.get("kind") != KIND:
        problems.append(f"apiVersion/kind must be {GROUP}/{VERSION} {KIND}")
    for error in sorted(Draft7Validator(strict_schema()).iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{path}: {error.message}")
    predictors = manifest.get("spec", {}).get("predictors", [])
    if len(predictors) > 1 and sum(p.get("traffic", 0) for p in predictors) != 100:
        problems.append("spec/predictors: traffic must add up to 100")
    if problems:
        raise ManifestError(f"SeldonDeployment {manifest.get('metadata', {}).get('name')!r}: " + "; ".join(problems))


def apply(manifest: dict, config: KubernetesSettings = KubernetesSettings(), api: Any = None) -> dict:
    """Create or patch the SeldonDeployment and wait until Seldon reports this generation Available.

    Returns the object as the cluster has it (with `status`)."""
    from kubernetes.client.exceptions import ApiException

    validate_manifest(manifest)
    api = api or custom_objects_api()
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    try:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status != 404:
            raise
        applied = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    else:
        applied = api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, manifest)
    return wait_until_available(api, namespace, name, applied["metadata"].get("generation", 1), config.wait_timeout_s)


def wait_until_available(
    api: Any, namespace: str, name: str, generation: int, timeout: float, poll_s: float = 2.0
) -> dict:
    """Seldon sets status.state (Creating, Available, Failed); a state reported for an older
    generation says nothing about the one just applied."""
    deadline = time.monotonic() + timeout
    state = description = None
    while time.monotonic() < deadline:
        current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status = current.get("status") or {}
        state, description = status.get("state"), status.get("description")
        if status.get("observedGeneration", generation) >= generation:
            if state == "Available":
                return current
            if state == "Failed":
                raise DeploymentFailed(f"SeldonDeployment {namespace}/{name} failed: {description}")
        time.sleep(poll_s)
    raise DeploymentFailed(
        f"SeldonDeployment {namespace}/{name} not Available after {timeout:.0f} s (state {state!r}: {description})"
    )


def endpoint_urls(deployed: dict, config: KubernetesSettings = KubernetesSettings()) -> dict[str, str]:
    """In-cluster URL from Seldon's status, and the gateway URL when an ingress is configured."""
    namespace, name = deployed["metadata"]["namespace"], deployed["metadata"]["name"]
    urls = {}
    address = ((deployed.get("status") or {}).get("address") or {}).get("url")
    urls["cluster"] = address or f"http://{name}-main.{namespace}.svc.cluster.local:8000/api/v1.0/predictions"
    if config.ingress_url:
        urls["gateway"] = f"{config.ingress_url.rstrip('/')}/seldon/{namespace}/{name}/api/v1.0/predictions"
    return urls


def delete(namespace: str, name: str, api: Any = None) -> bool:
    from kubernetes.client.exceptions import ApiException

    api = api or custom_objects_api()
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def get(namespace: str, name: str, api: Any = None) -> dict | None:
    from kubernetes.client.exceptions import ApiException

    api = api or custom_objects_api()
    try:
        return api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def custom_objects_api():
    """KUBECONFIG (or ~/.kube/config) outside a cluster, the service account inside one."""
    from kubernetes import client, config

    current = settings.load()
    if current.kubernetes_service_host and not current.kubeconfig:
        config.load_incluster_config()
    else:
        config.load_kube_config()
    return client.CustomObjectsApi()
