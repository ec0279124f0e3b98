"""Landing simulated days: one landed file per day, never a day twice, the baseline only into an empty location."""

from __future__ import annotations

import pytest

from fraud_assets.baseline import BASELINE_STEPS
from fraud_assets.cli import main
from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.simulation.landing import land_baseline_if_empty, land_next_days, land_steps, write_days
from fraud_assets.simulation.simulator import DEFAULT_SEED, Drift, simulate


def test_each_day_lands_as_its_own_file_with_the_simulators_rows(home):
    paths = land_steps(Warehouse(), [3, 4, 5])
    assert [p.name for p in paths] == ["step_003.csv", "step_004.csv", "step_005.csv"]
    frame = simulate([3, 4, 5], seed=DEFAULT_SEED)
    for path, (_, day) in zip(paths, frame.groupby("step", sort=True), strict=True):
        assert path.read_bytes() == to_kaggle_csv(day)


def test_seed_and_drift_reach_the_simulator(home):
    drift = Drift(start_step=0, amount_scale=2.0)
    (path,) = land_steps(Warehouse(), [7], seed=DEFAULT_SEED + 1, drift=drift)
    assert path.read_bytes() == to_kaggle_csv(simulate([7], seed=DEFAULT_SEED + 1, drift=drift))


def test_next_days_follow_the_last_landed_or_quarantined_day(home):
    wh = Warehouse()
    land_steps(wh, [0, 1, 2])
    wh.quarantine("step_002.csv", "test: a bad day")
    assert [p.name for p in land_next_days(wh, 2)] == ["step_003.csv", "step_004.csv"]
    assert [f.name for f in wh.landed_files()] == ["step_000.csv", "step_001.csv", "step_003.csv", "step_004.csv"]


def test_next_days_start_at_step_0_in_an_empty_location(home):
    assert [p.name for p in land_next_days(Warehouse(), 1)] == ["step_000.csv"]


def test_baseline_lands_only_into_an_empty_location(home):
    wh = Warehouse()
    land_steps(wh, [150])
    assert land_baseline_if_empty(wh) == []
    assert [f.name for f in wh.landed_files()] == ["step_150.csv"]


def test_baseline_fills_an_empty_location(tmp_path):
    wh = Warehouse(landing_url=str(tmp_path / "landing"), quarantine_url=str(tmp_path / "quarantine"))
    landed = land_baseline_if_empty(wh)
    assert [p.name for p in landed] == [f"step_{s:03d}.csv" for s in BASELINE_STEPS]


def test_simulate_writes_the_same_files_land_does(home, tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "out"), "--steps", "0-2"]) == 0
    assert "wrote 3 daily files" in capsys.readouterr().out
    landed = land_steps(Warehouse(), range(0, 3))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == {p.name: p.read_bytes() for p in landed}


def test_write_days_reaches_any_fsspec_url():
    (path,) = write_days("memory://simulated-days", [9])
    assert str(path) == "memory://simulated-days/step_009.csv"
    assert path.read_bytes() == to_kaggle_csv(simulate([9]))


def test_write_days_refuses_an_empty_destination():
    with pytest.raises(ValueError, match="folder or URL"):
        write_days(" ", [0])


def test_land_days_lands_the_next_day(home, capsys):
    land_steps(Warehouse(), [0, 1])
    assert main(["land", "--days", "1"]) == 0
    assert "step_002.csv" in capsys.readouterr().out
    assert [f.step for f in Warehouse().landed_files()] == [0, 1, 2]
