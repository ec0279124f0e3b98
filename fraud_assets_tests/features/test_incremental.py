"""Day by day on a stored state gives exactly the full recompute, at a cost that ignores history size."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import FeatureConfig, FeatureState, compute_features, compute_features_incremental
from fraud_assets_tests.features.data import small_transactions


def run_in_slices(transactions: pd.DataFrame, slices: list[list[int]], config: FeatureConfig) -> pd.DataFrame:
    state, parts = FeatureState.empty(config), []
    for steps in slices:
        part = transactions[transactions["step"].isin(steps)]
        features, state = compute_features_incremental(part, state, config)
        state = FeatureState.from_bytes(state.to_bytes())  # as the asset stores it between partitions
        parts.append(features)
    return pd.concat(parts)


@pytest.mark.parametrize("delay", [1, 3])
@pytest.mark.parametrize(
    "slices",
    [
        [[0], [1], [2], [3], [5], [6], [7], [8], [9]],
        [[0, 1, 2], [3], [5, 6, 7], [8, 9]],
    ],
    ids=["daily", "uneven"],
)
def test_slices_on_a_stored_state_equal_the_full_recompute(slices, delay):
    transactions = small_transactions(seed=3)
    config = FeatureConfig(label_delay_steps=delay)
    full = compute_features(transactions, config)
    incremental = run_in_slices(transactions, slices, config)
    pd.testing.assert_frame_equal(incremental, full.loc[incremental.index], check_exact=True)


def test_scoring_a_new_day_without_labels_matches_training_features():
    transactions = small_transactions(seed=4)
    history, today = transactions[transactions["step"] < 9], transactions[transactions["step"] == 9]
    _, state = compute_features_incremental(history, None)
    scored, _ = compute_features_incremental(today.drop(columns="fraud"), state)
    pd.testing.assert_frame_equal(scored, compute_features(transactions).loc[today.index], check_exact=True)


def test_the_state_does_not_grow_with_history():
    day = small_transactions(seed=6, rows=200, duplicates=0).assign(step=0)
    state, shapes = FeatureState.empty(), []
    for step in range(6):
        _, state = compute_features_incremental(day.assign(step=step), state)
        with np.load(io.BytesIO(state.to_bytes())) as archive:
            shapes.append({name: archive[name].shape for name in archive.files})
    assert all(s == shapes[0] for s in shapes[1:])
    assert state.transactions_seen == 6 * len(day) and state.last_step == 5


def test_an_empty_slice_changes_nothing():
    transactions = small_transactions(seed=2, rows=50)
    _, state = compute_features_incremental(transactions, None)
    features, same = compute_features_incremental(transactions.iloc[:0], state)
    assert features.empty and list(features.columns) == list(compute_features(transactions).columns)
    assert same is state


def test_a_slice_must_come_after_the_state():
    transactions = small_transactions(seed=2, rows=50)
    _, state = compute_features_incremental(transactions[transactions["step"] <= 5], None)
    with pytest.raises(ValueError, match="start at step 5 but the state already holds steps up to 5"):
        compute_features_incremental(transactions[transactions["step"] == 5], state)


def test_the_state_remembers_its_label_delay():
    _, state = compute_features_incremental(small_transactions(seed=2, rows=50), None, FeatureConfig(2))
    restored = FeatureState.from_bytes(state.to_bytes())
    assert restored.label_delay_steps == 2
    with pytest.raises(ValueError, match="label_delay_steps=2 but the config asks for 1"):
        later = small_transactions(rows=5, duplicates=0).assign(step=20)
        compute_features_incremental(later, restored, FeatureConfig(1))


@pytest.mark.parametrize("data", [b"", b"not a state", FeatureState.empty().to_bytes()[:100]])
def test_bytes_that_are_not_a_state_are_refused(data):
    with pytest.raises(ValueError, match="feature state"):
        FeatureState.from_bytes(data)
