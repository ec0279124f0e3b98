"""Which slices the drift report compares, a recorded acceptance moving the reference, and waiting for rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from dagster import build_asset_context
from upath import UPath

from fraud_assets.assets.deployment import model_deployment
from fraud_assets.monitoring import acceptance, drift, reference
from fraud_assets.monitoring.drift import MIN_ROWS_PER_SIDE
from fraud_assets.storage import StoredPartitions, atomic_write_bytes, frame_to_parquet_bytes
from fraud_assets.training.candidate import ModelCandidate


@pytest.fixture
def champion(monkeypatch):
    """Set the champion's training slices (None: no champion) without an MLflow store."""
    trained_on: dict = {"slices": None}
    monkeypatch.setattr(
        reference.registry, "get_alias_version", lambda name, alias: None if trained_on["slices"] is None else 3
    )
    monkeypatch.setattr(reference.registry, "training_slices", lambda name, version: trained_on["slices"])
    return trained_on


def keys(steps) -> list[str]:
    return [f"step_{s:03d}" for s in steps]


def features_day(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in reference.DRIFT_COLUMNS})
    return frame.assign(fraud=(rng.random(rows) < 0.05).astype("int64"))


def test_an_acceptance_needs_a_reason_and_a_name_and_records_when():
    with pytest.raises(ValueError, match="reason"):
        acceptance.accept(keys([0]), "  ", "ana")
    with pytest.raises(ValueError, match="who accepts"):
        acceptance.accept(keys([0]), "new normal", "")
    with pytest.raises(ValueError, match="no slices"):
        acceptance.accept([], "new normal", "ana")
    decided = acceptance.accept(
        ["step_010", "step_002", "step_002"],
        " new normal ",
        "ana",
        now=datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert decided.slices == ("step_002", "step_010") and decided.reason == "new normal"
    assert decided.accepted_at == "2024-05-01T10:00:00+00:00"
    assert acceptance.DriftAcceptance.from_metadata(decided.to_metadata()) == decided
    assert datetime.fromisoformat(acceptance.accept(keys([0]), "r", "ana").accepted_at).tzinfo == UTC


def test_an_acceptance_moves_the_reference_until_a_champion_trained_on_it_takes_over(champion):
    slices = keys(range(0, 40))
    accepted = acceptance.accept(keys(range(0, 36)), "new normal", "ana")

    champion["slices"] = keys(range(0, 30))  # trained before the acceptance
    ref, current, basis = reference.reference_and_current(slices, accepted)
    assert ref == keys(range(0, 36)) and current == keys(range(36, 40)) and "accepted" in basis and "ana" in basis

    champion["slices"] = keys(range(0, 38))  # trained after it: saw every accepted slice
    ref, current, basis = reference.reference_and_current(slices, accepted)
    assert ref == keys(range(0, 38)) and current == keys(range(38, 40)) and basis.startswith("training slices")

    champion["slices"] = None  # no champion: the acceptance, not the baseline days
    assert reference.reference_and_current(slices, accepted)[0] == keys(range(0, 36))
    assert reference.reference_and_current(slices, None)[0] == slices  # all 40 are baseline days


def test_a_windowed_champions_older_slices_are_in_neither_side(champion):
    slices = keys(range(0, 40))
    champion["slices"] = [k for k in keys(range(20, 38)) if k != "step_025"]  # step_025 landed late, after it

    ref, current, basis = reference.reference_and_current(slices, None)

    assert ref == champion["slices"] and basis.startswith("training slices")
    assert current == ["step_025", "step_038", "step_039"]  # 0-19: before its window, in neither

    accepted = acceptance.accept(keys(range(0, 36)), "new normal", "ana")
    champion["slices"] = keys(range(20, 38))  # trained after the acceptance: read every accepted day from 20 on
    assert reference.reference_and_current(slices, accepted)[:2] == (keys(range(20, 38)), keys(range(38, 40)))
    champion["slices"] = keys(range(10, 30))  # trained before it: missed accepted days 30-35
    ref, current, basis = reference.reference_and_current(slices, accepted)
    assert ref == keys(range(0, 36)) and current == keys(range(36, 40)) and "accepted" in basis


def test_only_the_reference_and_current_slices_are_read(champion, tmp_path):
    paths = {k: UPath(tmp_path) / f"{k}.parquet" for k in keys(range(6))}
    for seed, path in enumerate(paths.values()):
        atomic_write_bytes(path, frame_to_parquet_bytes(features_day(800, seed)))
    stored = StoredPartitions(paths)
    for k in keys(range(2)):  # before the champion's window: never to be read
        paths[k].unlink()
    champion["slices"] = keys(range(2, 4))

    outcome = reference.drift_since_reference(stored, max_drift_share=0.5, sample_size=MIN_ROWS_PER_SIDE)

    assert outcome.reference_slices == keys(range(2, 4)) and outcome.current_slices == keys(range(4, 6))
    assert outcome.result is not None and outcome.current_rows == 1600


def test_too_few_new_rows_wait_and_say_how_many_more(champion):
    features = {"step_000": features_day(MIN_ROWS_PER_SIDE + 500, 0), "step_120": features_day(400, 1)}

    outcome = reference.drift_since_reference(features, max_drift_share=0.5, sample_size=50_000)

    assert outcome.result is None and outcome.waiting and outcome.rows_missing == MIN_ROWS_PER_SIDE - 400
    assert outcome.verdict.startswith(f"waiting for {MIN_ROWS_PER_SIDE - 400:,} more new rows")


def test_nothing_new_is_not_waiting(champion):
    outcome = reference.drift_since_reference({"step_000": features_day(2000, 0)}, 0.5, 50_000)
    assert outcome.result is None and not outcome.waiting and "nothing new" in outcome.verdict


def test_features_that_grow_with_history_are_not_drift_tested():
    assert {"customer_transaction_number", "merchant_transaction_number", "customer_amount_max_all"}.isdisjoint(
        reference.DRIFT_COLUMNS
    )
    assert "customer_amount_mean_all" in reference.DRIFT_COLUMNS


def test_a_waiting_drift_report_deploys_nothing_and_fails_nothing():
    class NoDeployer:
        def deploy(self, bundle):
            raise AssertionError("deployed while the drift report waits")

    waiting = {"waiting": True, "verdict": "waiting for 600 more new rows: ..."}
    never_read = object.__new__(ModelCandidate)
    produced = model_deployment(
        build_asset_context(), fraud_model=never_read, drift_report=waiting, model_deployer=NoDeployer()
    )
    assert list(produced or []) == []


def test_a_reference_too_small_to_judge_is_no_wait(champion):
    features = {"step_000": features_day(500, 0), "step_120": features_day(MIN_ROWS_PER_SIDE + 500, 1)}
    outcome = reference.drift_since_reference(features, 0.5, 50_000)
    assert outcome.result is None and not outcome.waiting and "accepting the drift" in outcome.verdict


def test_the_reference_is_sampled_once_for_the_report_and_the_per_slice_view(champion, monkeypatch):
    # Adapted when the sides became per-slice samples (`drift.sample_slices`), then samples of ranked slices
    # (`drift.sample_ranked`): the reference is drawn once, and the verdicts are those of compute_drift on the
    # same samples.
    features = {"step_000": features_day(3000, 0), "step_120": features_day(1400, 1), "step_121": features_day(1300, 2)}
    seen = []
    sample_ranked = drift.sample_ranked
    monkeypatch.setattr(
        drift, "sample_ranked", lambda slices, *a, **k: seen.append(sorted(slices)) or sample_ranked(slices, *a, **k)
    )

    outcome = reference.drift_since_reference(features, max_drift_share=0.5, sample_size=MIN_ROWS_PER_SIDE)

    assert seen == [["step_000"], ["step_120", "step_121"]], seen  # per-slice view: the reference's sample
    assert outcome.samples.reference.equals(outcome.samples.reference)
    columns = [*reference.DRIFT_COLUMNS, "fraud"]
    current_sample = sample_ranked(
        {k: drift.rank_slice(features[k].loc[:, columns], "fraud") for k in ("step_120", "step_121")},
        MIN_ROWS_PER_SIDE,
    )
    assert current_sample.equals(outcome.samples.current)
    drawn_apart = drift.compute_drift(
        features["step_000"], current_sample, list(reference.DRIFT_COLUMNS), html=False, sample_size=MIN_ROWS_PER_SIDE
    )
    assert outcome.result.columns == drawn_apart.columns and outcome.result.target.score == drawn_apart.target.score
    assert outcome.result.current_rows == 2700 and outcome.result.current_sampled == MIN_ROWS_PER_SIDE
    # The per-slice view (drift_report_html's) compares each new slice with the reference sample the gate stored.
    view = reference.per_slice_view(
        outcome.samples, {k: features[k] for k in ("step_120", "step_121")}, 0.5, MIN_ROWS_PER_SIDE
    )
    assert view["slice"].tolist() == ["step_120", "step_121"]
    assert seen == [["step_000"], ["step_120", "step_121"]], "the view drew another sample of the reference"


def test_stored_rankings_are_read_instead_of_the_reference_slices_until_a_slice_is_written_again(champion, tmp_path):
    # The reference of many slices takes a few rows of each: the second run reads each reference slice's stored
    # ranking prefix, not the slice, and judges exactly the same rows; a features partition written again is
    # ranked again from what it holds now.
    frames = {k: features_day(2_000 + 37 * i, i) for i, k in enumerate(keys(range(121, 141)))}
    paths = {}
    for key, frame in frames.items():
        paths[key] = UPath(tmp_path / "features" / f"{key}.parquet")
        atomic_write_bytes(paths[key], frame_to_parquet_bytes(frame))
    champion["slices"] = keys(range(121, 140))
    rankings = UPath(tmp_path / "rankings")

    class Counted(StoredPartitions):
        def __getitem__(self, key):
            self.reads.append(key)
            return super().__getitem__(key)

    def run(stored: bool, sample_size: int = 2_000):
        features = Counted(paths, [*reference.DRIFT_COLUMNS, "fraud"])
        features.reads = []
        outcome = reference.drift_since_reference(features, 0.5, sample_size, rankings_dir=rankings if stored else None)
        return outcome, features.reads

    plain, plain_reads = run(stored=False)
    first, first_reads = run(stored=True)
    second, second_reads = run(stored=True)

    assert sorted(plain_reads) == sorted(first_reads) == sorted(frames)
    assert second_reads == ["step_140"]  # the current slice only
    for outcome in (first, second):
        assert outcome.samples.reference.equals(plain.samples.reference)
        assert outcome.samples.current.equals(plain.samples.current)
        assert outcome.result.columns == plain.result.columns
    assert len(list((tmp_path / "rankings").glob("step_*.arrow"))) == len(frames)

    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "rankings").iterdir()}
    large, large_reads = run(stored=True, sample_size=20_000)  # more than the prefixes hold: slices read whole
    assert sorted(large_reads) == sorted(frames)
    assert large.samples.reference.equals(run(stored=False, sample_size=20_000)[0].samples.reference)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "rankings").iterdir()} == stamps

    (tmp_path / "rankings" / "step_130.arrow").write_bytes(b"not an arrow file")
    mended, mended_reads = run(stored=True)
    assert sorted(mended_reads) == ["step_130", "step_140"] and mended.samples.reference.equals(plain.samples.reference)

    changed = features_day(2_000, 99)
    atomic_write_bytes(paths["step_125"], frame_to_parquet_bytes(changed))
    again, again_reads = run(stored=True)
    assert sorted(again_reads) == ["step_125", "step_140"]
    fresh, _ = run(stored=False)
    assert again.samples.reference.equals(fresh.samples.reference)
    assert not again.samples.reference.equals(plain.samples.reference)
