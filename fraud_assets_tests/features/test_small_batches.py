"""The branches for an online request's few rows (one per key) give bit for bit what the general code gives."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_assets.features import amount_history, label_history, step_means
from fraud_assets.features import definitions as d
from fraud_assets.features.amount_history import AmountHistory, amount_features
from fraud_assets.features.label_history import LabelHistory, fraud_rates
from fraud_assets.features.ordering import KeyOrder
from fraud_assets.features.step_means import StepTotals

N_KEYS = 40


def random_history(family: str, rng: np.random.Generator, scale: float) -> AmountHistory:
    """Keys with 0 to 150 earlier amounts; tails zero-padded on the left as the state keeps them."""
    width = max(d.AMOUNT_WINDOWS[family]) - 1
    count = rng.choice([0, 1, 2, 3, width - 1, width, width + 1, 150], N_KEYS)
    tail = np.zeros((N_KEYS, width))
    for i, n in enumerate(count):
        stored = min(n, width)
        tail[i, width - stored :] = np.rint(rng.exponential(scale, stored) * 100)
    seen = np.where(count > 0, 1.0, 0.0)
    cents_sum = np.rint(rng.exponential(scale, N_KEYS) * 100 * count)
    squares = np.rint(cents_sum**2 / np.maximum(count, 1) * rng.uniform(1, 3, N_KEYS))
    max_cents = np.where(seen > 0, np.rint(rng.exponential(scale, N_KEYS) * 300), -np.inf)
    return AmountHistory(count.astype(np.int64), cents_sum, squares, max_cents, tail)


@pytest.mark.parametrize("family", d.FAMILIES)
@pytest.mark.parametrize("scale", [50.0, 1e11], ids=["usual", "extreme"])  # extreme: beyond int64 sums
def test_one_row_per_key_equals_the_general_path(family, scale):
    rng = np.random.default_rng(7)
    for _ in range(200):
        history = random_history(family, rng, scale)
        keys = rng.choice(N_KEYS, int(rng.integers(1, 6)), replace=False)
        order = KeyOrder.of(keys)
        cents = np.rint(rng.exponential(scale, len(keys)) * 100)[order.rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            fast, fast_history = amount_history._one_row_per_key(history, family, order, cents)
            general, general_history = amount_history._any_rows(history, family, order, cents)
        assert list(fast) == list(general)
        for name in general:
            np.testing.assert_array_equal(fast[name], general[name], err_msg=name, strict=True)
        for part in ("count", "cents_sum", "cents_square_sum", "max_cents", "tail"):
            np.testing.assert_array_equal(getattr(fast_history, part), getattr(general_history, part), err_msg=part)


def test_a_request_takes_the_branch_and_a_batch_with_repeated_keys_does_not(monkeypatch):
    taken = []
    monkeypatch.setattr("fraud_assets.features.amount_history._one_row_per_key", lambda *args: taken.append(args))
    history = random_history("customer", np.random.default_rng(1), 50.0)
    amount_features(history, "customer", KeyOrder.of(np.array([3])), np.array([1250.0]))
    amount_features(history, "customer", KeyOrder.of(np.array([3, 3])), np.array([1250.0, 700.0]))
    assert len(taken) == 1


@pytest.mark.parametrize("delay", [1, 2, 3])
@pytest.mark.parametrize("step_open", [True, False])
def test_fraud_rates_of_one_row_per_key_equal_the_general_path(delay, step_open):
    rng = np.random.default_rng(delay)
    taken = 0
    for _ in range(300):
        labelled = rng.integers(0, 50, N_KEYS) * rng.integers(0, 2, N_KEYS)
        empty = np.zeros(0, np.int64)
        history = LabelHistory(rng.binomial(labelled, 0.3), labelled, empty, empty, empty, empty)
        keys = rng.choice(N_KEYS, int(rng.integers(1, 6)), replace=False)
        order = KeyOrder.of(keys)
        step = rng.integers(20, 23, len(keys))
        fraud = rng.choice([np.nan, 0.0, 1.0], len(keys), p=[0.6, 0.2, 0.2])
        with np.errstate(invalid="ignore", divide="ignore"):
            dispatched = fraud_rates(history, order, step, fraud, delay, step_open)
            general = label_history._any_rows(history, order, step, fraud, delay, step_open)
        settle_up_to = int(step.max()) + (0 if step_open else 1) - delay
        taken += not (~np.isnan(fraud) & (step > settle_up_to)).any()
        np.testing.assert_array_equal(dispatched[0], general[0], strict=True)
        for part in ("settled_frauds", "settled_labelled", "pending_key", "pending_step", "pending_frauds"):
            np.testing.assert_array_equal(getattr(dispatched[1], part), getattr(general[1], part), err_msg=part)
        np.testing.assert_array_equal(dispatched[1].pending_labelled, general[1].pending_labelled)
    assert taken > 50  # the branch was exercised, not only the fallback


@pytest.mark.parametrize("last_step", [None, 0, 30])
def test_previous_step_means_of_one_row_per_key_equal_the_general_path(last_step):
    rng = np.random.default_rng(5)
    for _ in range(300):
        totals, previous = (
            StepTotals(rng.integers(0, 10**7, N_KEYS) * (counts > 0), counts)
            for counts in (rng.integers(0, 4, N_KEYS), rng.integers(0, 4, N_KEYS))
        )
        keys = rng.choice(N_KEYS, int(rng.integers(1, 6)), replace=False)
        order = KeyOrder.of(keys)
        first = 0 if last_step is None else last_step
        step = rng.integers(first, first + 3, len(keys))
        cents = np.rint(rng.exponential(5000.0, len(keys)))
        arguments = (totals, previous, last_step, order, step, cents)
        with np.errstate(invalid="ignore", divide="ignore"):
            fast, general = step_means._one_row_per_key(*arguments), step_means._any_rows(*arguments)
        np.testing.assert_array_equal(fast[0], general[0], strict=True)
        for fast_totals, general_totals in zip(fast[1:], general[1:], strict=True):
            np.testing.assert_array_equal(fast_totals.cents_sums, general_totals.cents_sums, strict=True)
            np.testing.assert_array_equal(fast_totals.counts, general_totals.counts, strict=True)
