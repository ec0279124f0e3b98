"""Feature and label drift between a reference window and newer data, with Evidently 0.7.

The Evidently report is the evidence people read (its HTML is linked from the Dagster UI); the
`DriftResult` carries the same verdicts as plain values so that blocking checks and tests never
parse HTML.

Choices measured on simulated BankSim (35 feature columns; figures from `benchmarks/bench_drift.py`):
- Both sides are sampled to a fixed size (50k rows by default), stratified on the label: the
  verdicts matched the full windows (375k vs 220k rows) at a fraction of the time, and the
  sample's fraud rate is the window's.
- Sampling is seeded and order-independent: which rows are taken depends only on their content
  and the seed, so the same slices read in another order give the same verdicts.
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.calculations.stattests.registry import get_registered_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics import ValueDrift

from fraud_assets.features.definitions import CATEGORICAL_FEATURES
from fraud_assets.monitoring import rate_ratio
from fraud_assets.monitoring.limits import DEFAULT_MAX_DRIFT_SHARE, DEFAULT_SAMPLE_SIZE

# evidently/legacy/calculations/stattests/registry.py, _get_default_stattest:
# `reference_data.shape[0] <= 1000` switches numbers to K-S/chi-squared/Z and categories to chi-squared/Z.
EVIDENTLY_SMALL_REFERENCE_ROWS = 1000
MIN_ROWS_PER_SIDE = EVIDENTLY_SMALL_REFERENCE_ROWS + 1

TARGET_METHOD = rate_ratio.RATE_RATIO
TARGET_THRESHOLD = rate_ratio.DEFAULT_MIN_RATIO
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

    Rows are put in a canonical order by a hash of their values, then a seeded generator picks
    positions in that order; the same rows in any order therefore give the same sample. With
    `stratify`, each value of that column keeps its share of rows (to one row), so a rare label's
    rate in the sample is the full window's: a plain 50k-row sample moved a 1.28 % fraud rate
    by up to 0.1 point, enough to swing a rate ratio from 1.70 to 1.52.
    """
    if size < 1:
        raise ValueError(f"sample size must be at least 1, got {size}")
    if len(frame) <= size:
        return frame
    row_hash = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    if stratify is None:
        groups = [np.arange(len(frame))]
    else:
        codes = pd.factorize(frame[stratify], sort=True)[0]
        if (codes < 0).any():
            raise ValueError(f"cannot stratify on '{stratify}': it has missing values")
        groups = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    quotas = _largest_remainder([len(g) * size / len(frame) for g in groups])
    rng = np.random.default_rng(seed)
    picked = []
    for members, quota in zip(groups, quotas, strict=True):
        canonical = members[np.argsort(row_hash[members], kind="stable")]
        picked.append(canonical[rng.choice(len(canonical), size=quota, replace=False)])
    return frame.iloc[np.sort(np.concatenate(picked))]


def _largest_remainder(shares: list[float]) -> list[int]:
    """Whole numbers summing to round(sum(shares)), each within one of its share."""
    floors = [int(s) for s in shares]
    missing = round(sum(shares)) - sum(floors)
    for i in sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)[:missing]:
        floors[i] += 1
    return floors


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
    is `DriftTest.sample` of `reference` drawn already (drawing it reads every reference row).

    Raises ValueError naming the side and the rule when a frame is unusable.
    """
    test = DriftTest(**options)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    for side, frame in (("reference", reference), ("current", current)):
        _check_frame(side, frame, columns, test.label)
    if reference_sample is None:
        reference_sample = test.sample(reference, columns)
    current_sample = test.sample(current, columns)

    verdicts = _empty_column_verdicts(reference_sample, current_sample, columns)
    tested = [c for c in columns if c not in verdicts]
    definition = _data_definition(reference_sample, tested, test.label, test.categorical_columns)
    metrics = [ValueDrift(column=c) for c in tested]
    metrics.append(ValueDrift(column=test.label, method=test.target_method, threshold=test.target_threshold))
    snapshot = Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current_sample, data_definition=definition),
        Dataset.from_pandas(reference_sample, data_definition=definition),
    )
    verdicts |= _value_drift_verdicts(snapshot.dict())
    samples = (reference_sample, current_sample)
    return _result(
        reference,
        current,
        samples,
        columns,
        verdicts,
        test,
        html=snapshot.get_html_str(as_iframe=False) if html else "",
    )


def per_slice_summary(
    reference: pd.DataFrame,
    slices: Mapping[str, pd.DataFrame],
    feature_columns: Sequence[str],
    reference_sample: pd.DataFrame | None = None,
    **options,
) -> pd.DataFrame:
    """One row per slice (rows, fraud rate, share drifted, target drift) for a per-day view.

    Cheap because it calls the same Evidently stat tests as the report directly, without building
    a report and its plots, and samples the reference once (or takes `compute_drift`'s `reference_sample`). A slice at or below the small-sample
    size gets no verdict (NaN / None) and a note, so one short day never hides the others.
    The label flag here is a view, not a gate: frauds come in bursts, and 4-5 of 60 clean simulated
    days had a daily fraud rate below 1/1.5 of the reference's.
    """
    test = DriftTest(**options)
    columns = _checked_arguments(feature_columns, test.label, test.sample_size, test.max_drift_share)
    _check_frame("reference", reference, columns, test.label)
    if reference_sample is None:
        reference_sample = test.sample(reference, columns)
    definition = _data_definition(reference_sample, columns, test.label, test.categorical_columns)
    kinds = {c: ColumnType.Numerical for c in definition.numerical_columns} | {
        c: ColumnType.Categorical for c in definition.categorical_columns
    }
    rows = []
    for name, frame in slices.items():
        _check_frame(f"slice {name!r}", frame, columns, test.label, min_rows=0)
        fraud_rate = rate_ratio.rate(frame[test.label]) if len(frame) else np.nan
        row = {"slice": name, "rows": len(frame), "fraud_rate": fraud_rate}
        if len(frame) < MIN_ROWS_PER_SIDE:
            too_small = f"{len(frame)} rows: at or below {EVIDENTLY_SMALL_REFERENCE_ROWS}, no verdict"
            rows.append(row | _no_verdict(too_small))
            continue
        current_sample = test.sample(frame, columns)
        verdicts = _empty_column_verdicts(reference_sample, current_sample, columns)
        for column in columns:
            if column not in verdicts:
                verdicts[column] = _stat_test(reference_sample[column], current_sample[column], kinds[column])
        verdicts[test.label] = _stat_test(
            reference_sample[test.label],
            current_sample[test.label],
            ColumnType.Categorical,
            test.target_method,
            test.target_threshold,
        )
        result = _result(reference, frame, (reference_sample, current_sample), columns, verdicts, test, html="")
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
    reference: pd.DataFrame,
    current: pd.DataFrame,
    samples: tuple[pd.DataFrame, pd.DataFrame],
    columns: Sequence[str],
    verdicts: dict[str, ColumnDrift],
    test: DriftTest,
    html: str,
) -> DriftResult:
    """The verdicts as plain values; `samples` are the (reference, current) rows the tests saw."""
    reference_sample, current_sample = samples
    label, max_drift_share, target_method = test.label, test.max_drift_share, test.target_method
    column_drifts = tuple(verdicts[c] for c in columns)
    label_drift = verdicts[label]
    n_drifted = sum(c.drifted for c in column_drifts)
    return DriftResult(
        share_drifted=n_drifted / len(column_drifts),
        n_drifted=n_drifted,
        columns=column_drifts,
        target=TargetDrift(
            column=label,
            method=get_registered_stattest(target_method, ColumnType.Categorical).display_name,
            score=label_drift.score,
            threshold=label_drift.threshold,
            drifted=label_drift.drifted,
            reference_rate=rate_ratio.rate(reference[label]),
            current_rate=rate_ratio.rate(current[label]),
            p_value=rate_ratio.p_value(reference_sample[label], current_sample[label]),
        ),
        max_drift_share=max_drift_share,
        reference_rows=len(reference),
        current_rows=len(current),
        reference_sampled=len(reference_sample),
        current_sampled=len(current_sample),
        html=html,
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


def _data_definition(
    frame: pd.DataFrame, columns: Sequence[str], label: str, categorical_columns: Sequence[str]
) -> DataDefinition:
    """Numbers as numerical; codes, strings, booleans and the label as categorical."""
    numerical = [
        c
        for c in columns
        if c not in categorical_columns
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    categorical = [c for c in columns if c not in numerical] + [label]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


def _stat_test(
    reference: pd.Series,
    current: pd.Series,
    kind: ColumnType,
    method: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """The test `ValueDrift` would run on this column, with the same cleaning (drop NaN and inf)."""
    reference = reference.replace([np.inf, -np.inf], np.nan).dropna()
    current = current.replace([np.inf, -np.inf], np.nan).dropna()
    test = get_stattest(reference, current, kind, method)
    outcome = test(reference, current, kind, threshold)
    return ColumnDrift(
        column=str(reference.name),
        method=test.display_name,
        score=float(outcome.drift_score),
        threshold=float(outcome.actual_threshold),
        drifted=bool(outcome.drifted),
    )


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
