"""`ModelDeployer`: the Dagster resource that puts a registered model behind an endpoint.

One resource, two targets chosen by configuration (FRAUD_DEPLOY_TARGET), so moving from a laptop
to a cluster changes settings, not assets:
    local       a seldon-core-microservice on 127.0.0.1 behind a stable URL (local.py)
    kubernetes  a SeldonDeployment applied through the Kubernetes API (kubernetes.py)
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource

from fraud_assets.deployment import kubernetes, local
from fraud_assets.deployment.bundle import DeploymentResult, ModelBundle

TARGETS = ("local", "kubernetes")
TARGET_ENV = "FRAUD_DEPLOY_TARGET"


class ModelDeployer(ConfigurableResource):
    """Deploys a ModelBundle and reports or stops what serves it."""

    target: str = "local"
    # local target
    host: str = "127.0.0.1"
    port: int = 9000
    workers: int = 2
    grpc: bool = False
    start_timeout_s: float = 60.0
    # kubernetes target
    namespace: str = "fraud-assets"
    deployment_name: str = "fraud-model"
    image: str = "fraud-assets-model:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 2
    pod_workers: int = 1
    cpu_request: str = "500m"
    cpu_limit: str = "1"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    artifact_secret: str | None = None
    mlflow_tracking_uri: str | None = None
    ingress_url: str | None = None
    wait_timeout_s: float = 600.0

    @classmethod
    def from_env(cls, **overrides) -> ModelDeployer:
        """Target from FRAUD_DEPLOY_TARGET (local when unset; EnvVar would fail a run instead), and the
        local port and worker count from FRAUD_DEPLOY_PORT and FRAUD_DEPLOY_WORKERS."""
        settings = {"target": os.environ.get(TARGET_ENV, "").strip() or "local"}
        for field, variable in (("port", "FRAUD_DEPLOY_PORT"), ("workers", "FRAUD_DEPLOY_WORKERS")):
            text = os.environ.get(variable, "").strip()
            if text:
                if not text.isdigit():
                    raise ValueError(f"{variable}={text!r} must be a whole number")
                settings[field] = int(text)
        return cls(**{**settings, **overrides})

    def deploy(self, bundle: ModelBundle, canary: ModelBundle | None = None,
               canary_traffic: int = 0) -> DeploymentResult:
        """Serve `bundle` (and on Kubernetes, optionally `canary` on `canary_traffic` percent)."""
        if self._target() == "local":
            if canary is not None:
                raise ValueError("model deployer: canary releases need the kubernetes target")
            return local.deploy(bundle, self._local_settings())
        config = self._kubernetes_settings()
        manifest = kubernetes.render_seldon_deployment(bundle, config, canary, canary_traffic)
        deployed = kubernetes.apply(manifest, config)
        urls = kubernetes.endpoint_urls(deployed, config)
        return DeploymentResult(target="kubernetes", endpoint=urls.get("gateway", urls["cluster"]),
                                model_name=bundle.name, model_version=bundle.version, sha256=bundle.sha256,
                                k8s_object=f"{self.namespace}/{self.deployment_name}")

    def status(self) -> dict | None:
        if self._target() == "local":
            return local.status()
        deployed = kubernetes.get(self.namespace, self.deployment_name)
        if deployed is None:
            return None
        status = deployed.get("status") or {}
        urls = kubernetes.endpoint_urls(deployed, self._kubernetes_settings())
        return {"k8s_object": f"{self.namespace}/{self.deployment_name}", "state": status.get("state"),
                "description": status.get("description"), **urls}

    def stop(self) -> dict | bool | None:
        if self._target() == "local":
            return local.stop()
        return kubernetes.delete(self.namespace, self.deployment_name)

    def _target(self) -> str:
        if self.target not in TARGETS:
            raise ValueError(f"model deployer: target {self.target!r} is not one of {TARGETS} (set {TARGET_ENV})")
        return self.target

    def _local_settings(self) -> local.LocalSettings:
        return local.LocalSettings(host=self.host, port=self.port, workers=self.workers, grpc=self.grpc,
                                   start_timeout_s=self.start_timeout_s)

    def _kubernetes_settings(self) -> kubernetes.KubernetesSettings:
        return kubernetes.KubernetesSettings(
            namespace=self.namespace, image=self.image, image_pull_policy=self.image_pull_policy,
            replicas=self.replicas, workers=self.pod_workers, cpu_request=self.cpu_request, cpu_limit=self.cpu_limit,
            memory_request=self.memory_request, memory_limit=self.memory_limit, deployment_name=self.deployment_name,
            artifact_secret=self.artifact_secret, mlflow_tracking_uri=self.mlflow_tracking_uri,
            ingress_url=self.ingress_url, wait_timeout_s=self.wait_timeout_s)
