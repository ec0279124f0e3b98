"""Simulated BankSim days turned into the features frame training reads (features + step +
fraud), and one model fitted on it, shared by the training tests."""

from __future__ import annotations

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, compute_features
from fraud_assets.simulation.simulator import simulate
from fraud_assets.training.train import TrainedModel, train_model

# 12 days (~30k rows, ~480 frauds) leave ~80 frauds in each of the calibration and validation windows.
STEPS = range(12)
SEED = 3


@pytest.fixture(scope="session", autouse=True)
def one_openmp_thread():
    """HistGradientBoosting's OpenMP threads spin-wait; on a shared 2-core machine that made fits
    ten times slower. One thread keeps test times steady."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def frame(one_openmp_thread) -> pd.DataFrame:
    transactions = simulate(steps=STEPS, seed=SEED)
    return compute_features(transactions).join(transactions[["step", "fraud"]])


@pytest.fixture(scope="session")
def trained(frame) -> TrainedModel:
    return train_model(frame, FEATURE_COLUMNS, CATEGORICAL_FEATURES)
