"""Correct by construction: features do not depend on row order, index, data size or future labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import FEATURE_COLUMNS, FeatureConfig, compute_features
from fraud_assets.features import definitions as d
from fraud_assets_tests.features.data import STEPS, small_transactions


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return small_transactions(seed=11)


@pytest.fixture(scope="module")
def features(transactions) -> pd.DataFrame:
    return compute_features(transactions)


def test_shuffled_rows_get_the_same_features(transactions, features):
    for seed in range(3):
        shuffled = transactions.sample(frac=1.0, random_state=seed)
        result = compute_features(shuffled)
        assert result.index.equals(shuffled.index)  # same order, same index as the input
        pd.testing.assert_frame_equal(result.loc[transactions.index], features, check_exact=True)


@pytest.mark.parametrize(
    "index",
    [
        pd.Index([f"row-{i}" for i in range(10_000)]),
        pd.Index([7] * 10_000),  # every label the same
        pd.RangeIndex(10_000, 0, -1),
        pd.MultiIndex.from_arrays([np.arange(10_000) % 3, np.arange(10_000)]),
    ],
    ids=["strings", "all-duplicate", "descending", "multi"],
)
def test_any_index_is_kept_and_changes_nothing(transactions, features, index):
    relabelled = transactions.set_axis(index[: len(transactions)])
    result = compute_features(relabelled)
    assert result.index.equals(relabelled.index)
    np.testing.assert_array_equal(result.to_numpy(), features.to_numpy())


def test_exact_duplicates_get_identical_features(transactions, features):
    key = ["step", "customer", "merchant", "category", "amount"]
    groups = transactions[transactions.duplicated(key, keep=False)].groupby(key).groups.values()
    assert len(groups) >= 2
    for rows in groups:
        block = features.loc[rows]
        assert (block.nunique(dropna=False) == 1).all(), block


def test_columns_and_types_do_not_depend_on_data_size(transactions):
    for size in (0, 1, 7, len(transactions)):
        result = compute_features(transactions.head(size))
        assert tuple(result.columns) == FEATURE_COLUMNS
        assert (result.dtypes == np.float64).all()
        assert len(result) == size


def test_a_row_depends_on_earlier_steps_only(transactions, features):
    for last_step in STEPS[2::3]:
        earlier = transactions[transactions["step"] <= last_step]
        pd.testing.assert_frame_equal(compute_features(earlier), features.loc[earlier.index], check_exact=True)


@pytest.mark.parametrize("delay", [1, 2])
def test_labels_of_the_current_and_later_steps_change_no_feature(transactions, delay):
    config = FeatureConfig(label_delay_steps=delay)
    features = compute_features(transactions, config)
    for step in STEPS:
        # Flip every label a row at `step` must not see: its own step and all later ones, and with a
        # longer delay the steps the delay still hides.
        flipped = transactions.assign(
            fraud=np.where(transactions["step"] > step - delay, 1 - transactions["fraud"], transactions["fraud"])
        )
        at_step = transactions["step"] == step
        pd.testing.assert_frame_equal(compute_features(flipped, config)[at_step], features[at_step], check_exact=True)


def test_labels_of_earlier_steps_do_change_the_fraud_rates(transactions, features):
    # The control for the leakage test: the rates really read labels.
    flipped = compute_features(transactions.assign(fraud=1 - transactions["fraud"]))
    changed = (flipped != features) & ~(flipped.isna() & features.isna())
    rates = [d.fraud_rate(f) for f in d.FAMILIES]
    assert changed[rates].any().all()
    assert not changed.drop(columns=rates).any().any()


def test_unlabelled_rows_give_no_rates_and_the_same_other_features(transactions, features):
    result = compute_features(transactions.drop(columns="fraud"))
    rates = [d.fraud_rate(f) for f in d.FAMILIES]
    assert result[rates].isna().all().all()
    pd.testing.assert_frame_equal(result.drop(columns=rates), features.drop(columns=rates), check_exact=True)
