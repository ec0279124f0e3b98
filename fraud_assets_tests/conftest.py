"""Shared fixtures: an isolated FRAUD_ASSETS_HOME per test and small hand-made BankSim days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.schema import COLUMNS, merchant_categories
from fraud_assets.deployment.deployer import LocalDeployer
from fraud_assets_tests.deployment.support import free_port


@pytest.fixture
def home(tmp_path, monkeypatch):
    root = tmp_path / "home"
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    for var in ("FRAUD_LANDING_URL", "FRAUD_QUARANTINE_URL", "FRAUD_STORAGE_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    (root / "dagster").mkdir(parents=True)
    return root


@pytest.fixture
def start_local_deployer(home, monkeypatch):
    """`start(automation)`: the local Seldon target on a free port with one worker, set in the environment the graph
    reads (FRAUD_AUTOMATION as given, no FRAUD_MIN_F1 from outside); stopped after the test."""
    started: list[LocalDeployer] = []

    def start(automation: str) -> LocalDeployer:
        port = free_port()
        monkeypatch.setenv("FRAUD_AUTOMATION", automation)
        monkeypatch.setenv("FRAUD_DEPLOY_PORT", str(port))
        monkeypatch.setenv("FRAUD_DEPLOY_WORKERS", "1")
        monkeypatch.delenv("FRAUD_MIN_F1", raising=False)
        started.append(LocalDeployer(port=port, workers=1))
        return started[-1]

    try:
        yield start
    finally:
        for deployer in started:
            deployer.stop()


def make_day(step: int, rows: int = 40, seed: int = 0) -> pd.DataFrame:
    """A small valid day with real merchant/category pairs; independent of the simulator."""
    rng = np.random.default_rng([seed, step])
    merchants = list(merchant_categories())
    picked = rng.choice(len(merchants), size=rows)
    frame = pd.DataFrame(
        {
            "step": step,
            "customer": [f"C{n}" for n in rng.integers(1000, 1100, size=rows)],
            "age": rng.choice(list("0123456"), size=rows),
            "gender": rng.choice(["F", "M"], size=rows),
            "zipcodeOri": "28007",
            "merchant": [merchants[i] for i in picked],
            "zipMerchant": "28007",
            "category": [merchant_categories()[merchants[i]] for i in picked],
            "amount": np.round(rng.gamma(2.0, 20.0, size=rows), 2),
            "fraud": (rng.random(rows) < 0.1).astype("int64"),
        }
    )
    return frame.loc[:, list(COLUMNS)]


@pytest.fixture
def day_bytes():
    def _make(step: int, rows: int = 40, seed: int = 0) -> bytes:
        return to_kaggle_csv(make_day(step, rows, seed))

    return _make
