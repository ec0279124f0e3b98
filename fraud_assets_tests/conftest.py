"""Shared fixtures: an isolated FRAUD_ASSETS_HOME per test and small hand-made BankSim days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.schema import COLUMNS, merchant_categories


@pytest.fixture
def home(tmp_path, monkeypatch):
    root = tmp_path / "home"
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    for var in ("FRAUD_LANDING_URL", "FRAUD_QUARANTINE_URL", "FRAUD_STORAGE_URL", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    (root / "dagster").mkdir(parents=True)
    return root


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
