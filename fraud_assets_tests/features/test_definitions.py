"""The features are what the definitions say: checked against a slow row-by-row reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import (
    CATEGORICAL_FEATURES,
    CATEGORICAL_LEVELS,
    FEATURE_COLUMNS,
    FeatureConfig,
    compute_features,
)
from fraud_assets.features import definitions as d
from fraud_assets_tests.features.data import small_transactions
from fraud_assets_tests.features.reference import reference_features


def assert_same_features(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("delay", [1, 3])
def test_every_feature_matches_the_reference(delay):
    transactions = small_transactions(seed=delay)
    expected = reference_features(transactions, label_delay_steps=delay)
    actual = compute_features(transactions, FeatureConfig(label_delay_steps=delay))
    assert_same_features(actual, expected)


def test_the_reference_check_covers_the_hard_cases():
    transactions = small_transactions()
    features = compute_features(transactions)
    duplicated = transactions.duplicated(["step", "customer", "merchant", "category", "amount"], keep=False)
    assert duplicated.sum() >= 2
    assert (features[d.window_std("customer", 5)] == 0).any()  # equal amounts: exactly no spread
    assert features[d.window_std("customer", 5)].isna().any()  # a first transaction: no spread at all
    assert features.loc[transactions["step"] == 5, d.CATEGORY_PREVIOUS_STEP_MEAN].isna().all()  # no step 4
    rates = features[d.fraud_rate("merchant")]
    assert rates.isna().any() and rates.between(0, 1).any()


def test_amounts_too_large_for_int64_sums_are_still_right():
    # Millions per payment: window sums go through Python integers (still exact), sums over all
    # history through float64 beyond 2**53, documented as within about 1e-8 of the amount scale.
    transactions = small_transactions(seed=5).assign(amount=lambda f: f["amount"] * 40_000 + 0.01)
    scale = transactions["amount"].abs().max()
    actual, expected = compute_features(transactions), reference_features(transactions)
    windows = [c for c in actual.columns if "_last_" in c]
    pd.testing.assert_frame_equal(actual[windows], expected[windows], check_exact=False, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-8 * scale)


def test_catalogue_columns_are_codes_and_unknown_values_are_missing():
    transactions = small_transactions(rows=40, duplicates=0)
    transactions.loc[0, ["category", "age"]] = ["es_new_category", "9"]
    features = compute_features(transactions)
    assert CATEGORICAL_FEATURES == ("category", "age", "gender")
    assert np.isnan(features.loc[0, "category"]) and np.isnan(features.loc[0, "age"])
    for column in CATEGORICAL_FEATURES:
        known = features[column].dropna().astype(int)
        decoded = [CATEGORICAL_LEVELS[column][code] for code in known]
        assert decoded == transactions.loc[known.index, column].tolist()
    assert not np.isnan(features.loc[0, d.history_mean("category")])  # a new category still has history


def test_feature_columns_are_fixed_unique_and_named_honestly():
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert not [c for c in FEATURE_COLUMNS if "fraud" in c and not c.endswith("_fraud_rate")]
    assert {c for c in FEATURE_COLUMNS if c.endswith("_fraud_rate")} == {
        "customer_fraud_rate",
        "merchant_fraud_rate",
        "category_fraud_rate",
    }


@pytest.mark.parametrize("delay", [0, -1, 1.5, True, "1"])
def test_label_delay_must_be_a_positive_whole_number_of_steps(delay):
    with pytest.raises(ValueError, match="label_delay_steps"):
        FeatureConfig(label_delay_steps=delay)
