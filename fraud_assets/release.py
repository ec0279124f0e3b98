"""Putting a registered version behind the endpoint and taking it back: the one path the deployment
asset, `fraud-assets rollback` and the demo share.

A release serves the version first and moves the `champion` alias only once it serves, keeping
the version it replaces as `previous-champion`, which is what a rollback redeploys. A new version
is released only when none of its gates is unmet, and is then tagged in the registry as having
passed them; a rollback goes only to a version carrying that tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fraud_assets import model_artifact, registry, settings
from fraud_assets.deployment.bundle import DeploymentResult, ModelBundle
from fraud_assets.deployment.deployer import ModelDeployer


@dataclass(frozen=True)
class Release:
    version: int
    result: DeploymentResult
    replaced: int | None  # the champion before this release (None: none, or the same version)


def bundle_for(name: str, version: int) -> ModelBundle:
    """A registered version, verified against its manifest, with both the verified copy on this
    machine and the version's artifact URI: each deployer serves the one it can reach (a Kubernetes
    pod downloads the URI and checks the same manifest before loading)."""
    manifest_sha256 = registry.manifest_sha256(name, version)
    model_dir = registry.download_version(name, version, settings.serving_dir() / "models" / f"{name}-v{version}")
    model = model_artifact.load_verified(model_dir, manifest_sha256)  # the copy just downloaded, checked again
    return ModelBundle(
        model_dir=str(model_dir),
        artifact_uri=registry.artifact_uri(name, version),
        sha256=manifest_sha256,
        name=name,
        version=str(version),
        threshold=float(model.threshold),
        feature_names=tuple(model.feature_names_in_),
    )


class GatesNotPassed(RuntimeError):
    """A version whose deployment gates did not all pass; the message names them."""


def deploy_candidate(
    deployer: ModelDeployer, name: str, version: int, unmet: Sequence[str], cleared_by: str
) -> Release:
    """Serve a new `version` if no gate is `unmet` (else refuse, the serving model untouched), then
    record on the version that it passed its gates when deployed (`cleared_by`: e.g. the Dagster run)."""
    if unmet:
        raise GatesNotPassed(
            f"{name} version {version} is not deployed; the serving model stays. "
            f"Gates not passed for it: " + "; ".join(unmet)
        )
    done = _deploy_version(deployer, name, version)
    registry.record_gates_passed(name, version, cleared_by)
    return done


def stage_candidate(deployer: ModelDeployer, name: str, version: int) -> None:
    """Start serving `version` without traffic where the target gains from it (`ModelDeployer.stage`): a candidate
    whose metric gates passed, while its drift gates are still judged, so that its deploy only moves traffic."""
    if deployer.stages:
        deployer.stage(bundle_for(name, version))


def rollback(deployer: ModelDeployer, name: str, version: int | None = None) -> Release:
    """Redeploy `version`, or the previous champion when none is given; only a version that passed
    its gates when it was deployed."""
    target = version if version is not None else registry.get_alias_version(name, registry.PREVIOUS_CHAMPION)
    if target is None:
        raise LookupError(f"{name}: no previous champion to roll back to")
    if not registry.gates_passed(name, target):
        raise GatesNotPassed(
            f"{name} version {target} never passed its gates at a deployment; refusing to roll back to it"
        )
    return _deploy_version(deployer, name, int(target))


def _deploy_version(deployer: ModelDeployer, name: str, version: int) -> Release:
    """Serve `version`, then move the champion alias (the old one stays as previous-champion)."""
    result = deployer.deploy(bundle_for(name, version))
    return Release(version=int(version), result=result, replaced=registry.set_champion(name, version))
