"""Drift between what the champion learned from (the reference) and the slices that came since.

Kept free of Evidently at import, so that loading the definitions (every run does) does not import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from upath import UPath

from fraud_assets import registry
from fraud_assets.baseline import BASELINE_STEPS
from fraud_assets.data.validation import step_from_name
from fraud_assets.features import FEATURE_COLUMNS
from fraud_assets.features.definitions import LABEL_COLUMN
from fraud_assets.monitoring.acceptance import DriftAcceptance
from fraud_assets.storage import StoredPartitions, atomic_write_bytes, frame_to_parquet_bytes, read_parquet

if TYPE_CHECKING:
    from fraud_assets.monitoring.drift import DriftResult

# Features that grow with each key's history by construction, so a day compared with the days before
# it "drifts" on clean data; the model still uses them, but their drift says nothing about a change
# in the population. Measured by `benchmarks/bench_drift.py --seed 20140513` (the landing's seed;
# trending features: 15 clean days, each against all days before it): the running counts
# (Wasserstein 1.3-1.5) and the customer's running maximum (0.14-0.22, rising with the day) drifted
# on every day against a 0.1 threshold. The other history-wide features stay, below the threshold on
# every day: customer mean and std over all history 0.06-0.09, merchant and category maxima
# 0.03-0.06 (those keys have long histories from the first days on), customer fraud rate 0.07-0.10.
NOT_DRIFT_TESTED = ("customer_transaction_number", "merchant_transaction_number", "customer_amount_max_all")
DRIFT_COLUMNS = tuple(c for c in FEATURE_COLUMNS if c not in NOT_DRIFT_TESTED)
PER_SLICE_VIEW = 30  # the newest slices shown one by one
# What drift_report reads of each features partition: the tested columns and the label.
DRIFT_INPUT_COLUMNS = (*DRIFT_COLUMNS, LABEL_COLUMN)


@dataclass(frozen=True)
class DriftSamples:
    """The rows a drift verdict was judged on, one sample per side (the drift-tested columns and the label), and
    the reference's size and fraud rate the sample stands for."""

    reference: pd.DataFrame
    current: pd.DataFrame
    reference_rows: int
    reference_fraud_rate: float

    def write(self, folder: UPath, name: str) -> dict[str, Any]:
        """Both samples as Parquet files in `folder`; where they are and what they stand for, to `read` them again."""
        stored: dict[str, Any] = {
            "reference_rows": self.reference_rows,
            "reference_fraud_rate": self.reference_fraud_rate,
        }
        for side, frame in (("reference", self.reference), ("current", self.current)):
            path = folder / f"{name}-{side}-sample.parquet"
            atomic_write_bytes(path, frame_to_parquet_bytes(frame))
            stored[side] = str(path)
        return stored

    @classmethod
    def read(cls, stored: Mapping[str, Any]) -> DriftSamples:
        return cls(
            read_parquet(UPath(stored["reference"])),
            read_parquet(UPath(stored["current"])),
            int(stored["reference_rows"]),
            float(stored["reference_fraud_rate"]),
        )

    def report_html(self) -> str:
        """Evidently's report of these samples, with its plots (seconds: it draws a figure per column)."""
        from fraud_assets.monitoring.drift import render_report

        return render_report(self.reference, self.current, DRIFT_COLUMNS)


@dataclass(frozen=True)
class DriftOutcome:
    reference_slices: list[str]
    current_slices: list[str]
    basis: str  # what the reference is, in words
    current_rows: int
    result: DriftResult | None  # None when there is too little data on a side to judge
    verdict: str | None  # why there is no result
    rows_missing: int = 0  # above 0: too few rows to judge yet; deployments wait without a failure
    samples: DriftSamples | None = None  # the rows `result` was judged on

    @property
    def waiting(self) -> bool:
        return self.rows_missing > 0


def reference_and_current(
    slice_ids: list[str], accepted: DriftAcceptance | None = None
) -> tuple[list[str], list[str], str]:
    """Reference = the newest of an accepted reference and the slices the champion read (its training and
    validation windows; baseline days without either); current = the slices not in the reference and newer
    than its oldest slice. Older slices are in neither: history the reference's model did not learn from,
    which drift is not asked about; a day landed late inside the reference's span still counts as current.

    A champion trained after the acceptance read every accepted slice from its window's first day on, so its
    slices then take over; a champion from before (or rolled back to) missed the accepted days after it.
    """
    champion = registry.get_alias_version(registry.DEFAULT_MODEL_NAME, registry.CHAMPION)
    trained_on = set(registry.training_slices(registry.DEFAULT_MODEL_NAME, champion)) if champion is not None else None
    if accepted is not None and (trained_on is None or not _read_all_since_its_start(trained_on, accepted.slices)):
        reference = set(accepted.slices)
        basis = accepted.describe()
    elif trained_on is not None:
        reference = trained_on
        basis = f"training slices of champion version {champion}"
    else:
        reference = {k for k in slice_ids if _step(k) in BASELINE_STEPS}
        basis = f"baseline steps {BASELINE_STEPS.start}-{BASELINE_STEPS.stop - 1} (no champion yet)"
    ref = [k for k in slice_ids if k in reference]
    oldest = min((_step(k) for k in reference), default=None)
    current = [k for k in slice_ids if k not in reference and (oldest is None or _step(k) > oldest)]
    return ref, current, basis


def _read_all_since_its_start(trained_on: set[str], accepted: Iterable[str]) -> bool:
    """Whether a champion's slices hold every accepted slice from the champion's first step on."""
    if not trained_on:
        return False
    start = min(_step(k) for k in trained_on)
    return {k for k in accepted if _step(k) >= start} <= trained_on


def _step(slice_id: str) -> int:
    return step_from_name(slice_id) or 0


def drift_since_reference(
    features: Mapping[str, pd.DataFrame],
    max_drift_share: float,
    sample_size: int,
    accepted: DriftAcceptance | None = None,
    rankings_dir: UPath | None = None,
) -> DriftOutcome:
    """Evidently drift of the model's feature columns (never `step`, never the label) and target
    drift on `fraud`, between the reference and the current slices: only those are read from `features`.

    Verdicts only: each side is sampled slice by slice (`DriftTest.window`: each slice's share of the
    sample is its share of the side's rows, per label, its rows picked by content and seed), never
    concatenated; the outcome keeps both samples so that `drift_report_html` can draw Evidently's report
    of the very rows that were judged. With `rankings_dir` (and stored `features`), each slice's sampling
    order is kept there and read instead of the slice (`stored_rankings`)."""
    # Imported here: the tests import SciPy, which loading the definitions must not (test_import_graph.py).
    from fraud_assets.monitoring.drift import MIN_ROWS_PER_SIDE, DriftTest, judge_windows
    from fraud_assets.monitoring.stored_rankings import SliceRankings, StoredRankings

    options: dict[str, Any] = dict(sample_size=sample_size, max_drift_share=max_drift_share)
    test = DriftTest(**options)
    rankings = (
        StoredRankings(features, test, DRIFT_COLUMNS, rankings_dir)
        if rankings_dir is not None and isinstance(features, StoredPartitions)
        else SliceRankings(features, test, DRIFT_COLUMNS)
    )
    slice_ids = sorted(features, key=lambda k: (_step(k), k))
    ref_keys, cur_keys, basis = reference_and_current(slice_ids, accepted)
    current = {k: rankings.ranked(k, "current") for k in cur_keys}  # once each: `features` reads on every access
    current_rows = sum(ranked.rows for ranked in current.values())
    outcome: dict[str, Any] = dict(
        reference_slices=ref_keys, current_slices=cur_keys, basis=basis, current_rows=current_rows
    )
    if not cur_keys:
        why = "no slices arrived since the reference: nothing new to drift"
        return DriftOutcome(**outcome, result=None, verdict=why)
    if current_rows < MIN_ROWS_PER_SIDE:
        missing = MIN_ROWS_PER_SIDE - current_rows
        why = (
            f"waiting for {missing:,} more new rows: {current_rows:,} since the reference, and Evidently needs "
            f"more than {MIN_ROWS_PER_SIDE - 1} per side for its large-sample tests; nothing deploys until the "
            "next days bring them"
        )
        return DriftOutcome(**outcome, result=None, verdict=why, rows_missing=missing)
    reference = {k: rankings.ranked(k, "reference") for k in ref_keys}  # only now: nothing new, nothing read
    reference_rows = sum(ranked.rows for ranked in reference.values())
    if reference_rows < MIN_ROWS_PER_SIDE:
        why = (
            f"the reference has only {reference_rows:,} rows (Evidently needs more than {MIN_ROWS_PER_SIDE - 1} "
            "per side): accepting the drift moves it to every slice"
        )
        return DriftOutcome(**outcome, result=None, verdict=why)
    reference_window = test.window_of_ranked("reference", reference, DRIFT_COLUMNS, rankings.whole)
    current_window = test.window_of_ranked("current", current, DRIFT_COLUMNS, rankings.whole)
    result = judge_windows(reference_window, current_window, DRIFT_COLUMNS, **options)
    samples = DriftSamples(
        reference_window.sample, current_window.sample, reference_window.rows, reference_window.fraud_rate
    )
    return DriftOutcome(**outcome, result=result, verdict=None, samples=samples)


def per_slice_view(
    samples: DriftSamples, slices: Mapping[str, pd.DataFrame], max_drift_share: float, sample_size: int
) -> pd.DataFrame:
    """Each of the newest `PER_SLICE_VIEW` current slices against the reference sample the verdicts used: a
    view, not a gate (one test per column and slice, most of the drift work at 1x), so drift_report_html
    draws it after the gate."""
    from fraud_assets.monitoring.drift import Window, per_slice_summary

    reference = Window(samples.reference, samples.reference_rows, samples.reference_fraud_rate)
    newest = dict(list(slices.items())[-PER_SLICE_VIEW:])
    return per_slice_summary(
        pd.DataFrame(),
        newest,
        DRIFT_COLUMNS,
        reference_window=reference,
        max_drift_share=max_drift_share,
        sample_size=sample_size,
    )
