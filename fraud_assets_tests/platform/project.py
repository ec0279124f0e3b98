"""The project's deployment files, loaded once for the platform tests."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from fraud_assets_tests.platform.kube import yaml_documents

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
DOCKERFILE = ROOT / "Dockerfile"


def kubernetes_documents() -> list[tuple[str, dict]]:
    """Every Kubernetes object under deploy/, named `path#index`: all YAML there except the
    Dagster instance file and the Helm values (checked against their own schemas)."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        if path == INSTANCE_YAML or path.is_relative_to(HELM_VALUES.parent):
            continue
        for index, document in enumerate(yaml_documents(path)):
            found.append((f"{path.relative_to(ROOT)}#{index}", document))
    return found


def objects_of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in kubernetes_documents() if doc.get("kind") == kind}


def instance_config() -> dict:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def env_references(node) -> set[str]:
    """Names of the environment variables a Dagster config refers to with `{env: NAME}`."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(env_references(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(env_references(v) for v in node)) if node else set()
    return set()
