"""The Dagster instance on one machine: DAGSTER_HOME under FRAUD_ASSETS_HOME with the project's dagster.yaml.

The CLI (`dev`, `lineage`) and the demo both start from it, so they see the same runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fraud_assets import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare_dagster_home() -> Path:
    """DAGSTER_HOME under FRAUD_ASSETS_HOME, holding the project's dagster.yaml."""
    dagster_home = settings.dagster_home()
    dagster_home.mkdir(parents=True, exist_ok=True)
    source = PROJECT_ROOT / "dagster.yaml"
    if source.exists():
        shutil.copyfile(source, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home
