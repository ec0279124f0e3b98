"""Feature and label drift between a reference window and newer data, with Evidently 0.7.

The gate (`judge_windows`) runs the stat tests Evidently's `ValueDrift` would run, written out in `stattests.py`
without importing Evidently (about 3 s per run) and without a Report (which draws a plotly figure per column while it
runs, about two thirds of its time). The Evidently report people read (`render_report`) is drawn later from the
same samples and imports Evidently when it runs; `report_verdicts` and the tests check that both agree.
The `DriftResult` carries the verdicts as plain values so that blocking checks and tests never parse HTML.

Choices measured on simulated BankSim (35 feature columns; figures from `benchmarks/bench_drift.py`):
- Both sides are sampled to a fixed size (50k rows by default), stratified on the label: the
  verdicts matched the full windows (375k vs 220k rows) at a fraction of the time, and the
  sample's fraud rate is the window's.
- Sampling is seeded and order-independent: which rows are taken depends only on their content
  and the seed, so the same slices read in another order give the same verdicts. A side made of
  slices is sampled slice by slice (`sample_slices`), never concatenated whole.
- Evidently picks its default test per column from the *reference* size: above
  `EVIDENTLY_SMALL_REFERENCE_ROWS` rows a distance (Wasserstein for numbers, Jensen-Shannon for
  categories), at or below it a p-value test (K-S, chi-squared, Z), which flagged 17-18 of 35
  columns on clean data (5 with 50k rows). Either side at or below that size is refused: Evidently only looks at the reference,
  but a distance over a tiny current side is noise.
- One `ValueDrift` per column rather than `DataDriftPreset`: the preset computes every column three
  times (ValueDrift, DatasetDriftMetric, DataDriftTable) and took 12-18 s where this takes 4-5 s,
  for the same per-column verdicts.
- The label gets the `rate_ratio` test (see `rate_ratio.py`): distances miss a doubled rare rate,
  and a bare Z-test flags BankSim's natural slow decline of the fraud rate.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fraud_assets.features.definitions import CATEGORICAL_FEATURES
from fraud_assets.monitoring import rate_ratio, stattests
from fraud_assets.monitoring.limits import DEFAULT_MAX_DRIFT_SHARE, DEFAULT_SAMPLE_SIZE

if TYPE_CHECKING:
    from evidently import DataDefinition
    from evidently.core.report import Snapshot

# evidently/legacy/calculations/stattests/registry.py, _get_default_stattest:
# `reference_data.shape[0] <= 1000` switches numbers to K-S/chi-squared/Z and categories to chi-squared/Z.
EVIDENTLY_SMALL_REFERENCE_ROWS = stattests.SMALL_REFERENCE_ROWS
MIN_ROWS_PER_SIDE = EVIDENTLY_SMALL_REFERENCE_ROWS + 1

TARGET_METHOD = rate_ratio.RATE_RATIO
TARGET_THRESHOLD = rate_ratio.DEFAULT_MIN_RATIO
# The label tests the gate can run without Evidently, by the name `ValueDrift(method=...)` knows them by.
TARGET_TESTS = {t.name: t for t in (rate_ratio.RATE_RATIO_TEST, stattests.JENSEN_SHANNON)}
# Never tested as features: the time index drifts by construction.
NEVER_FEATURES = ("step",)


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool

    def describe(self) -> str:
        if np.isnan(self.score):
            return f"{self.column} ({self.method})"
        return f"{self.column} ({self.method} {self.score:.3g}, threshold {self.threshold:g})"


@dataclass(frozen=True)
class TargetDrift:
    """Evidently's verdict on the label; rates are over the full windows, score and p-value over the samples."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_rate: float
    current_rate: float
    p_value: float

    def message(self) -> str:
        verdict = "Target drift" if self.drifted else "No target drift"
        return (
            f"{verdict} on '{self.column}': rate {self.reference_rate:.2%} -> {self.current_rate:.2%}; "
            f"{self.method} {self.score:.3g}, threshold {self.threshold:g}; Z-test p-value {self.p_value:.2g}."
        )


@dataclass(frozen=True)
class DriftResult:
    """What one reference-vs-current comparison found, plus the Evidently report as HTML."""

    share_drifted: float
    n_drifted: int
    columns: tuple[ColumnDrift, ...]
    target: TargetDrift
    max_drift_share: float
    reference_rows: int
    current_rows: int
    reference_sampled: int
    current_sampled: int
    html: str = field(default="", repr=False, compare=False)  # widget ids differ per run

    @property
    def drifted_columns(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.drifted)

    def passed_data_drift(self, max_share: float | None = None) -> bool:
        """True while the share of drifted feature columns stays below the limit.

        Strictly below, like Evidently's "Share of Drifted Columns: Less" test and its dataset
        drift rule (share >= drift_share), so this check and Evidently never disagree.
        """
        limit = self.max_drift_share if max_share is None else max_share
        return self.share_drifted < limit

    def passed_target_drift(self) -> bool:
        return not self.target.drifted

    def data_drift_message(self, max_share: float | None = None) -> str:
        limit = self.max_drift_share if max_share is None else max_share
        verdict = "No data drift" if self.passed_data_drift(limit) else "Data drift"
        head = (
            f"{verdict}: {self.n_drifted} of {len(self.columns)} feature columns drifted "
            f"(share {self.share_drifted:.2f}, drift at {limit:.2f} or more)"
        )
        drifted = self.drifted_columns
        return head + (": " + "; ".join(c.describe() for c in drifted) if drifted else ".")

    def to_frame(self) -> pd.DataFrame:
        """One row per feature column, drifted first, largest score first (for tables in the UI)."""
        rows = pd.DataFrame(
            [vars(c) for c in self.columns], columns=["column", "method", "score", "threshold", "drifted"]
        )
        return rows.sort_values(["drifted", "score"], ascending=[False, False], kind="stable").reset_index(drop=True)

    def to_markdown(self) -> str:
        lines = [
            f"**{self.data_drift_message()}**",
            "",
            f"**{self.target.message()}**",
            "",
            f"Rows compared: reference {self.reference_sampled:,} of {self.reference_rows:,}, "
            f"current {self.current_sampled:,} of {self.current_rows:,} (seeded sample).",
            "",
            "| column | method | score | threshold | drifted |",
            "|---|---|---:|---:|---|",
        ]
        for row in self.to_frame().itertuples(index=False):
            drifted = "yes" if row.drifted else "no"
            lines.append(f"| {row.column} | {row.method} | {row.score:.4g} | {row.threshold:g} | {drifted} |")
        return "\n".join(lines)

    def save_html(self, path: str | Path) -> Path:
        """Write the Evidently report; returns the path so callers can put it in metadata."""
        if not self.html:
            raise ValueError("This DriftResult carries no HTML report (it was computed with html=False).")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.html, encoding="utf-8")
        return target


def deterministic_sample(frame: pd.DataFrame, size: int, seed: int = 0, stratify: str | None = None) -> pd.DataFrame:
    """Up to `size` rows chosen by content and seed only, kept in their original relative order.

    Rows are put in a canonical order by a hash of their values, then a seeded generator shuffles
    that order (`rank_slice`) and the first rows are taken; the same rows in any order therefore give
    the same sample. With `stratify`, each value of that column keeps its share of rows (to one row),
    so a rare label's rate in the sample is the full window's: a plain 50k-row sample moved a 1.28 %
    fraud rate by up to 0.1 point, enough to swing a rate ratio from 1.70 to 1.52.
    """
    if size < 1:
        raise ValueError(f"sample size must be at least 1, got {size}")
    if len(frame) <= size:
        return frame
    ranked = rank_slice(frame, stratify, seed)
    quotas = _largest_remainder([n * size / len(frame) for _, n, _ in ranked.strata])
    return frame.iloc[ranked.picked(quotas)]


def sample_slices(
    slices: Mapping[str, pd.DataFrame], size: int, seed: int = 0, stratify: str | None = None
) -> pd.DataFrame:
    """Up to `size` rows of the slices together, without concatenating them first: `sample_ranked` of each
    slice's `rank_slice`."""
    if size < 1:
        raise ValueError(f"sample size must be at least 1, got {size}")
    return sample_ranked({k: rank_slice(frame, stratify, seed) for k, frame in slices.items()}, size)


@dataclass(frozen=True)
class RankedSlice:
    """A slice's rows in the order a seeded sample takes them, stratum by stratum: the first q rows of a stratum
    are the q rows any sample picks of it. So a stored prefix of each stratum serves every quota up to its
    length (`serves`), and a drift run need not read the whole slice again.

    `frame` holds the rows kept, in slice order (all of them, or a prefix's); `positions` their row numbers in
    the whole slice; `strata` per stratum value: the slice's rows of that value, and the kept rows of it (row
    numbers in `frame`) in rank order."""

    frame: pd.DataFrame
    positions: np.ndarray
    strata: tuple[tuple[Any, int, np.ndarray], ...]

    @property
    def rows(self) -> int:
        return sum(n for _, n, _ in self.strata)

    def count(self, value: Any) -> int:
        return sum(n for v, n, _ in self.strata if v == value)

    def quotas_for(self, quota_of: Mapping[Any, int]) -> list[int]:
        return [quota_of.get(value, 0) for value, _, _ in self.strata]

    def serves(self, quotas: Sequence[int]) -> bool:
        return all(q <= len(kept) for (_, _, kept), q in zip(self.strata, quotas, strict=True))

    def picked(self, quotas: Sequence[int]) -> np.ndarray:
        """Row numbers in `frame`, in slice order: the first `quota` ranked rows of each stratum."""
        if not self.serves(quotas):
            raise ValueError(f"ranked slice: quotas {list(quotas)} exceed the rows kept")
        taken = [kept[:q] for (_, _, kept), q in zip(self.strata, quotas, strict=True)]
        return np.sort(np.concatenate(taken)) if taken else np.empty(0, dtype=np.int64)

    def take(self, quotas: Sequence[int]) -> pd.DataFrame:
        return self.frame.iloc[self.picked(quotas)]

    def prefix(self, share: float) -> RankedSlice:
        """Of each stratum, the first `share` of its rows (and one more: a quota is its share rounded up at most):
        every sample of a side of at least size / share rows takes no more of this slice."""
        kept = [ranked[: min(len(ranked), math.ceil(n * share) + 1)] for _, n, ranked in self.strata]
        rows = np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.int64)
        strata = tuple(
            (value, n, np.searchsorted(rows, ranked)) for (value, n, _), ranked in zip(self.strata, kept, strict=True)
        )
        return RankedSlice(self.frame.iloc[rows].reset_index(drop=True), self.positions[rows], strata)


def rank_slice(frame: pd.DataFrame, stratify: str | None = None, seed: int = 0) -> RankedSlice:
    """All rows of `frame`, ranked stratum by stratum: put in a canonical order by a hash of their values, then
    shuffled by a generator seeded with `seed` and the stratum's value. Nothing depends on other slices or on
    the row order, so a slice's ranking can be stored and a sample of it is the same in any company."""
    row_hash = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    values = _stratum_values({"": frame}, stratify)
    strata = []
    for value, members in zip(values, _groups(frame, stratify, values), strict=True):
        canonical = members[np.argsort(row_hash[members], kind="stable")]
        ranked = canonical[_stratum_rng(seed, value).permutation(len(canonical))]
        strata.append((value, len(members), ranked))
    return RankedSlice(frame, np.arange(len(frame)), tuple(strata))


def sample_ranked(
    ranked: Mapping[str, RankedSlice], size: int, whole: Callable[[str], RankedSlice] | None = None
) -> pd.DataFrame:
    """Up to `size` rows of the ranked slices together.

    Each stratum's quota over all slices is what `deterministic_sample` gives the whole window; it is
    split between the slices in proportion to their rows of that stratum (largest remainders, ties in
    partition key order), and each slice gives the first rows of its ranking. So the same slices give
    the same sample in any order, and one slice alone gives exactly `deterministic_sample`'s rows. A
    slice ranked only in part (a stored prefix) that cannot serve its quota, or any slice when the side
    is taken whole, is asked of `whole`. The rows come back in partition key order, then slice order.
    """
    keys = sorted(ranked)
    total = sum(ranked[k].rows for k in keys)

    def complete(key: str) -> RankedSlice:
        if len(ranked[key].frame) == ranked[key].rows:
            return ranked[key]
        if whole is None:
            raise ValueError(f"slice {key!r}: only part of it is ranked, and no way to read it whole was given")
        return whole(key)

    if total <= size:
        return pd.concat([complete(k).frame for k in keys], ignore_index=True)
    values = sorted(set().union(*({v for v, _, _ in ranked[k].strata} for k in keys)))
    counts = [[ranked[k].count(value) for k in keys] for value in values]
    stratum_quotas = _largest_remainder([sum(c) * size / total for c in counts])
    per_slice = [
        _largest_remainder([n * quota / sum(c) for n in c]) for c, quota in zip(counts, stratum_quotas, strict=True)
    ]
    picked = []
    for j, key in enumerate(keys):
        quota_of = {value: quotas[j] for value, quotas in zip(values, per_slice, strict=True)}
        slice_ranked = ranked[key]
        if not slice_ranked.serves(slice_ranked.quotas_for(quota_of)):
            slice_ranked = complete(key)
        picked.append(slice_ranked.take(slice_ranked.quotas_for(quota_of)))
    return pd.concat(picked, ignore_index=True)


def _stratum_values(slices: Mapping[str, pd.DataFrame], stratify: str | None) -> list:
    """The sorted values of `stratify` over all slices ([None]: one stratum of every row)."""
    if stratify is None:
        return [None]
    for name, frame in slices.items():
        if frame[stratify].isna().any():
            where = f" of slice {name!r}" if name else ""
            raise ValueError(f"cannot stratify on '{stratify}': it has missing values{where}")
    return sorted(set().union(*(frame[stratify].unique().tolist() for frame in slices.values())))


def _groups(frame: pd.DataFrame, stratify: str | None, values: list) -> list[np.ndarray]:
    """Row positions of each stratum value, in `values` order."""
    if stratify is None:
        return [np.arange(len(frame))]
    column = frame[stratify].to_numpy()
    return [np.flatnonzero(column == value) for value in values]


def _stratum_rng(seed: int, value: Any) -> np.random.Generator:
    """A generator for one stratum: seeded by the seed and the value itself, not by which strata came before."""
    if value is None:
        return np.random.default_rng(seed)
    plain = value.item() if isinstance(value, np.generic) else value
    return np.random.default_rng([seed, zlib.crc32(repr(plain).encode())])


def _largest_remainder(shares: list[float]) -> list[int]:
    """Whole numbers summing to round(sum(shares)), each within one of its share."""
    floors = [int(s) for s in shares]
    missing = round(sum(shares)) - sum(floors)
    for i in sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)[:missing]:
        floors[i] += 1
    return floors


@dataclass(frozen=True)
class Window:
    """One side of a comparison: the sample the tests see, and the rows and fraud rate it stands for."""

    sample: pd.DataFrame
    rows: int
    fraud_rate: float


@dataclass(frozen=True)
class DriftTest:
    """How a window is compared with the reference, the same for the report and the per-slice view.

    `categorical_columns` names numeric-coded columns to test as categories (the features' float
    codes for category, age and gender by default); non-numeric columns are categories anyway.
    """

    label: str = "fraud"
    sample_size: int = DEFAULT_SAMPLE_SIZE
    seed: int = 0
    max_drift_share: float = DEFAULT_MAX_DRIFT_SHARE
    target_method: str = TARGET_METHOD
    target_threshold: float = TARGET_THRESHOLD
    categorical_columns: Sequence[str] = CATEGORICAL_FEATURES

    def sample(self, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The columns and the label of `frame`, sampled by content and seed, stratified on the label."""
        chosen = frame.loc[:, [*columns, self.label]]
        return deterministic_sample(chosen, self.sample_size, self.seed, stratify=self.label)

    def window(self, side: str, slices: Mapping[str, pd.DataFrame], columns: Sequence[str]) -> Window:
        """A side made of slices: `sample_slices` of their columns and label, stratified on the label;
        each slice is read once and never concatenated with the others."""
        ranked = {name: self.rank(f"{side} slice {name!r}", frame, columns) for name, frame in slices.items()}
        return self.window_of_ranked(side, ranked, columns)

    def rank(self, name: str, frame: pd.DataFrame, columns: Sequence[str]) -> RankedSlice:
        """A slice's columns and label, checked and ranked for this test's samples."""
        _check_frame(name, frame, columns, self.label, min_rows=0)
        wanted = [*columns, self.label]
        # a slice read as just these columns is used as it is: a copy of each costs a fifth of the step at 10x
        chosen = frame if list(frame.columns) == wanted else frame.loc[:, wanted]
        return rank_slice(chosen, self.label, self.seed)

    def window_of_ranked(
        self,
        side: str,
        ranked: Mapping[str, RankedSlice],
        columns: Sequence[str],
        whole: Callable[[str], RankedSlice] | None = None,
    ) -> Window:
        """A side of slices ranked by `rank` (or stored prefixes of such rankings, completed by `whole`)."""
        rows = sum(r.rows for r in ranked.values())
        if rows < MIN_ROWS_PER_SIDE:
            _check_frame(side, pd.DataFrame(columns=[*columns, self.label]), columns, self.label)
        frauds = sum(r.count(1) for r in ranked.values())
        return Window(sample_ranked(ranked, self.sample_size, whole), rows, frauds / rows)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: Sequence[str],
    html: bool = True,
    reference_sample: pd.DataFrame | None = None,
    **options,
) -> DriftResult:
    """Compare `current` with `reference` over the named feature columns and the label; `options`
    are `DriftTest`'s fields (sample size, seed, drift share limit, ...). `reference_sample`, when given,
    is `DriftTest.sample` of `reference` drawn already (drawing it reads every reference row). With
    `html`, the result carries Evidently's report of the same samples.

    Raises ValueError naming the side and the rule when a frame is unusable.
    """
    test = DriftTest(**options)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    for side, frame in (("reference", reference), ("current", current)):
        _check_frame(side, frame, columns, test.label)
    if reference_sample is None:
        reference_sample = test.sample(reference, columns)
    windows = [
        Window(sample, len(frame), rate_ratio.rate(frame[test.label]))
        for sample, frame in ((reference_sample, reference), (test.sample(current, columns), current))
    ]
    result = judge_windows(windows[0], windows[1], columns, **options)
    if not html:
        return result
    return replace(result, html=render_report(windows[0].sample, windows[1].sample, columns, **options))


def judge_windows(reference: Window, current: Window, feature_columns: Sequence[str], **options) -> DriftResult:
    """The verdicts `ValueDrift` gives on these samples, from the same stat tests (`stattests.py`) called
    directly: a Report draws plotly figures for every column while it runs (about two thirds of its
    time), which the gate does not need. `render_report` draws them from the same samples."""
    test = DriftTest(**options)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    tests = _ColumnTests(reference.sample, columns, test)
    verdicts = tests.run(current.sample)
    return _result(reference, current, columns, verdicts, test)


def render_report(
    reference_sample: pd.DataFrame, current_sample: pd.DataFrame, feature_columns: Sequence[str], **options
) -> str:
    """Evidently's HTML report (one `ValueDrift` per column and the label's rate-ratio test) of the samples
    a `DriftResult` was judged on: the people's view of the gate's verdicts, with its plots."""
    return _run_report(reference_sample, current_sample, feature_columns, DriftTest(**options)).get_html_str(
        as_iframe=False
    )


def report_verdicts(
    reference_sample: pd.DataFrame, current_sample: pd.DataFrame, feature_columns: Sequence[str], **options
) -> dict[str, ColumnDrift]:
    """What Evidently's Report says about the samples, by column (and the label): what `judge_windows`
    must agree with."""
    test = DriftTest(**options)
    snapshot = _run_report(reference_sample, current_sample, feature_columns, test)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    return _empty_column_verdicts(reference_sample, current_sample, columns) | _value_drift_verdicts(snapshot.dict())


def _run_report(
    reference_sample: pd.DataFrame, current_sample: pd.DataFrame, feature_columns: Sequence[str], test: DriftTest
) -> Snapshot:
    from evidently import Dataset, Report
    from evidently.metrics import ValueDrift

    register_rate_ratio_test()
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    tested = [c for c in columns if c not in _empty_column_verdicts(reference_sample, current_sample, columns)]
    definition = _data_definition(reference_sample, tested, test.label, test.categorical_columns)
    metrics = [ValueDrift(column=c) for c in tested]
    metrics.append(ValueDrift(column=test.label, method=test.target_method, threshold=test.target_threshold))
    return Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current_sample, data_definition=definition),
        Dataset.from_pandas(reference_sample, data_definition=definition),
    )


@cache
def register_rate_ratio_test() -> None:
    """Make `rate_ratio` a method Evidently's `ValueDrift` knows, once per process, before a Report uses it."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    test = rate_ratio.RATE_RATIO_TEST
    described = StatTest(
        name=test.name,
        display_name=test.display_name,
        allowed_feature_types=[ColumnType.Categorical],
        default_threshold=test.default_threshold,
    )
    register_stattest(described, lambda reference, current, _kind, threshold: test.func(reference, current, threshold))


def per_slice_summary(
    reference: pd.DataFrame,
    slices: Mapping[str, pd.DataFrame],
    feature_columns: Sequence[str],
    reference_sample: pd.DataFrame | None = None,
    reference_window: Window | None = None,
    **options,
) -> pd.DataFrame:
    """One row per slice (rows, fraud rate, share drifted, target drift) for a per-day view.

    Cheap because it calls the stat tests the report runs (`stattests.py`) directly, without building
    a report and its plots, and samples the reference once (or takes the report's `reference_window`, or
    `compute_drift`'s `reference_sample`); each column's reference values are cleaned and its test chosen
    once, not once per slice. A slice at or below the small-sample size gets no verdict (NaN / None) and a
    note, so one short day never hides the others.
    The label flag here is a view, not a gate: frauds come in bursts, and 4-5 of 60 clean simulated
    days had a daily fraud rate below 1/1.5 of the reference's.
    """
    test = DriftTest(**options)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    if reference_window is None:
        _check_frame("reference", reference, columns, test.label)
        if reference_sample is None:
            reference_sample = test.sample(reference, columns)
        reference_window = Window(reference_sample, len(reference), rate_ratio.rate(reference[test.label]))
    tests = _ColumnTests(reference_window.sample, columns, test)
    rows = []
    for name, frame in slices.items():
        _check_frame(f"slice {name!r}", frame, columns, test.label, min_rows=0)
        fraud_rate = rate_ratio.rate(frame[test.label]) if len(frame) else np.nan
        row = {"slice": name, "rows": len(frame), "fraud_rate": fraud_rate}
        if len(frame) < MIN_ROWS_PER_SIDE:
            too_small = f"{len(frame)} rows: at or below {EVIDENTLY_SMALL_REFERENCE_ROWS}, no verdict"
            rows.append(row | _no_verdict(too_small))
            continue
        current = Window(test.sample(frame, columns), len(frame), fraud_rate)
        result = _result(reference_window, current, columns, tests.run(current.sample), test)
        rows.append(
            row
            | {
                "share_drifted": result.share_drifted,
                "data_drift": not result.passed_data_drift(),
                "target_drift": result.target.drifted,
                "rate_ratio": result.target.score if test.target_method == rate_ratio.RATE_RATIO else np.nan,
                "drifted_columns": ", ".join(c.column for c in result.drifted_columns),
                "note": "",
            }
        )
    return pd.DataFrame(rows, columns=["slice", "rows", "fraud_rate", *_no_verdict("").keys()])


def _no_verdict(note: str) -> dict:
    return {
        "share_drifted": np.nan,
        "data_drift": None,
        "target_drift": None,
        "rate_ratio": np.nan,
        "drifted_columns": "",
        "note": note,
    }


def _result(
    reference: Window, current: Window, columns: Sequence[str], verdicts: dict[str, ColumnDrift], test: DriftTest
) -> DriftResult:
    """The verdicts as plain values; the windows' samples are the rows the tests saw."""
    column_drifts = tuple(verdicts[c] for c in columns)
    label_drift = verdicts[test.label]
    n_drifted = sum(c.drifted for c in column_drifts)
    return DriftResult(
        share_drifted=n_drifted / len(column_drifts),
        n_drifted=n_drifted,
        columns=column_drifts,
        target=TargetDrift(
            column=test.label,
            method=_target_test(test).display_name,
            score=label_drift.score,
            threshold=label_drift.threshold,
            drifted=label_drift.drifted,
            reference_rate=reference.fraud_rate,
            current_rate=current.fraud_rate,
            p_value=rate_ratio.p_value(reference.sample[test.label], current.sample[test.label]),
        ),
        max_drift_share=test.max_drift_share,
        reference_rows=reference.rows,
        current_rows=current.rows,
        reference_sampled=len(reference.sample),
        current_sampled=len(current.sample),
    )


def _checked_arguments(
    feature_columns: Sequence[str], label: str, sample_size: int, max_drift_share: float
) -> tuple[str, ...]:
    if isinstance(feature_columns, str):
        raise ValueError(f"feature_columns must be a list of column names, got the string {feature_columns!r}")
    columns = tuple(feature_columns)
    if not columns:
        raise ValueError("feature_columns is empty: name the feature columns to compare explicitly")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ValueError(f"feature_columns names {duplicates} more than once")
    if label in columns:
        raise ValueError(f"feature_columns must not include the label {label!r}: the label is tested on its own")
    forbidden = [c for c in columns if c in NEVER_FEATURES]
    if forbidden:
        raise ValueError(f"feature_columns must not include {forbidden}: the time index drifts by construction")
    if sample_size < MIN_ROWS_PER_SIDE:
        raise ValueError(
            f"sample_size {sample_size} is too small: Evidently switches to p-value tests at "
            f"{EVIDENTLY_SMALL_REFERENCE_ROWS} rows or fewer; use at least {MIN_ROWS_PER_SIDE}"
        )
    if not 0 <= max_drift_share <= 1:
        raise ValueError(f"max_drift_share must be within [0, 1], got {max_drift_share}")
    return columns


def _check_frame(
    side: str, frame: pd.DataFrame, columns: Sequence[str], label: str, min_rows: int = MIN_ROWS_PER_SIDE
) -> None:
    missing = [c for c in (*columns, label) if c not in frame.columns]
    if missing:
        raise ValueError(f"{side} frame lacks columns {missing}")
    if len(frame) < min_rows:
        raise ValueError(
            f"{side} frame has {len(frame)} rows; drift needs at least {MIN_ROWS_PER_SIDE} per side because "
            f"Evidently switches to p-value tests (false alarms) at {EVIDENTLY_SMALL_REFERENCE_ROWS} rows or fewer"
        )
    bad = ~frame[label].isin([0, 1])
    if bad.any():
        examples = frame.loc[bad, label].head(3).tolist()
        raise ValueError(f"{side} frame: label {label!r} must be 0 or 1, found {examples} in {int(bad.sum())} rows")


def _empty_column_verdicts(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]
) -> dict[str, ColumnDrift]:
    """Columns with no finite value on a side, which Evidently refuses to compare.

    Empty on one side only is a change (a feature that stopped or started being filled) and counts
    as drifted; empty on both sides is reported but is no change.
    """
    verdicts = {}
    for column in columns:
        empty = [
            side
            for side, frame in (("reference", reference), ("current", current))
            if frame[column].replace([np.inf, -np.inf], np.nan).isna().all()
        ]
        if empty:
            verdicts[column] = ColumnDrift(
                column=column,
                method=f"all missing in {' and '.join(empty)}",
                score=float("nan"),
                threshold=float("nan"),
                drifted=len(empty) == 1,
            )
    return verdicts


def _column_kinds(
    frame: pd.DataFrame, columns: Sequence[str], label: str, categorical_columns: Sequence[str]
) -> dict[str, stattests.Kind]:
    """Numbers as numerical; codes, strings, booleans and the label as categorical."""
    kinds: dict[str, stattests.Kind] = {
        c: stattests.NUMERICAL
        if c not in categorical_columns
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        else stattests.CATEGORICAL
        for c in columns
    }
    return kinds | {label: stattests.CATEGORICAL}


def _data_definition(
    frame: pd.DataFrame, columns: Sequence[str], label: str, categorical_columns: Sequence[str]
) -> DataDefinition:
    """`_column_kinds` as Evidently's DataDefinition."""
    from evidently import DataDefinition

    kinds = _column_kinds(frame, columns, label, categorical_columns)
    return DataDefinition(
        numerical_columns=[c for c, kind in kinds.items() if kind == stattests.NUMERICAL],
        categorical_columns=[c for c, kind in kinds.items() if kind == stattests.CATEGORICAL],
    )


def _target_test(test: DriftTest) -> stattests.StatTest:
    if test.target_method not in TARGET_TESTS:
        raise ValueError(f"target_method {test.target_method!r} is not one of the gate's {sorted(TARGET_TESTS)}")
    return TARGET_TESTS[test.target_method]


class _ColumnTests:
    """The test `ValueDrift` would run on each column against one reference sample, with the same cleaning
    (drop NaN and inf), for many current samples: the reference is cleaned once per column, and Evidently's
    choice of test (`stattests.large_sample_test`) is made once where it cannot depend on the current side (a
    fixed method; more than `EVIDENTLY_SMALL_REFERENCE_ROWS` clean reference values and a category, or more than
    five distinct numbers: Evidently counts distinct values over both sides together)."""

    def __init__(self, reference_sample: pd.DataFrame, columns: Sequence[str], test: DriftTest) -> None:
        self.columns, self.label, self.test = tuple(columns), test.label, test
        self.reference_sample = reference_sample
        self.kinds = _column_kinds(reference_sample, columns, test.label, test.categorical_columns)
        self.reference = {c: _clean(reference_sample[c]) for c in (*columns, test.label)}
        self.chosen: dict[str, stattests.StatTest] = {test.label: _target_test(test)}
        for column in columns:
            values = self.reference[column]
            many = values.nunique() > stattests.MAX_DISTINCT_AS_CATEGORIES
            fixed = self.kinds[column] == stattests.CATEGORICAL or many
            if fixed and (chosen := stattests.large_sample_test(values, values, self.kinds[column])):
                self.chosen[column] = chosen

    def run(self, current_sample: pd.DataFrame) -> dict[str, ColumnDrift]:
        verdicts = _empty_column_verdicts(self.reference_sample, current_sample, self.columns)
        for column in self.columns:
            if column not in verdicts:
                verdicts[column] = self._one(column, current_sample[column], None)
        verdicts[self.label] = self._one(self.label, current_sample[self.label], self.test.target_threshold)
        return verdicts

    def _one(self, column: str, current: pd.Series, threshold: float | None) -> ColumnDrift:
        reference, current = self.reference[column], _clean(current)
        test = self.chosen.get(column) or stattests.large_sample_test(reference, current, self.kinds[column])
        if test is None:
            return _small_reference_verdict(column, reference, current, self.kinds[column])
        outcome = test(reference, current, threshold)
        return ColumnDrift(
            column=column,
            method=test.display_name,
            score=float(outcome.score),
            threshold=float(outcome.threshold),
            drifted=outcome.drifted,
        )


def _small_reference_verdict(
    column: str, reference: pd.Series, current: pd.Series, kind: stattests.Kind
) -> ColumnDrift:
    """Evidently's own p-value test (K-S, chi-squared or Z) for a column with at most
    `EVIDENTLY_SMALL_REFERENCE_ROWS` clean reference values. A sample has more rows than that, so only a mostly
    missing column gets here: rare enough to import Evidently for rather than write out three more tests."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    test = get_stattest(reference, current, ColumnType(kind), None)
    outcome = test(reference, current, ColumnType(kind), None)
    return ColumnDrift(
        column=column,
        method=test.display_name,
        score=float(outcome.drift_score),
        threshold=float(outcome.actual_threshold),
        drifted=bool(outcome.drifted),
    )


def _clean(values: pd.Series) -> pd.Series:
    return values.replace([np.inf, -np.inf], np.nan).dropna()


def _value_drift_verdicts(snapshot: dict) -> dict[str, ColumnDrift]:
    """ValueDrift results by column, with Evidently's own pass/fail as the drift flag."""
    failed = {
        t["metric_config"]["metric_id"] for t in snapshot["tests"] if t["id"] == "drift" and t["status"] == "FAIL"
    }
    verdicts = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        verdicts[config["column"]] = ColumnDrift(
            column=config["column"],
            method=str(config["method"]),
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=metric["id"] in failed,
        )
    return verdicts
