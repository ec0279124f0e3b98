"""The label's rate-ratio test, through Evidently's stat test registry as the report calls it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType

from fraud_assets.monitoring import rate_ratio
from fraud_assets.monitoring.drift import register_rate_ratio_test


def labels(rows: int, frauds: int) -> pd.Series:
    return pd.Series(np.r_[np.ones(frauds, dtype="int64"), np.zeros(rows - frauds, dtype="int64")], name="fraud")


def run(reference: pd.Series, current: pd.Series, threshold: float | None = None):
    register_rate_ratio_test()
    test = get_stattest(reference, current, ColumnType.Categorical, rate_ratio.RATE_RATIO)
    return test(reference, current, ColumnType.Categorical, threshold)


@pytest.mark.parametrize(
    ("reference_frauds", "current_frauds", "drifted"),
    [
        (600, 1_200, True),  # doubled
        (600, 300, True),  # halved
        (600, 510, False),  # natural decline (x0.85), significant at this size but too small a change
        (600, 640, False),
    ],
)
def test_large_windows_drift_only_on_a_large_relative_change(reference_frauds, current_frauds, drifted):
    outcome = run(labels(50_000, reference_frauds), labels(50_000, current_frauds))

    assert outcome.drift_score == pytest.approx(current_frauds / reference_frauds)
    assert outcome.drifted is drifted
    assert outcome.actual_threshold == rate_ratio.DEFAULT_MIN_RATIO


def test_a_large_ratio_from_a_handful_of_frauds_is_not_significant():
    outcome = run(labels(50_000, 600), labels(1_100, 20))  # x1.52 on 20 frauds: p about 0.06

    assert outcome.drift_score >= 1.5
    assert not outcome.drifted
    assert rate_ratio.p_value(labels(50_000, 600), labels(1_100, 20)) > rate_ratio.SIGNIFICANCE


def test_zero_rates_and_bad_values():
    assert rate_ratio.rate_ratio(labels(2_000, 0), labels(2_000, 0)) == 1.0
    assert rate_ratio.rate_ratio(labels(2_000, 0), labels(2_000, 5)) == float("inf")
    assert rate_ratio.p_value(labels(2_000, 0), labels(2_000, 0)) == 1.0
    with pytest.raises(ValueError, match=r"column 'fraud' must hold only 0 and 1, found \[0, 2\]"):
        rate_ratio.rate(pd.Series([0, 2, 0], name="fraud"))
    with pytest.raises(ValueError, match="threshold is a factor of change and must be above 1"):
        run(labels(2_000, 20), labels(2_000, 40), threshold=0.5)
