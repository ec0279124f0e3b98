"""Amount statistics per key (customer, merchant or category): last-N windows and all history.

Amounts are taken in whole cents and window sums are exact integers (int64, or Python integers
in the rare case int64 could overflow), so a window's mean and deviation depend on its own
amounts only: a day-by-day build is bit-identical to a full recompute, and equal amounts give a
deviation of exactly 0. (Floating-point running sums, as in `pandas.rolling`, carried the rounding
residue of a 5,000 fraud into later windows of 2.77 and 2.75 and got their deviation wrong in the
fifth digit.) Sums over all history are kept as float64, exact while they stay below 2**53 cents
squared per key (e.g. a million payments of about 900 each), and within about 1e-8 of the amount
scale beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraud_assets.features import definitions as d
from fraud_assets.features.ordering import SMALL_BATCH, KeyOrder

MAX_ABS_AMOUNT = 1e12  # beyond this, cents squared stop being representable with any precision
_EXACT_LIMIT = 2**62  # n * (sum of squares) in int64 stays below this: no overflow
_EXACT_CENTS = 2**31


@dataclass(frozen=True, eq=False)
class AmountHistory:
    """What the amount features of later rows need to know about earlier ones, per key index.

    All in cents (float64 holding whole numbers): the count, sum and sum of squares of every amount
    so far, the largest, and the latest ones (`tail`, oldest first, zero-padded on the left; the
    last min(count, width) are real).
    """

    count: np.ndarray
    cents_sum: np.ndarray
    cents_square_sum: np.ndarray
    max_cents: np.ndarray
    tail: np.ndarray

    @classmethod
    def empty(cls, family: str) -> AmountHistory:
        width = max(d.AMOUNT_WINDOWS[family]) - 1
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, width)))

    def copy(self) -> AmountHistory:
        """An independent copy, for updating some keys without changing this history."""
        return AmountHistory(
            self.count.copy(),
            self.cents_sum.copy(),
            self.cents_square_sum.copy(),
            self.max_cents.copy(),
            self.tail.copy(),
        )

    def with_keys(self, n_keys: int) -> AmountHistory:
        """The same history, grown to cover new keys that have no past yet."""
        extra = n_keys - len(self.count)
        if extra == 0:
            return self

        def grow(values: np.ndarray, fill: float) -> np.ndarray:
            return np.concatenate((values, np.full((extra, *values.shape[1:]), fill, dtype=values.dtype)))

        return AmountHistory(
            grow(self.count, 0),
            grow(self.cents_sum, 0.0),
            grow(self.cents_square_sum, 0.0),
            grow(self.max_cents, -np.inf),
            grow(self.tail, 0.0),
        )


def to_cents(amount: np.ndarray) -> np.ndarray:
    """Whole cents as float64, the unit every amount statistic is computed in."""
    return np.rint(amount * 100.0)


def amount_features(
    history: AmountHistory, family: str, order: KeyOrder, cents: np.ndarray
) -> tuple[dict[str, np.ndarray], AmountHistory]:
    """Features of new rows (given in key order, in cents) and the history that includes them.

    `history` must cover every key index in `order`. Each row's windows end with the row itself.
    """
    if len(cents) == len(order.keys) <= SMALL_BATCH:
        return _one_row_per_key(history, family, order, cents)  # Python floats: no numpy warning to silence
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 gives the NaN of an empty window or one amount
        return _any_rows(history, family, order, cents)


def _one_row_per_key(
    history: AmountHistory, family: str, order: KeyOrder, cents: np.ndarray
) -> tuple[dict[str, np.ndarray], AmountHistory]:
    """`_any_rows` for a few rows of distinct keys (an online request), one `key_amount_row` each."""
    width = history.tail.shape[1]
    updated = history.copy()
    rows = []
    for key, amount in zip(order.keys.tolist(), cents.tolist(), strict=True):
        new = int(amount)
        stored = min(int(history.count[key]), width)
        recent = history.tail[key, width - stored :].astype(np.int64).tolist()
        row, (n, total, squares, max_cents) = key_amount_row(
            family,
            recent,
            int(history.count[key]),
            float(history.cents_sum[key]),
            float(history.cents_square_sum[key]),
            float(history.max_cents[key]),
            new,
        )
        rows.append(row)
        updated.count[key], updated.cents_sum[key], updated.cents_square_sum[key] = n, total, squares
        updated.max_cents[key] = max_cents
        updated.tail[key, :-1] = history.tail[key, 1:]
        updated.tail[key, -1] = new
    table = np.array(rows, dtype=np.float64).T
    return dict(zip(amount_feature_names(family), table, strict=True)), updated


def amount_feature_names(family: str) -> list[str]:
    """The features `key_amount_row` gives, in its order."""
    windows = d.AMOUNT_WINDOWS[family]
    names = [name for window in windows for name in (d.window_mean(family, window), d.window_std(family, window))]
    names += [d.history_mean(family), d.history_std(family), d.history_max(family)]
    return [*names, d.transaction_number(family)] if family in d.NUMBERED_FAMILIES else names


def key_amount_row(
    family: str, recent: list[int], count: int, cents_sum: float, squares: float, max_cents: float, new: int
) -> tuple[list[float], tuple[int, float, float, float]]:
    """The amount features (`amount_feature_names` order) of one new row of a key, and the key's count, sum,
    sum of squares and maximum after it; `recent` holds the key's newest stored amounts in cents, oldest first.

    `_any_rows`' sums and float operations on Python numbers, which for a handful of values cost a fraction
    of the array calls (integers are exact either way, and one float operation rounds the same in Python as
    in numpy). A request's few rows take it, through the arrays of a state or from a key's record.
    """
    row = []
    for window in d.AMOUNT_WINDOWS[family]:
        window_recent = recent[len(recent) - min(len(recent), window - 1) :]
        n = 1 + len(window_recent)
        window_sum = new + sum(window_recent)
        window_squares = new * new + math.sumprod(window_recent, window_recent)  # integers: exact
        row += [window_sum / (n * 100.0), _sqrt_ratio(float(n * window_squares - window_sum * window_sum), n)]
    n = count + 1
    total = cents_sum + float(new)
    squares = squares + float(new * new)
    max_cents = max(max_cents, float(new))
    row += [total / (n * 100.0), _sqrt_ratio(max(n * squares - total * total, 0.0), n), max_cents / 100.0]
    if family in d.NUMBERED_FAMILIES:
        row.append(float(n))
    return row, (n, total, squares, max_cents)


def _sqrt_ratio(numerator: float, n: int) -> float:
    """sqrt(numerator / (n (n - 1) 10^4)) with numpy's float semantics: 0/0 is NaN, x/0 infinite."""
    denominator = float(n) * (float(n) - 1) * 10_000.0
    if denominator == 0.0:
        return math.nan if numerator == 0.0 else math.inf
    return math.sqrt(numerator / denominator)


def _any_rows(
    history: AmountHistory, family: str, order: KeyOrder, cents: np.ndarray
) -> tuple[dict[str, np.ndarray], AmountHistory]:
    width = history.tail.shape[1]
    layout, valid, slots = _layout(history, order, cents)
    largest, sum_of_squares = float(np.abs(layout).max(initial=0.0)), float(np.dot(layout, layout))
    in_int64 = largest < _EXACT_CENTS and sum_of_squares * max(d.AMOUNT_WINDOWS[family]) < _EXACT_LIMIT
    values = layout.astype(np.int64)
    if not in_int64:
        values = values.astype(object)  # Python integers: slow, exact, only for extreme amounts
    count_sums = np.concatenate(([0], np.cumsum(valid)))
    cents_sums = np.concatenate(([0], np.cumsum(values)))
    square_sums = np.concatenate(([0], np.cumsum(values * values)))

    features = {}
    end = slots + 1  # each row's sums up to and including it, taken once for every window
    count_end, cents_end, square_end = count_sums[end], cents_sums[end], square_sums[end]
    for window in d.AMOUNT_WINDOWS[family]:
        start = end - window
        n, total = count_end - count_sums[start], cents_end - cents_sums[start]
        squares = square_end - square_sums[start]
        features[d.window_mean(family, window)] = mean(n, total.astype(np.float64), window)
        features[d.window_std(family, window)] = exact_sample_std(n, total, squares, window)

    # All history: the stored totals plus this batch's rows of the key up to the row.
    first_slots = slots[order.starts][order.group]
    key = order.key
    n = history.count[key] + order.rank + 1
    total = history.cents_sum[key] + (cents_sums[slots + 1] - cents_sums[first_slots]).astype(np.float64)
    squares = history.cents_square_sum[key] + (square_sums[slots + 1] - square_sums[first_slots]).astype(np.float64)
    max_cents = np.maximum(history.max_cents[key], _running_max_within(order, cents, in_int64))
    largest_n = int(n.max())
    features[d.history_mean(family)] = mean(n, total, largest_n)
    features[d.history_std(family)] = float_sample_std(n, total, squares, largest_n)
    features[d.history_max(family)] = max_cents / 100.0
    if family in d.NUMBERED_FAMILIES:
        features[d.transaction_number(family)] = n.astype(np.float64)

    # Each key's totals after its last new row, and its newest amounts.
    last = order.starts + order.sizes - 1
    updated = history.copy()
    updated.count[order.keys] = n[last]
    updated.cents_sum[order.keys] = total[last]
    updated.cents_square_sum[order.keys] = squares[last]
    updated.max_cents[order.keys] = max_cents[last]
    updated.tail[order.keys] = layout[slots[last][:, None] - width + 1 + np.arange(width)]
    return features, updated


def mean(n: np.ndarray, total: np.ndarray, largest_n: int) -> np.ndarray:
    """Mean in currency units from counts and sums in cents (NaN where the count is 0: callers silence
    numpy's warning, as `amount_features` does once for all its windows)."""
    return total / _lookup(n, largest_n, lambda k: k * 100.0)


def exact_sample_std(n: np.ndarray, total: np.ndarray, squares: np.ndarray, largest_n: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) in currency units from counts and integer sums in cents.

    The numerator n*squares - total**2 is exact (int64 sums within `_EXACT_LIMIT`, or Python
    integers); NaN for fewer than two amounts (0/0, warning silenced by the caller).
    """
    numerator = n * squares
    numerator -= total * total
    numerator = numerator.astype(np.float64)
    numerator /= _lookup(n, largest_n, lambda k: k * (k - 1) * 10_000.0)
    return np.sqrt(numerator, out=numerator)


def float_sample_std(n: np.ndarray, total: np.ndarray, squares: np.ndarray, largest_n: int) -> np.ndarray:
    """The same from float64 sums: exact (and exactly 0 for equal amounts) while products stay below 2**53."""
    numerator = n * squares
    numerator -= np.square(total)
    np.maximum(numerator, 0.0, out=numerator)
    numerator /= _lookup(n, largest_n, lambda k: k * (k - 1) * 10_000.0)
    return np.sqrt(numerator, out=numerator)


def _lookup(n: np.ndarray, largest_n: int, function) -> np.ndarray:
    """function(n) elementwise; via a small table when counts are small and more than the table's entries
    (one pass instead of several; a request's few rows compute it directly, with the same float operations)."""
    if largest_n <= min(4096, len(n)):
        return function(np.arange(largest_n + 1, dtype=np.float64))[n]
    return function(n.astype(np.float64))


def _layout(history: AmountHistory, order: KeyOrder, cents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One flat array: per key, its stored tail then its new amounts; validity; where new rows sit.

    A tail is as long as the longest window minus one, so no window reaches into the previous key.
    """
    width = history.tail.shape[1]
    slots = np.arange(len(cents)) + width * (order.group + 1)
    segment_starts = slots[order.starts] - width
    prefix = (segment_starts[:, None] + np.arange(width)).ravel()
    stored = np.minimum(history.count[order.keys], width)
    layout = np.empty(len(cents) + width * len(order.keys))
    valid = np.ones(len(layout), dtype=np.int64)
    layout[prefix] = history.tail[order.keys].ravel()
    valid[prefix] = (np.arange(width) >= (width - stored)[:, None]).ravel()
    layout[slots] = cents
    return layout, valid, slots


def _running_max_within(order: KeyOrder, cents: np.ndarray, small: bool) -> np.ndarray:
    """Running maximum that restarts at each key."""
    if not small:
        return pd.Series(cents).groupby(order.group).cummax().to_numpy()
    # One pass: lift each key above all earlier ones, so a running max never crosses keys.
    lift = order.group.astype(np.int64) << 33
    return (np.maximum.accumulate(lift + (cents.astype(np.int64) + _EXACT_CENTS)) - lift - _EXACT_CENTS).astype(
        np.float64
    )
