"""Putting a registered version behind the endpoint and taking it back: the one path the deployment
asset, `fraud-assets rollback` and the demo share.

A release serves the version first and moves the `champion` alias only once it serves, keeping
the version it replaces as `previous-champion`, which is what a rollback redeploys.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow.sklearn

from fraud_assets import registry, settings
from fraud_assets.deployment.bundle import DeploymentResult, ModelBundle
from fraud_assets.deployment.deployer import ModelDeployer


@dataclass(frozen=True)
class Release:
    version: int
    result: DeploymentResult
    replaced: int | None  # the champion before this release (None: none, or the same version)


def bundle_for(name: str, version: int) -> ModelBundle:
    """A registered version, verified against its recorded SHA-256, with both the verified copy on
    this machine and the version's artifact URI: each deployer serves the one it can reach (a
    Kubernetes pod downloads the URI and checks the same hash before loading)."""
    model_dir = registry.download_version(name, version, settings.serving_dir() / "models" / f"{name}-v{version}")
    model = mlflow.sklearn.load_model(str(model_dir))  # the copy just verified; no second download
    return ModelBundle(
        model_dir=str(model_dir),
        artifact_uri=registry.artifact_uri(name, version),
        sha256=registry.version_tags(name, version)[registry.SHA256_TAG],
        name=name,
        version=str(version),
        threshold=float(model.threshold),
        feature_names=tuple(model.feature_names_in_),
    )


def deploy_version(deployer: ModelDeployer, name: str, version: int) -> Release:
    """Serve `version`, then move the champion alias (the old one stays as previous-champion)."""
    result = deployer.deploy(bundle_for(name, version))
    return Release(version=int(version), result=result, replaced=registry.set_champion(name, version))


def rollback(deployer: ModelDeployer, name: str, version: int | None = None) -> Release:
    """Redeploy `version`, or the previous champion when none is given."""
    target = version if version is not None else registry.get_alias_version(name, registry.PREVIOUS_CHAMPION)
    if target is None:
        raise LookupError(f"{name}: no previous champion to roll back to")
    return deploy_version(deployer, name, int(target))
