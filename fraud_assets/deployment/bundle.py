"""What a deployment takes (a registered model) and what it gives back (where it answers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class ModelBundle:
    """A registered model version: its model directory and the SHA-256 of its manifest (`model_artifact`).

    `model_dir` is where this machine holds the directory (what the local target serves);
    `artifact_uri` is where the artifact store keeps it (what a Kubernetes pod downloads). A
    bundle without `artifact_uri` may give that URI (s3://, gs://, models:/...) as `model_dir`.
    """

    model_dir: str
    sha256: str
    name: str
    version: str
    threshold: float
    feature_names: tuple[str, ...]
    artifact_uri: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", str(self.model_dir))
        object.__setattr__(self, "sha256", str(self.sha256).lower())
        object.__setattr__(self, "version", str(self.version))
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"model bundle {self.name!r}: sha256 must be 64 hex digits, got {self.sha256!r}")
        if not self.name or not self.version:
            raise ValueError(f"model bundle: name and version are required, got {self.name!r} / {self.version!r}")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"model bundle {self.name!r}: threshold must be in [0, 1], got {self.threshold}")
        if not self.feature_names:
            raise ValueError(f"model bundle {self.name!r}: feature_names is empty")

    @property
    def local_dir(self) -> Path:
        if "://" in self.model_dir and not self.model_dir.startswith("file://"):
            raise ValueError(f"model bundle {self.name!r}: {self.model_dir} is not a local directory")
        return Path(self.model_dir.removeprefix("file://"))

    @property
    def k8s_name(self) -> str:
        """The model name as a Kubernetes object name (RFC 1123 label)."""
        name = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")[:50].strip("-")
        if not _K8S_NAME.fullmatch(name):
            raise ValueError(f"model bundle: name {self.name!r} gives no valid Kubernetes name")
        return name


@dataclass(frozen=True)
class DeploymentResult:
    target: str  # "local" or "kubernetes"
    endpoint: str  # the stable prediction URL
    model_name: str
    model_version: str
    sha256: str
    pids: dict[str, int] = field(default_factory=dict)  # local: front and model server
    k8s_object: str | None = None  # kubernetes: namespace/name of the SeldonDeployment
