"""A drift test for a rare 0/1 rate such as the fraud label: how much did the rate move?

Why not Evidently's defaults, measured on simulated BankSim (rate about 1.2 %):
- Jensen-Shannon (the default for a binary column) and PSI missed a fraud rate that went from
  1.28 % to 2.17 % (card thefts doubled): a rare class moves a distribution distance very little
  (JS 0.024 and PSI 0.005 against thresholds of 0.1).
- The two-proportion Z-test caught it, but it also fired on clean data: BankSim's rate drifts
  naturally from about 1.6 % to 1.1 % over 180 days, and with tens of thousands of rows per side
  that slow trend is "significant" (1.28 % -> 1.09 %: p = 0.007 on 50k-row samples, 3e-10 on the
  full 375k/220k-row windows).
So this test asks for a change that matters *and* is real: the current rate is at least
`threshold` times the reference rate, or at most 1/threshold of it, and the Z-test's p-value is
below `SIGNIFICANCE` (which keeps a short window's noise from tripping it). The score is the ratio.
The gate calls it directly; the Evidently report gets it registered as a stat test (`drift.register_rate_ratio_test`).
"""

from __future__ import annotations

import pandas as pd

from fraud_assets.monitoring import stattests

RATE_RATIO = "rate_ratio"
DEFAULT_MIN_RATIO = 1.5  # between the natural trend (x0.8 over a window) and a doubled theft rate (x1.7)
SIGNIFICANCE = 0.05


def rate(values: pd.Series) -> float:
    """Share of ones, refusing anything but 0/1 so a mislabelled column cannot pass silently."""
    clean = values.dropna()
    if not clean.isin([0, 1]).all():
        found = sorted(clean.unique())[:5]
        raise ValueError(f"rate ratio: column '{values.name}' must hold only 0 and 1, found {found}")
    return float(clean.mean()) if len(clean) else float("nan")


def rate_ratio(reference: pd.Series, current: pd.Series) -> float:
    """current rate / reference rate; 1 when both are zero, infinite when only the reference is."""
    before, after = rate(reference), rate(current)
    if before == 0:
        return 1.0 if after == 0 else float("inf")
    return after / before


def p_value(reference: pd.Series, current: pd.Series) -> float:
    """Two-sided two-proportion Z-test (Evidently's formulas, `stattests.two_proportion_p_value`); 1 when both
    rates are equal."""
    if rate(reference) == rate(current):
        return 1.0
    return stattests.two_proportion_p_value(reference.dropna(), current.dropna())


def rate_ratio_test(reference_data: pd.Series, current_data: pd.Series, threshold: float) -> tuple[float, bool]:
    """The ratio, and whether it moved by `threshold` either way with a p-value below `SIGNIFICANCE`."""
    if threshold <= 1:
        raise ValueError(f"rate ratio: threshold is a factor of change and must be above 1, got {threshold}")
    ratio = rate_ratio(reference_data, current_data)
    moved = ratio >= threshold or ratio <= 1 / threshold
    return ratio, bool(moved and p_value(reference_data, current_data) < SIGNIFICANCE)


RATE_RATIO_TEST = stattests.StatTest(
    name=RATE_RATIO,
    display_name=f"Rate ratio (x threshold either way, Z-test p < {SIGNIFICANCE})",
    default_threshold=DEFAULT_MIN_RATIO,
    func=rate_ratio_test,
)
