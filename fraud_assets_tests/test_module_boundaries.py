"""Who may import whom: what a module imports anywhere in its source, and what importing it loads."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest


def imported_by_source(module: str) -> set[str]:
    """Every module named in an import statement of `module`, at the top or inside a function."""
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def loaded_by_import(module: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `module`."""
    code = f"import json, sys; import {module}; sys.stdout.write(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(json.loads(result.stdout))


def within(names: set[str], package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("fraud_assets.data.warehouse", "fraud_assets.simulation"),  # the warehouse holds real files only
        ("fraud_assets.demo", "fraud_assets.cli"),  # the CLI runs the demo, never the other way round
    ],
)
def test_module_does_not_import(module, forbidden):
    assert not within(imported_by_source(module), forbidden)
    assert not within(loaded_by_import(module), forbidden)


@pytest.mark.parametrize("module", ["fraud_assets.model_artifact", "fraud_assets.deployment.seldon_model"])
def test_the_model_servers_modules_do_not_load_dagster(module):
    assert not within(loaded_by_import(module), "dagster")


def test_the_training_package_does_not_load_dagster():
    """training/__init__.py says its plain functions are Dagster-free; the assets wire them."""
    assert not within(loaded_by_import("fraud_assets.training"), "dagster")
