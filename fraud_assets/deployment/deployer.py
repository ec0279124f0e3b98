"""`ModelDeployer`: the Dagster resource that puts a registered model behind an endpoint, one class
per target behind that one interface, so moving from a laptop to a cluster changes settings, not assets:
    LocalDeployer       a seldon-core-microservice on 127.0.0.1 behind a stable URL (local.py)
    KubernetesDeployer  a SeldonDeployment applied through the Kubernetes API (kubernetes.py)
Each one's config fields are its target's plain settings (local.LocalSettings,
kubernetes.KubernetesSettings); `resources.model_deployer` picks the target (FRAUD_DEPLOY_TARGET).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from fraud_assets.configurable import PlainConfig, with_fields_of
from fraud_assets.deployment import kubernetes, local
from fraud_assets.deployment.bundle import DeploymentResult, ModelBundle


class ModelDeployer(PlainConfig, ABC):
    """Deploys a ModelBundle and reports or stops what serves it."""

    target: ClassVar[str]
    stages: ClassVar[bool] = False  # whether `stage` does anything

    @abstractmethod
    def deploy(
        self, bundle: ModelBundle, canary: ModelBundle | None = None, canary_traffic: int = 0
    ) -> DeploymentResult:
        """Serve `bundle` (and where the target can, `canary` on `canary_traffic` percent)."""

    def stage(self, bundle: ModelBundle) -> None:
        """Start serving `bundle` ahead of its deploy, without traffic, where the target gains from it (a local
        server's start is most of a deploy; Kubernetes rolls a SeldonDeployment out itself): nothing by default."""

    @abstractmethod
    def status(self) -> dict | None:
        """What serves, or None when nothing does."""

    @abstractmethod
    def stop(self) -> dict | bool | None:
        """Stop serving; what was stopped, or a falsy value when nothing was."""


class _Local(ModelDeployer):
    target: ClassVar[str] = "local"
    stages: ClassVar[bool] = True

    def deploy(
        self, bundle: ModelBundle, canary: ModelBundle | None = None, canary_traffic: int = 0
    ) -> DeploymentResult:
        if canary is not None:
            raise ValueError("model deployer: canary releases need the kubernetes target")
        return local.deploy(bundle, self.plain())

    def stage(self, bundle: ModelBundle) -> None:
        local.stage(bundle, self.plain())

    def status(self) -> dict | None:
        return local.status()

    def stop(self) -> dict | None:
        return local.stop()


class _Kubernetes(ModelDeployer):
    target: ClassVar[str] = "kubernetes"

    def deploy(
        self, bundle: ModelBundle, canary: ModelBundle | None = None, canary_traffic: int = 0
    ) -> DeploymentResult:
        config = self.plain()
        manifest = kubernetes.render_seldon_deployment(bundle, config, canary, canary_traffic)
        deployed = kubernetes.apply(manifest, config)
        urls = kubernetes.endpoint_urls(deployed, config)
        return DeploymentResult(
            target="kubernetes",
            endpoint=urls.get("gateway", urls["cluster"]),
            model_name=bundle.name,
            model_version=bundle.version,
            sha256=bundle.sha256,
            k8s_object=f"{config.namespace}/{config.deployment_name}",
        )

    def status(self) -> dict | None:
        config = self.plain()
        deployed = kubernetes.get(config.namespace, config.deployment_name)
        if deployed is None:
            return None
        status = deployed.get("status") or {}
        return {
            "k8s_object": f"{config.namespace}/{config.deployment_name}",
            "state": status.get("state"),
            "description": status.get("description"),
            **kubernetes.endpoint_urls(deployed, config),
        }

    def stop(self) -> bool:
        config = self.plain()
        return kubernetes.delete(config.namespace, config.deployment_name)


LocalDeployer = with_fields_of(
    local.LocalSettings,
    _Local,
    "LocalDeployer",
    "Serves the model on this machine: local.LocalSettings as Dagster config.",
)
KubernetesDeployer = with_fields_of(
    kubernetes.KubernetesSettings,
    _Kubernetes,
    "KubernetesDeployer",
    "Serves the model as a SeldonDeployment: kubernetes.KubernetesSettings as Dagster config.",
)
