"""A bank K times BankSim's size (`scale=K`): K populations at the same merchants, customers kept apart,
the same shape per customer; the profile comparison scales its counts; landing follows FRAUD_SIMULATION_SCALE."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from fraud_assets.cli import main
from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.schema import MERCHANTS
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.simulation.landing import land_next_days
from fraud_assets.simulation.profile import FAIL, compare, profile_of
from fraud_assets.simulation.simulator import iter_steps, simulate

DAYS = range(100, 110)  # days whose small groups (legit es_leisure) pass at 1x and 2x


@pytest.fixture(scope="module")
def one() -> pd.DataFrame:
    return simulate(DAYS)


@pytest.fixture(scope="module")
def two() -> pd.DataFrame:
    return simulate(DAYS, scale=2)


def test_twice_the_rows_and_customers_with_the_same_fraud_rate(one, two):
    assert len(two) == pytest.approx(2 * len(one), rel=0.01)
    assert two["customer"].nunique() == pytest.approx(2 * one["customer"].nunique(), rel=0.05)
    assert two["fraud"].mean() == pytest.approx(one["fraud"].mean(), abs=0.002)
    assert set(two["merchant"]) <= set(MERCHANTS)  # the same 50 merchants, busier


def test_the_first_copy_is_the_run_at_banksims_size_and_the_second_shares_no_customer(one, two):
    first = two[two["customer"].isin(set(one["customer"]))].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, one)
    second = two[~two["customer"].isin(set(one["customer"]))]
    assert len(second) == pytest.approx(len(one), rel=0.02)
    assert second["customer"].map(re.compile(r"C[0-9]{1,10}").fullmatch).all()


def test_a_scaled_day_is_in_time_order_and_the_same_alone_or_in_a_run(two):
    by_day = pd.concat([day for _, day in iter_steps(DAYS, scale=2)], ignore_index=True)
    pd.testing.assert_frame_equal(by_day, two)
    (_, alone), *_ = iter_steps([DAYS[-1]], scale=2)
    pd.testing.assert_frame_equal(alone, two[two["step"] == DAYS[-1]].reset_index(drop=True))


def test_the_profile_comparison_scales_counts_and_keeps_rates(one, two):
    assert [r for r in compare(profile_of(two), scale=2) if r.status == FAIL] == []
    at_one = {r.metric: r for r in compare(profile_of(two))}
    at_two = {r.metric: r for r in compare(profile_of(two), scale=2)}
    assert at_two["rows"].reference == pytest.approx(2 * at_one["rows"].reference)
    assert at_one["rows"].status == FAIL
    assert at_two["fraud rate (%)"].reference == pytest.approx(at_one["fraud rate (%)"].reference)
    assert compare(profile_of(one), scale=2)[0].status == FAIL  # BankSim's size is not twice its size


def test_simulate_and_land_at_scale_2(home, tmp_path, monkeypatch, capsys):
    assert main(["simulate", "--out", str(tmp_path / "out"), "--steps", "40-41", "--scale", "2"]) == 0
    assert "at 2x BankSim" in capsys.readouterr().out
    assert (tmp_path / "out" / "step_041.csv").read_bytes() == to_kaggle_csv(simulate([41], scale=2))
    monkeypatch.setenv("FRAUD_SIMULATION_SCALE", "2")
    (landed,) = land_next_days(Warehouse(), 1)
    assert landed.read_bytes() == to_kaggle_csv(simulate([0], scale=2))


def test_profile_command_takes_a_scale(tmp_path, capsys):
    main(["simulate", "--out", str(tmp_path / "days"), "--steps", "100-109", "--scale", "2"])
    capsys.readouterr()
    assert main(["profile", str(tmp_path / "days"), "--scale", "2"]) == 0
    assert " 0 fail" in capsys.readouterr().out


@pytest.mark.parametrize("scale", [0, 101, 1.5, True])
def test_a_scale_outside_1_to_100_is_refused(scale):
    with pytest.raises(ValueError, match="scale must be a whole number 1-100"):
        simulate([0], scale=scale)
