"""The simulator against BankSim's profile, and the promises landing one day at a time relies on.

Fidelity is checked on every 6th day (30 days, ~99k rows: the same mix of early and late days as
the full run); figures that only exist for the whole run (customers, pairs, share of customers
with fraud) on one full run, which takes a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.schema import CATEGORIES, COLUMNS, MERCHANTS, reference_profile
from fraud_assets.data.validation import validate_bytes
from fraud_assets.simulation.profile import FAIL, compare, profile_of, render_comparison
from fraud_assets.simulation.simulator import DEFAULT_SEED, Drift, iter_steps, simulate

EVERY_SIXTH_DAY = range(0, 180, 6)
FRAUD_FREE_CATEGORIES = ("es_transportation", "es_food", "es_contents")


@pytest.fixture(scope="module")
def full_run() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def sixth_days() -> pd.DataFrame:
    return simulate(EVERY_SIXTH_DAY)


def _failures(frame: pd.DataFrame) -> tuple[list, int]:
    rows = compare(profile_of(frame))
    judged = sum(r.status != "info" for r in rows)
    return [r for r in rows if r.status == FAIL], judged


def test_every_sixth_day_matches_banksim_profile(sixth_days):
    failures, judged = _failures(sixth_days)
    assert judged > 150  # categories, merchants, ages, genders, amounts, steps
    assert not failures, render_comparison(failures)


def test_full_run_matches_banksim_size_and_fraud_structure(full_run):
    ref = reference_profile()
    assert abs(len(full_run) - ref["rows"]) <= 0.01 * ref["rows"]
    assert abs(full_run["fraud"].mean() - ref["fraud_rate"]) <= 0.001
    failures, _ = _failures(full_run)
    assert not failures, render_comparison(failures)


def test_frame_is_typed_in_column_order_and_sorted_by_step(sixth_days):
    assert tuple(sixth_days.columns) == COLUMNS
    assert sixth_days.dtypes.astype(str).to_dict() == {
        "step": "int64",
        "customer": "object",
        "age": "object",
        "gender": "object",
        "zipcodeOri": "object",
        "merchant": "object",
        "zipMerchant": "object",
        "category": "object",
        "amount": "float64",
        "fraud": "int64",
    }
    assert sixth_days["step"].is_monotonic_increasing
    assert set(sixth_days["step"]) == set(EVERY_SIXTH_DAY)
    assert (sixth_days["amount"] == sixth_days["amount"].round(2)).all()
    assert set(sixth_days["zipcodeOri"]) == set(sixth_days["zipMerchant"]) == {"28007"}


def test_customers_keep_one_age_and_gender_and_enterprises_have_unknown_age(full_run):
    per_customer = full_run.groupby("customer")[["age", "gender"]].nunique()
    assert (per_customer == 1).all().all()
    assert set(full_run.loc[full_run["gender"] == "E", "age"]) == {"U"}
    assert set(full_run.loc[full_run["age"] == "U", "gender"]) == {"E"}


def test_merchants_stay_in_their_category(full_run):
    from fraud_assets.data.schema import merchant_categories

    pairs = full_run[["merchant", "category"]].drop_duplicates()
    assert dict(zip(pairs["merchant"], pairs["category"], strict=False)) == merchant_categories()


def test_no_fraud_where_banksim_has_none(full_run):
    ref = reference_profile()
    fraud_by_category = full_run.groupby("category")["fraud"].sum()
    assert (fraud_by_category[list(FRAUD_FREE_CATEGORIES)] == 0).all()
    fraud_by_merchant = full_run.groupby("merchant")["fraud"].sum()
    assert (fraud_by_merchant[ref["merchants_never_fraud"]] == 0).all()
    assert (fraud_by_merchant.drop(ref["merchants_never_fraud"]) > 0).all()


def test_fraud_comes_from_stolen_cards_not_coin_flips(full_run):
    frauds = full_run[full_run["fraud"] == 1]
    per_customer = frauds.groupby("customer").size()
    # Victims are robbed again and again: independent 1.2 % draws would hit ~3,300 customers.
    assert per_customer.size < 0.3 * frauds.shape[0]
    assert per_customer.max() > 50
    # A stolen card pays on consecutive days: many victims have frauds on day t and t + 1
    # (independent draws give ~70 such pairs).
    days = frauds.groupby("customer")["step"].apply(lambda s: np.diff(np.unique(s.to_numpy())))
    assert sum((d == 1).sum() for d in days) > 500


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    first = to_kaggle_csv(simulate(range(0, 8)))
    again = to_kaggle_csv(simulate(range(0, 8), seed=DEFAULT_SEED))
    other = to_kaggle_csv(simulate(range(0, 8), seed=DEFAULT_SEED + 1))
    assert first == again
    assert first != other


def test_a_fresh_process_gives_the_same_bytes():
    # Catches order that depends on hashing or on state cached in this process.
    code = (
        "import hashlib, sys; from fraud_assets.simulation.simulator import simulate; "
        "from fraud_assets.data.reader import to_kaggle_csv; "
        "sys.stdout.write(hashlib.sha256(to_kaggle_csv(simulate(range(0, 4)))).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    fresh = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert fresh.stdout == hashlib.sha256(to_kaggle_csv(simulate(range(0, 4)))).hexdigest()


@pytest.mark.parametrize("steps", [range(60, 63), [0], [179], [61, 120]])
def test_a_day_does_not_depend_on_which_other_days_are_asked_for(full_run, steps):
    # range(60, 63) includes frauds of cards stolen on days 58 and 59, made in other calls.
    alone = simulate(steps)
    in_full_run = full_run[full_run["step"].isin(list(steps))].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, in_full_run)
    assert to_kaggle_csv(alone) == to_kaggle_csv(in_full_run)


def test_iter_steps_yields_the_same_days_one_by_one(full_run):
    days = dict(iter_steps(range(40, 43)))
    assert sorted(days) == [40, 41, 42]
    for step, frame in days.items():
        pd.testing.assert_frame_equal(frame, full_run[full_run["step"] == step].reset_index(drop=True))


def test_days_after_banksim_continue_at_its_last_volume():
    later = simulate(range(180, 186))
    per_day = later.groupby("step").size()
    last = reference_profile()["step_stats"]["per_step_count_estimate"][-1]
    assert per_day.between(0.95 * last, 1.05 * last).all()
    assert 0.005 < later["fraud"].mean() < 0.02


# ---------------------------------------------------------------------------------------------
# Drift knobs


DRIFT_DAYS = range(50, 80)
START = 65


@pytest.fixture(scope="module")
def undrifted() -> pd.DataFrame:
    return simulate(DRIFT_DAYS)


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    before = frame[frame["step"] < START].reset_index(drop=True)
    return before, frame[frame["step"] >= START].reset_index(drop=True)


def test_amount_scale_multiplies_amounts_from_the_start_day_only(undrifted):
    drifted = simulate(DRIFT_DAYS, drift=Drift(start_step=START, amount_scale=1.5))
    base_before, base_after = _split(undrifted)
    before, after = _split(drifted)
    pd.testing.assert_frame_equal(before, base_before)
    pd.testing.assert_frame_equal(after.drop(columns="amount"), base_after.drop(columns="amount"))
    np.testing.assert_allclose(after["amount"], 1.5 * base_after["amount"], atol=0.0151)


def test_fraud_rate_multiplier_doubles_fraud_and_keeps_daily_volume(undrifted):
    drifted = simulate(DRIFT_DAYS, drift=Drift(start_step=START, fraud_rate_multiplier=2.0))
    base_before, base_after = _split(undrifted)
    before, after = _split(drifted)
    pd.testing.assert_frame_equal(before, base_before)
    assert 1.8 < after["fraud"].mean() / base_after["fraud"].mean() < 2.2
    assert abs(len(after) - len(base_after)) < 0.01 * len(base_after)


def test_category_shift_moves_transportation_volume_to_other_categories(undrifted):
    drifted = simulate(DRIFT_DAYS, drift=Drift(start_step=START, category_shift=0.5))
    _, base_after = _split(undrifted)
    _, after = _split(drifted)
    legit, base_legit = after[after["fraud"] == 0], base_after[base_after["fraud"] == 0]
    share = (legit["category"] == "es_transportation").mean()
    base_share = (base_legit["category"] == "es_transportation").mean()
    assert share == pytest.approx(0.5 * base_share, abs=0.01)
    others = legit["category"].value_counts(normalize=True).drop("es_transportation")
    base_others = base_legit["category"].value_counts(normalize=True).drop("es_transportation")
    assert (others > base_others).all()


def test_drifted_days_still_pass_the_slice_rules():
    drift = Drift(start_step=0, amount_scale=3.0, fraud_rate_multiplier=5.0, category_shift=0.9)
    for step, day in iter_steps([0, 1], drift=drift):
        result = validate_bytes(to_kaggle_csv(day), source=f"step_{step}.csv", expected_step=step)
        assert result.ok, result.error_text()
        assert not [w for w in result.warnings if w.rule.startswith("known_")], result.warning_text()
        assert set(day["category"]) <= set(CATEGORIES) and set(day["merchant"]) <= set(MERCHANTS)
        assert (day["amount"] >= 0).all()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"start_step": -1}, "start_step"),
        ({"start_step": 0, "amount_scale": 0}, "amount_scale"),
        ({"start_step": 0, "fraud_rate_multiplier": -1}, "fraud_rate_multiplier"),
        ({"start_step": 0, "category_shift": 1.0}, "category_shift"),
    ],
)
def test_impossible_drift_is_refused_with_the_field_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Drift(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"steps": [-1]}, "step -1"), ({"steps": ["3"]}, "integers"), ({"steps": [1], "seed": -5}, "seed")],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate(**kwargs)


def test_no_steps_give_an_empty_typed_frame():
    empty = simulate([])
    assert empty.empty and tuple(empty.columns) == COLUMNS
