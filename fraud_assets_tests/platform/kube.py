"""Offline checks of Kubernetes objects with the API's own typed models (no cluster needed).

An object is read into the kubernetes client's model for its kind through dagster-k8s's strict
loader, which rejects unknown fields (a typo is an error, not a silently dropped setting), and
the client's validation rejects missing required fields. The model is then written back: any
value that changed on the way (a number where the API wants a string) is reported too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from kubernetes.client import ApiClient


class InvalidObject(ValueError):
    """A Kubernetes object the API server would reject or misread; the message says where."""


def yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def api_class(api_version: str) -> type:
    """The API client class serving this group/version, as `kubernetes.utils.create_from_yaml` finds it."""
    group, _, version = api_version.rpartition("/")
    group = "".join(part.capitalize() for part in group.removesuffix(".k8s.io").split(".")) or "Core"
    return getattr(kubernetes.client, f"{group}{version.capitalize()}Api", type(None))


def model_class(api_version: str, kind: str) -> type:
    """The typed model of a built-in kind (V1ConfigMap for v1/ConfigMap), checked against its API group."""
    version = api_version.rpartition("/")[2]
    model = getattr(kubernetes.client, f"{version.capitalize()}{kind}", None)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
    served = any(hasattr(api_class(api_version), f"create_{scope}{snake}") for scope in ("namespaced_", ""))
    if model is None or not served:
        raise InvalidObject(f"{api_version} {kind} is not a built-in Kubernetes kind (wrong apiVersion or kind)")
    return model


def parse_as(model: type, value: dict, where: str) -> Any:
    """`value` (camelCase, as in YAML) as an instance of the kubernetes client `model`."""
    if not isinstance(value, dict):
        raise InvalidObject(
            f"{where}: expected a mapping of {model.__name__} fields, got {type(value).__name__} {value!r}"
        )
    try:
        parsed = k8s_model_from_dict(model, k8s_snake_case_dict(model, value))
    except Exception as exc:  # the loader raises bare Exception for unknown keys
        raise InvalidObject(f"{where}: {exc}") from None
    changed = next(_differences(value, ApiClient().sanitize_for_serialization(parsed)), None)
    if changed:
        path, given, kept = changed
        raise InvalidObject(f"{where}: {path or '(root)'} is {given!r} but the API reads it as {kept!r}")
    return parsed


def validate_object(manifest: dict, where: str) -> Any:
    """A whole object (apiVersion, kind, metadata ...) checked against its kind's model."""
    if not isinstance(manifest, dict) or "apiVersion" not in manifest or "kind" not in manifest:
        raise InvalidObject(f"{where}: not a Kubernetes object (apiVersion and kind are required)")
    model = model_class(manifest["apiVersion"], manifest["kind"])
    parsed = parse_as(model, manifest, where)
    if not (parsed.metadata and parsed.metadata.name):
        raise InvalidObject(f"{where}: metadata.name is required")
    return parsed


def _differences(given: Any, kept: Any, path: str = ""):
    if isinstance(given, dict) and isinstance(kept, dict):
        for key in given:
            yield from _differences(given[key], kept.get(key), f"{path}/{key}" if path else str(key))
    elif isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        for i, (g, k) in enumerate(zip(given, kept, strict=False)):
            yield from _differences(g, k, f"{path}[{i}]")
    elif given != kept or type(given) is not type(kept):
        yield path, given, kept
