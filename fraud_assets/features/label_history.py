"""Fraud rates per key from labels that were known before the row, with a configurable delay.

A row at step s may only use labels of steps <= s - delay: at scoring time a payment's own label,
and those of its step, are not known yet. Counts of steps that every future row may use are folded
into per-key totals; only the last delay - 1 steps, which some future rows may not see yet, stay
itemised per (key, step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fraud_assets.features.ordering import SMALL_BATCH, KeyOrder
from fraud_assets.features.step_keys import StepKeyCodec


@dataclass(frozen=True, eq=False)
class LabelHistory:
    """Per key index: frauds and labelled rows of settled steps; plus pending (key, step) counts."""

    settled_frauds: np.ndarray
    settled_labelled: np.ndarray
    pending_key: np.ndarray
    pending_step: np.ndarray
    pending_frauds: np.ndarray
    pending_labelled: np.ndarray

    @classmethod
    def empty(cls) -> LabelHistory:
        return cls(*(np.zeros(0, np.int64) for _ in range(6)))

    def with_keys(self, n_keys: int) -> LabelHistory:
        if n_keys == len(self.settled_frauds):
            return self
        extra = np.zeros(n_keys - len(self.settled_frauds), np.int64)
        return LabelHistory(
            np.concatenate((self.settled_frauds, extra)),
            np.concatenate((self.settled_labelled, extra)),
            self.pending_key,
            self.pending_step,
            self.pending_frauds,
            self.pending_labelled,
        )


def fraud_rates(
    history: LabelHistory,
    order: KeyOrder,
    step: np.ndarray,
    fraud: np.ndarray,
    label_delay_steps: int,
    step_open: bool = False,
) -> tuple[np.ndarray, LabelHistory]:
    """Each row's key fraud rate over labels of steps <= its step - delay; and the updated history.

    Rows come in key order. `fraud` is 0/1, NaN where the label is not known (it then counts as
    neither). `history` covers every key index; no new step is earlier than the ones it holds.
    `step_open`: more rows of the newest step may follow, so its labels must not settle yet.
    """
    if len(step) == len(order.keys) <= SMALL_BATCH and not len(history.pending_key):
        steps, labels = step.tolist(), fraud.tolist()  # a few values: Python compares them faster than numpy
        settle_up_to = max(steps) + (0 if step_open else 1) - label_delay_steps
        # and none of them is to stay itemised
        if not any(at > settle_up_to and not math.isnan(label) for at, label in zip(steps, labels, strict=True)):
            return _one_row_per_key(history, order, step, fraud, settle_up_to)
    return _any_rows(history, order, step, fraud, label_delay_steps, step_open)


def _one_row_per_key(
    history: LabelHistory, order: KeyOrder, step: np.ndarray, fraud: np.ndarray, settle_up_to: int
) -> tuple[np.ndarray, LabelHistory]:
    """`_any_rows` for a few rows of distinct keys (an online request) when nothing is or becomes itemised:
    a row sees its key's settled counts alone (its own step is after its visible ones), on Python numbers."""
    frauds, labelled = history.settled_frauds.copy(), history.settled_labelled.copy()
    rates = []
    for key, row_step, label in zip(order.keys.tolist(), step.tolist(), fraud.tolist(), strict=True):
        seen_frauds, seen_labelled = int(frauds[key]), int(labelled[key])
        rates.append(settled_rate(seen_frauds, seen_labelled))
        if row_step <= settle_up_to and not math.isnan(label):
            frauds[key], labelled[key] = seen_frauds + int(label), seen_labelled + 1
    pending = (history.pending_key, history.pending_step, history.pending_frauds, history.pending_labelled)
    return np.array(rates, dtype=np.float64), LabelHistory(frauds, labelled, *pending)


def settled_rate(frauds: int, labelled: int) -> float:
    """A key's fraud rate from its settled counts, on Python numbers (one row of an online request)."""
    return frauds / labelled if labelled else math.nan  # 0/0: NaN, as in numpy


def _any_rows(
    history: LabelHistory,
    order: KeyOrder,
    step: np.ndarray,
    fraud: np.ndarray,
    label_delay_steps: int,
    step_open: bool,
) -> tuple[np.ndarray, LabelHistory]:
    labelled = ~np.isnan(fraud)
    frauds = np.where(labelled, fraud, 0.0).astype(np.int64)
    labelled = labelled.astype(np.int64)

    # All rows of one (key, step) see the same labels: work per run of them (contiguous in key order).
    changes = (order.group[1:] != order.group[:-1]) | (step[1:] != step[:-1])
    run_starts = np.flatnonzero(np.concatenate(([True], changes)))
    run_group, run_step = order.group[run_starts], step[run_starts]
    run_key = order.keys[run_group]
    visible_up_to = run_step - label_delay_steps
    # The key's new rows at steps <= s - delay are a prefix of its rows, ending where a later run starts.
    codec = StepKeyCodec.covering(len(order.keys), run_step, visible_up_to)
    next_run = np.searchsorted(codec.encode(run_group, run_step), codec.encode(run_group, visible_up_to), side="right")
    run_bounds = np.append(run_starts, len(step))
    visible_end = run_bounds[next_run]
    key_start = order.starts[run_group]
    fraud_sums = np.concatenate(([0], np.cumsum(frauds)))
    labelled_sums = np.concatenate(([0], np.cumsum(labelled)))
    seen_frauds = history.settled_frauds[run_key] + fraud_sums[visible_end] - fraud_sums[key_start]
    seen_labelled = history.settled_labelled[run_key] + labelled_sums[visible_end] - labelled_sums[key_start]
    if len(history.pending_key):
        pending_frauds, pending_labelled = _pending_visible(history, run_key, visible_up_to)
        seen_frauds += pending_frauds
        seen_labelled += pending_labelled
    with np.errstate(invalid="ignore", divide="ignore"):
        run_rates = seen_frauds / seen_labelled  # 0/0: NaN, nothing labelled yet
    rates = np.repeat(run_rates, np.diff(run_bounds))
    settle_up_to = int(step.max()) + (0 if step_open else 1) - label_delay_steps
    return rates, _updated(history, order.key, step, frauds, labelled, settle_up_to)


def _pending_visible(
    history: LabelHistory, key: np.ndarray, visible_up_to: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pending counts of each key at steps <= its visible step (pending is sorted by key, step)."""
    codec = StepKeyCodec.covering(len(history.settled_frauds), history.pending_step, visible_up_to)
    codes = codec.encode(history.pending_key, history.pending_step)
    end = np.searchsorted(codes, codec.encode(key, visible_up_to), side="right")
    start = np.searchsorted(codes, codec.encode(key, np.full(len(key), codec.low)), side="left")
    fraud_sums = np.concatenate(([0], np.cumsum(history.pending_frauds)))
    labelled_sums = np.concatenate(([0], np.cumsum(history.pending_labelled)))
    return fraud_sums[end] - fraud_sums[start], labelled_sums[end] - labelled_sums[start]


def _updated(
    history: LabelHistory,
    key: np.ndarray,
    step: np.ndarray,
    frauds: np.ndarray,
    labelled: np.ndarray,
    settle_up_to: int,
) -> LabelHistory:
    """Fold into the totals every step up to `settle_up_to`: the ones all later rows may see."""
    n_keys = len(history.settled_frauds)
    new_settles = step <= settle_up_to
    new_stays = ~new_settles & (labelled > 0)
    if not len(history.pending_key) and not new_stays.any():  # nothing itemised, before or after (delay 1)
        return LabelHistory(
            history.settled_frauds + _per_key(key, frauds, new_settles, n_keys),
            history.settled_labelled + _per_key(key, labelled, new_settles, n_keys),
            *(getattr(history, name) for name in ("pending_key", "pending_step", "pending_frauds", "pending_labelled")),
        )
    old_settles = history.pending_step <= settle_up_to

    def totals(settled: np.ndarray, new_counts: np.ndarray, old_counts: np.ndarray) -> np.ndarray:
        return (
            settled
            + _per_key(key, new_counts, new_settles, n_keys)
            + _per_key(history.pending_key, old_counts, old_settles, n_keys)
        )

    # Still pending (delay > 1 only): labelled counts per (key, step), sorted by key then step.
    stay_key = np.concatenate((history.pending_key[~old_settles], key[new_stays]))
    stay_step = np.concatenate((history.pending_step[~old_settles], step[new_stays]))
    codec = StepKeyCodec.covering(n_keys, stay_step)
    codes, inverse = np.unique(codec.encode(stay_key, stay_step), return_inverse=True)
    pending_key = codec.key_of(codes)

    def pending(new_counts: np.ndarray, old_counts: np.ndarray) -> np.ndarray:
        counts = np.concatenate((old_counts[~old_settles], new_counts[new_stays]))
        return np.bincount(inverse, counts, len(codes)).astype(np.int64)

    return LabelHistory(
        settled_frauds=totals(history.settled_frauds, frauds, history.pending_frauds),
        settled_labelled=totals(history.settled_labelled, labelled, history.pending_labelled),
        pending_key=pending_key,
        pending_step=codes - pending_key * codec.span + codec.low,
        pending_frauds=pending(frauds, history.pending_frauds),
        pending_labelled=pending(labelled, history.pending_labelled),
    )


def _per_key(key: np.ndarray, counts: np.ndarray, selected: np.ndarray, n_keys: int) -> np.ndarray:
    if not selected.any():  # e.g. an open step's rows: none settles yet
        return np.zeros(n_keys, np.int64)
    if not selected.all():
        key, counts = key[selected], counts[selected]
    return np.bincount(key, counts, n_keys).astype(np.int64)
