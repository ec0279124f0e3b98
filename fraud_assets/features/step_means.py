"""The mean amount of a key (the category) on the step before the row's step.

Day-level context: a category's amounts on the previous day, whatever the customer. A row whose
previous step had no transaction of its category gets NaN rather than an older day's mean, so the
feature always means the same thing. It depends only on earlier steps, so rows of a step that is
still open (online scoring) get the same value whenever they arrive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fraud_assets.features.ordering import SMALL_BATCH, KeyOrder


@dataclass(frozen=True, eq=False)
class StepTotals:
    """Amount sum (cents) and row count per key index on one step."""

    cents_sums: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls) -> StepTotals:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def with_keys(self, n_keys: int) -> StepTotals:
        if n_keys == len(self.counts):
            return self
        extra = np.zeros(n_keys - len(self.counts), np.int64)
        return StepTotals(np.concatenate((self.cents_sums, extra)), np.concatenate((self.counts, extra)))


def previous_step_means(
    totals: StepTotals,
    previous_totals: StepTotals,
    last_step: int | None,
    order: KeyOrder,
    step: np.ndarray,
    cents: np.ndarray,
) -> tuple[np.ndarray, StepTotals, StepTotals]:
    """Each row's key mean amount on step - 1 (NaN if none), rows in key order; and the totals of the
    newest step and of the step before it, including the new rows.

    `totals` belong to `last_step` and `previous_totals` to `last_step - 1` (None before any data);
    both cover every key index. New rows at `last_step` itself (a step still open) add to `totals`.
    """
    if len(step) == len(order.keys) <= SMALL_BATCH:
        return _one_row_per_key(totals, previous_totals, last_step, order, step, cents)
    return _any_rows(totals, previous_totals, last_step, order, step, cents)


def _one_row_per_key(
    totals: StepTotals,
    previous_totals: StepTotals,
    last_step: int | None,
    order: KeyOrder,
    step: np.ndarray,
    cents: np.ndarray,
) -> tuple[np.ndarray, StepTotals, StepTotals]:
    """`_any_rows` for a few rows of distinct keys (an online request), on Python numbers: a row's step
    before is never another new row's, so it is what the state holds."""
    held = {} if last_step is None else {last_step: totals, last_step - 1: previous_totals}
    newest_step = int(step.max()) if last_step is None else max(int(step.max()), last_step)
    n_keys, newest = len(totals.counts), {}
    for at in (newest_step, newest_step - 1):
        on = held.get(at, StepTotals(np.zeros(n_keys, np.int64), np.zeros(n_keys, np.int64)))
        newest[at] = StepTotals(on.cents_sums.copy(), on.counts.copy())
    means = []
    for key, row_step, amount in zip(order.keys.tolist(), step.tolist(), cents.tolist(), strict=True):
        before = held.get(row_step - 1)
        means.append(math.nan if before is None else step_mean(int(before.cents_sums[key]), int(before.counts[key])))
        if row_step in newest:
            newest[row_step].cents_sums[key] += int(amount)
            newest[row_step].counts[key] += 1
    return np.array(means, dtype=np.float64), newest[newest_step], newest[newest_step - 1]


def step_mean(cents_sum: int, count: int) -> float:
    """A key's mean amount on one step from its totals there, on Python numbers (NaN when it had no row)."""
    return cents_sum / (count * 100.0) if count > 0 else math.nan


def _any_rows(
    totals: StepTotals,
    previous_totals: StepTotals,
    last_step: int | None,
    order: KeyOrder,
    step: np.ndarray,
    cents: np.ndarray,
) -> tuple[np.ndarray, StepTotals, StepTotals]:
    n_keys = len(totals.counts)
    # In key order the rows of one (key, step) are contiguous: one run each.
    changes = (order.group[1:] != order.group[:-1]) | (step[1:] != step[:-1])
    run_starts = np.flatnonzero(np.concatenate(([True], changes)))
    run_sizes = np.diff(np.append(run_starts, len(step)))
    run_key, run_step = order.key[run_starts], step[run_starts]
    run_sums = np.add.reduceat(cents, run_starts)

    def stored(at_step: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the state already holds for (key, step): `totals` on last_step, `previous_totals` before it."""
        sums, counts = np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)
        if last_step is not None:
            for held, held_step in ((totals, last_step), (previous_totals, last_step - 1)):
                on = at_step == held_step
                sums[on], counts[on] = held.cents_sums[keys[on]], held.counts[keys[on]]
        return sums, counts

    # A (key, step) in full: the state's part plus the new run.
    held_sums, held_counts = stored(run_step, run_key)
    full_sums, full_counts = held_sums + run_sums.astype(np.int64), held_counts + run_sizes

    # The step before: the key's preceding run if it is that step, else what the state holds for it.
    before_sums, before_counts = stored(run_step - 1, run_key)
    follows = np.concatenate(([False], (run_key[1:] == run_key[:-1]) & (run_step[1:] == run_step[:-1] + 1)))
    before_sums[follows], before_counts[follows] = full_sums[:-1][follows[1:]], full_counts[:-1][follows[1:]]
    with np.errstate(invalid="ignore", divide="ignore"):
        run_means = np.where(before_counts > 0, before_sums / (before_counts * 100.0), np.nan)

    newest_step = int(step.max()) if last_step is None else max(int(step.max()), last_step)
    newest = [_totals_on(stored, newest_step - back, n_keys, run_key, run_step, run_sums, run_sizes) for back in (0, 1)]
    return np.repeat(run_means, run_sizes), newest[0], newest[1]


def _totals_on(
    stored, at: int, n_keys: int, run_key: np.ndarray, run_step: np.ndarray, run_sums: np.ndarray, run_sizes: np.ndarray
) -> StepTotals:
    """Per key index: the state's totals on step `at` plus the new runs on it."""
    keys = np.arange(n_keys)
    sums, counts = stored(np.full(n_keys, at), keys)
    on = run_step == at
    sums[run_key[on]] += run_sums[on].astype(np.int64)
    counts[run_key[on]] += run_sizes[on]
    return StepTotals(sums, counts)
