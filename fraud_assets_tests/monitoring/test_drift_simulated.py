"""The drift checks against the simulator's drift knobs, on real features of simulated BankSim days.

Reference = earlier steps, current = later steps of the same seed, features computed over the whole
history (as the pipeline does). Samples of 10k rows per side keep each comparison near a second.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fraud_assets.features import FEATURE_COLUMNS, compute_features
from fraud_assets.monitoring.drift import compute_drift, per_slice_summary
from fraud_assets.simulation.simulator import Drift, simulate

SEED = 11
SAMPLE = 10_000
START = 60  # drift starts here; steps before it are the reference
FEATURES = list(FEATURE_COLUMNS)
AMOUNT_FEATURES = [c for c in FEATURES if c == "amount" or "_amount_" in c]


def featured_days(steps: range, drift: Drift | None = None) -> pd.DataFrame:
    transactions = simulate(steps, seed=SEED, drift=drift)
    features = compute_features(transactions)
    return features.assign(fraud=transactions["fraud"].to_numpy(), step=transactions["step"].to_numpy())


def split(frame: pd.DataFrame, start: int = START) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame["step"] < start], frame[frame["step"] >= start]


@pytest.fixture(scope="module")
def clean_half_year() -> pd.DataFrame:
    return featured_days(range(180))


@pytest.fixture(scope="module")
def scaled_amounts() -> pd.DataFrame:
    return featured_days(range(START + 20), Drift(start_step=START, amount_scale=1.5))


@pytest.fixture(scope="module")
def doubled_fraud() -> pd.DataFrame:
    return featured_days(range(START + 20), Drift(start_step=START, fraud_rate_multiplier=2.0))


def test_amounts_scaled_by_half_trip_data_drift_on_most_amount_features(scaled_amounts):
    result = compute_drift(*split(scaled_amounts), FEATURES, sample_size=SAMPLE, html=False)

    assert not result.passed_data_drift(0.5), result.data_drift_message()
    drifted = {c.column for c in result.drifted_columns}
    assert len(drifted & set(AMOUNT_FEATURES)) > len(AMOUNT_FEATURES) / 2, sorted(drifted)
    assert "amount" in drifted
    assert result.passed_target_drift(), result.target.message()


def test_doubled_fraud_rate_trips_target_drift_only(doubled_fraud):
    result = compute_drift(*split(doubled_fraud), FEATURES, sample_size=SAMPLE, html=False)

    assert not result.passed_target_drift(), result.target.message()
    assert result.target.current_rate > 1.5 * result.target.reference_rate
    assert result.target.score == pytest.approx(result.target.current_rate / result.target.reference_rate, rel=0.01)
    assert result.passed_data_drift(0.5), result.data_drift_message()


@pytest.mark.parametrize(("reference_steps", "current_steps"), [((0, 120), (120, 180)), ((0, 60), (150, 180))])
def test_clean_later_days_trip_nothing_despite_natural_trends(clean_half_year, reference_steps, current_steps):
    step = clean_half_year["step"]
    reference = clean_half_year[step.between(*reference_steps, inclusive="left")]
    current = clean_half_year[step.between(*current_steps, inclusive="left")]
    result = compute_drift(reference, current, FEATURES, sample_size=SAMPLE, html=False)

    # Rows per day grow and the fraud rate falls over the half year; neither may block.
    assert len(current) / current["step"].nunique() > len(reference) / reference["step"].nunique()
    assert result.target.current_rate < result.target.reference_rate
    assert result.passed_data_drift(0.5), result.data_drift_message()
    assert result.passed_target_drift(), result.target.message()


def test_same_inputs_give_the_same_result_twice(scaled_amounts):
    reference, current = split(scaled_amounts)
    once = compute_drift(reference, current, FEATURES, sample_size=SAMPLE, seed=3)
    twice = compute_drift(reference, current, FEATURES, sample_size=SAMPLE, seed=3)

    assert once == twice  # the HTML is excluded from equality (it carries fresh widget ids)
    assert once.html and twice.html


def test_each_drifted_day_shows_its_own_drift_and_clean_days_do_not(doubled_fraud, scaled_amounts):
    reference = split(doubled_fraud)[0]
    days = {
        "clean": reference[reference["step"] == START - 1],
        "more fraud": doubled_fraud[doubled_fraud["step"] == START + 15],
        "larger amounts": scaled_amounts[scaled_amounts["step"] == START + 15],
    }
    summary = per_slice_summary(reference, days, FEATURES, sample_size=SAMPLE).set_index("slice")

    assert summary["rows"].min() > 2_000
    assert not summary.loc["clean", "data_drift"] and not summary.loc["clean", "target_drift"]
    assert summary.loc["more fraud", "target_drift"] and not summary.loc["more fraud", "data_drift"]
    assert summary.loc["larger amounts", "data_drift"]
    assert "amount" in summary.loc["larger amounts", "drifted_columns"].split(", ")


def test_slice_view_agrees_with_the_report_column_by_column(scaled_amounts):
    reference, current = split(scaled_amounts)
    day = current[current["step"] == START + 5]
    report = compute_drift(reference, day, FEATURES, sample_size=SAMPLE, html=False)
    summary = per_slice_summary(reference, {"day": day}, FEATURES, sample_size=SAMPLE).iloc[0]

    assert summary["share_drifted"] == pytest.approx(report.share_drifted)
    assert summary["drifted_columns"] == ", ".join(c.column for c in report.drifted_columns)
    assert summary["rate_ratio"] == pytest.approx(report.target.score)
