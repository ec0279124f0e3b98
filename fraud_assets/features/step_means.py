"""The mean amount of a key (the category) on the step before the row's step.

Day-level context: a category's amounts on the previous day, whatever the customer. A row whose
previous step had no transaction of its category gets NaN rather than an older day's mean, so the
feature always means the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraud_assets.features.ordering import KeyOrder


@dataclass(frozen=True, eq=False)
class StepTotals:
    """Amount sum (cents) and row count per key index on the last step seen."""

    cents_sums: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls) -> StepTotals:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))

    def with_keys(self, n_keys: int) -> StepTotals:
        extra = np.zeros(n_keys - len(self.counts), np.int64)
        return StepTotals(np.concatenate((self.cents_sums, extra)), np.concatenate((self.counts, extra)))


def previous_step_means(totals: StepTotals, last_step: int | None, order: KeyOrder, step: np.ndarray,
                        cents: np.ndarray) -> tuple[np.ndarray, StepTotals]:
    """Each row's key mean amount on step - 1 (NaN if none), rows in key order; and the newest totals.

    `totals` belong to `last_step` (None before any data) and cover every key index.
    """
    # In key order the rows of one (key, step) are contiguous: one run each.
    run_starts = np.flatnonzero(np.r_[True, (order.group[1:] != order.group[:-1]) | (step[1:] != step[:-1])])
    run_sizes = np.diff(np.r_[run_starts, len(step)])
    run_key, run_step = order.key[run_starts], step[run_starts]
    run_sums = np.add.reduceat(cents, run_starts)

    # The run before, if it is the same key on the step before; a key's first run looks at `totals`.
    before_sums, before_counts = np.zeros(len(run_starts), np.int64), np.zeros(len(run_starts), np.int64)
    follows = np.r_[False, (run_key[1:] == run_key[:-1]) & (run_step[1:] == run_step[:-1] + 1)]
    before_sums[follows], before_counts[follows] = run_sums[:-1][follows[1:]], run_sizes[:-1][follows[1:]]
    if last_step is not None:
        first_run = np.r_[True, run_key[1:] != run_key[:-1]] & (run_step == last_step + 1)
        before_sums[first_run] = totals.cents_sums[run_key[first_run]]
        before_counts[first_run] = totals.counts[run_key[first_run]]
    with np.errstate(invalid="ignore", divide="ignore"):
        run_means = np.where(before_counts > 0, before_sums / (before_counts * 100.0), np.nan)

    newest = run_step == step.max()
    newest_totals = StepTotals.empty().with_keys(len(totals.counts))
    newest_totals.cents_sums[run_key[newest]] = run_sums[newest]
    newest_totals.counts[run_key[newest]] = run_sizes[newest]
    return np.repeat(run_means, run_sizes), newest_totals
