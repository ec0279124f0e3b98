"""Bad input gives an error that names the column, the rule and where it breaks."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_assets.features import compute_features
from fraud_assets_tests.features.data import small_transactions


@pytest.fixture
def transactions():
    return small_transactions(rows=20, duplicates=0)


def test_missing_columns_are_named(transactions):
    with pytest.raises(ValueError, match=r"lack columns \['merchant'\]"):
        compute_features(transactions.drop(columns="merchant"))


@pytest.mark.parametrize(
    "column, value, rule",
    [
        ("amount", np.nan, "'amount' must be a finite number"),
        ("amount", np.inf, "'amount' must be a finite number"),
        ("amount", 1e13, "'amount' must be a finite number"),
        ("fraud", 2, "'fraud' must be 0, 1 or missing"),
        ("customer", None, "'customer' must not be missing"),
    ],
)
def test_bad_values_are_reported_with_their_rows(transactions, column, value, rule):
    transactions = transactions.astype({"fraud": float}) if column == "fraud" else transactions
    transactions.loc[3, column] = value
    with pytest.raises(ValueError, match=rule) as error:
        compute_features(transactions)
    assert "first index labels [3]" in str(error.value)


def test_steps_must_be_integers(transactions):
    with pytest.raises(ValueError, match="'step' must hold integers"):
        compute_features(transactions.astype({"step": float}))


def test_only_data_frames_are_accepted(transactions):
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        compute_features(transactions.to_dict("records"))
