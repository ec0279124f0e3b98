"""Profiling transactions and comparing them with BankSim: right figures, wrong data flagged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fraud_assets.data.schema import COLUMNS, reference_profile
from fraud_assets.simulation.profile import (
    FAIL,
    INFO,
    PASS,
    compare,
    comparison_to_json,
    profile_of,
    render_comparison,
    summary,
)
from fraud_assets.simulation.simulator import simulate


@pytest.fixture(scope="module")
def sixth_days() -> pd.DataFrame:
    return simulate(range(0, 180, 6))


def _row(step, customer, merchant, category, amount, fraud, gender="F", age="2"):
    return dict(
        step=step,
        customer=customer,
        age=age,
        gender=gender,
        zipcodeOri="28007",
        merchant=merchant,
        zipMerchant="28007",
        category=category,
        amount=amount,
        fraud=fraud,
    )


def test_profile_of_a_hand_made_frame():
    frame = pd.DataFrame(
        [
            _row(0, "C1", "M1", "es_health", 10.0, 0),
            _row(0, "C1", "M1", "es_health", 300.0, 1),
            _row(0, "C2", "M2", "es_food", 20.0, 0, gender="M", age="3"),
            _row(1, "C1", "M1", "es_health", 500.0, 1),
            _row(1, "C2", "M1", "es_health", 30.0, 0, gender="M", age="3"),
            _row(1, "C3", "M2", "es_food", 0.0, 0, gender="E", age="U"),
        ],
        columns=list(COLUMNS),
    )
    p = profile_of(frame)
    assert (p["rows"], p["fraud_rows"], p["steps"], p["customers"], p["merchants"]) == (6, 2, 2, 3, 2)
    assert p["step_stats"]["per_step_count"] == {"0": 3, "1": 3}
    health = p["categories"]["es_health"]
    assert (health["count"], health["fraud_count"]) == (4, 2)
    assert health["fraud_pct"] == pytest.approx(50.0)
    assert health["mean_amount_fraud"] == pytest.approx(400.0)
    assert health["mean_amount_legit"] == pytest.approx(20.0)
    assert p["categories"]["es_food"]["mean_amount_fraud"] is None
    assert p["gender"]["M"]["customers"] == 1
    assert p["amount"]["zero_amount_rows"] == 1
    stats = p["customer_stats"]
    assert stats["customers_with_fraud"]["pct_of_F_M_customers"] == pytest.approx(50.0)  # C1 of C1, C2
    assert stats["customer_merchant_pairs"] == 4  # C1-M1, C2-M2, C2-M1, C3-M2
    assert stats["fraud_customer_merchant_pairs"] == 1
    assert stats["pairs_with_more_than_one_fraud"] == 1
    assert stats["pairs_with_mixed_labels"] == 1
    assert stats["top_fraud_customers"] == [["C1", 2]]


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"step": [0]}), "missing column"),
        (pd.DataFrame(columns=list(COLUMNS)), "empty"),
    ],
)
def test_profile_of_refuses_what_it_cannot_profile(frame, message):
    with pytest.raises(ValueError, match=message):
        profile_of(frame)


def test_comparison_passes_banksim_shaped_data(sixth_days):
    rows = compare(profile_of(sixth_days))
    assert not [r for r in rows if r.status == FAIL], render_comparison(rows, only_failures=True)


def _coin_flip_labels(df):
    rng = np.random.default_rng(0)
    return df.assign(fraud=(rng.random(len(df)) < df["fraud"].mean()).astype("int64"))


def _unknown_category(df):
    out = df.copy()
    out.loc[out.index[:500], "category"] = "es_crypto"
    return out


@pytest.mark.parametrize(
    "spoil, flagged",
    [
        (_coin_flip_labels, {"es_transportation fraud rate (%)", "es_travel fraud rate (%)"}),
        (lambda df: df.assign(amount=df["amount"] * 2), {"mean amount", "amount median", "amount q25"}),
        (lambda df: df[df["category"] != "es_food"], {"es_food row share (%)", "M85975013 row share (%)"}),
        (lambda df: df[df["fraud"] == 0], {"fraud rate (%)", "es_leisure fraud rate (%)"}),
        (_unknown_category, {"es_crypto row share (%)"}),
        (lambda df: df.assign(zipcodeOri="28001"), {"zipcodeOri values"}),
    ],
    ids=["coin-flip-fraud", "doubled-amounts", "no-food", "no-fraud", "unknown-category", "other-zipcode"],
)
def test_comparison_flags_a_wrong_dataset(sixth_days, spoil, flagged):
    failed = {r.metric for r in compare(profile_of(spoil(sixth_days))) if r.status == FAIL}
    assert flagged <= failed


def test_a_few_early_days_are_compared_with_banksims_early_days():
    est = reference_profile()["step_stats"]["per_step_count_estimate"]
    rows = {r.metric: r for r in compare(profile_of(simulate(range(0, 20))))}
    # Fraud stays at ~40 a day while volume grows, so early days hold more fraud than the average.
    expected_rate = 100 * 40 * 20 / sum(est[:20])
    assert rows["fraud rate (%)"].reference == pytest.approx(expected_rate)
    assert rows["fraud rate (%)"].reference > 100 * reference_profile()["fraud_rate"] + 0.2
    assert rows["rows"].reference == pytest.approx(sum(est[:20]))
    # Whole-run figures are shown but not judged on a part of the run.
    assert rows["customers"].status == INFO
    assert rows["pairs with fraud"].status == INFO


def test_rendered_table_shows_every_figure_side_by_side(sixth_days):
    rows = compare(profile_of(_coin_flip_labels(sixth_days)))
    text = render_comparison(rows)
    counts = summary(rows)
    assert f"{counts[PASS]} pass, {counts[FAIL]} fail" in text.splitlines()[0]
    assert sum(line.rstrip().endswith(("pass", "FAIL", "info")) for line in text.splitlines()) == len(rows)
    travel = next(line for line in text.splitlines() if line.startswith("es_travel fraud rate (%)"))
    assert travel.rstrip().endswith("FAIL")
    only = render_comparison(rows, only_failures=True)
    assert sum(line.rstrip().endswith("FAIL") for line in only.splitlines()) == counts[FAIL]
    assert "pass" not in only.split("\n", 4)[4]


def test_comparison_has_a_json_form(sixth_days):
    rows = compare(profile_of(sixth_days))
    data = json.loads(json.dumps(comparison_to_json(rows)))
    assert data["summary"] == summary(rows)
    assert len(data["rows"]) == len(rows)
    assert set(data["rows"][0]) == {"section", "metric", "measured", "reference", "tolerance", "rule", "status"}
