"""Helpers for the online-scoring tests: requests in canonical order and the offline reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_assets.features import compute_features_incremental

CANONICAL = ["step", "customer", "merchant", "category", "amount"]


def requests(day: pd.DataFrame) -> list[pd.DataFrame]:
    """A day's transactions in canonical order, one request each; exact duplicates share one."""
    ordered = day.sort_values(CANONICAL, kind="stable")
    duplicate_run = (ordered[CANONICAL] != ordered[CANONICAL].shift()).any(axis=1).cumsum()
    return [group for _, group in ordered.groupby(duplicate_run, sort=False)]


def assert_same_features(online: pd.DataFrame, offline: pd.DataFrame) -> None:
    online = online.loc[offline.index]
    assert (online.isna() == offline.isna()).all().all(), "NaN where offline is not, or the reverse"
    assert np.nanmax(np.abs(online.to_numpy() - offline.to_numpy())) <= 1e-9


def offline_state(transactions, up_to_step, config):
    return compute_features_incremental(transactions[transactions["step"] <= up_to_step], None, config)[1]
