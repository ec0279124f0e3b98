"""The drift gate's stat tests, written out from Evidently 0.7's source (numpy, pandas and scipy only).

The gate needs two distance formulas, a two-proportion Z-test and the rule that picks a test per column; importing
Evidently for them cost about 3 s in every landing run, because `evidently/__init__.py` imports its whole package
(UI, SDK, LLM, legacy metrics). The Report, which people read, still comes from Evidently, and
`fraud_assets_tests/monitoring/test_stattests.py` checks these functions against Evidently's own and the gate's
verdicts against the Report's, column by column. Each function names the Evidently file it follows
(under evidently/legacy/calculations/stattests/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

# The values of Evidently's ColumnType for the two kinds of column the gate tests.
Kind = Literal["num", "cat"]
NUMERICAL: Kind = "num"
CATEGORICAL: Kind = "cat"

# registry.py, _get_default_stattest: at or below this many reference values Evidently picks p-value tests instead.
SMALL_REFERENCE_ROWS = 1000
# ... and numbers with at most this many distinct values (over both sides) are compared as categories.
MAX_DISTINCT_AS_CATEGORIES = 5


@dataclass(frozen=True)
class Outcome:
    score: float
    drifted: bool
    threshold: float


@dataclass(frozen=True)
class StatTest:
    """A test as Evidently describes it: `func(reference, current, threshold)` gives (score, drifted)."""

    name: str
    display_name: str
    default_threshold: float
    func: Callable[[pd.Series, pd.Series, float], tuple[float, bool]]

    def __call__(self, reference: pd.Series, current: pd.Series, threshold: float | None = None) -> Outcome:
        actual = self.default_threshold if threshold is None else threshold
        score, drifted = self.func(reference, current, actual)
        return Outcome(score=score, drifted=bool(drifted), threshold=actual)


def wasserstein_normed(reference: pd.Series, current: pd.Series, threshold: float) -> tuple[float, bool]:
    """wasserstein_distance_norm.py: the first Wasserstein distance over the reference's standard deviation
    (at least 0.001); drift at or above the threshold."""
    norm = max(float(np.std(reference)), 0.001)
    value = stats.wasserstein_distance(reference, current) / norm
    return value, value >= threshold


def jensen_shannon(reference: pd.Series, current: pd.Series, threshold: float) -> tuple[float, bool]:
    """jensenshannon.py: the Jensen-Shannon distance between the two sides' value shares; drift at or above the
    threshold. Only for what the gate sends it (categories, numbers with at most five distinct values): shares of
    each value, in the key order of utils.py's `get_unique_not_nan_values_list_from_series` (a set's), with
    `get_binned_data`'s histogram branch (numbers with more than 20 distinct values) left out."""
    keys = list(set(reference.dropna().unique()) | set(current.dropna().unique()))
    reference_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
    current_counts = {**dict.fromkeys(keys, 0), **dict(current.value_counts())}
    reference_shares = np.array([reference_counts[key] / len(reference) for key in keys])
    current_shares = np.array([current_counts[key] / len(current) for key in keys])
    value = distance.jensenshannon(reference_shares, current_shares, None)
    return value, value >= threshold


def two_proportion_p_value(reference: pd.Series, current: pd.Series) -> float:
    """z_stattest.py, `proportions_diff_z_stat_ind` then the two-sided `proportions_diff_z_test`: the p-value of
    the Z-test that two 0/1 samples have the same share of ones."""
    n1, n2 = len(reference), len(current)
    p1, p2 = float(sum(reference)) / n1, float(sum(current)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


WASSERSTEIN = StatTest("wasserstein", "Wasserstein distance (normed)", 0.1, wasserstein_normed)
JENSEN_SHANNON = StatTest("jensenshannon", "Jensen-Shannon distance", 0.1, jensen_shannon)


def large_sample_test(reference: pd.Series, current: pd.Series, kind: Kind) -> StatTest | None:
    """Evidently's default test for a column (registry.py, `_get_default_stattest`), where the reference has more
    than `SMALL_REFERENCE_ROWS` values: Wasserstein for numbers with more than five distinct values over both
    sides, Jensen-Shannon otherwise. None at or below that size, where Evidently picks a p-value test (K-S,
    chi-squared or Z) that this module does not hold."""
    if len(reference) <= SMALL_REFERENCE_ROWS:
        return None
    if kind == NUMERICAL and pd.concat([reference, current]).nunique() > MAX_DISTINCT_AS_CATEGORIES:
        return WASSERSTEIN
    return JENSEN_SHANNON
