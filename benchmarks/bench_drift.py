"""Drift report on full windows vs 50k-row samples: time and verdicts side by side.

Half a year of simulated BankSim (seed 7 by default), features over the whole history, reference =
steps 0-119, current = steps 120-179, in three versions: clean, amounts x1.5 from step 120, card
thefts x2 from step 120. Also prints what the label tests see, the small-sample pitfall, the cost
of `DataDriftPreset`, the per-day view over the 60 current days, and which features trend on clean
days by construction (one day against all days before it, as the drift report sees a new day).

    .venv/bin/python benchmarks/bench_drift.py [--seed 7]      (about 4 minutes on 2 shared cores)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, compute_features
from fraud_assets.monitoring.drift import (
    compute_drift,
    deterministic_sample,
    per_slice_summary,
    register_rate_ratio_test,
)
from fraud_assets.simulation.simulator import Drift, simulate

START = 120
FEATURES = list(FEATURE_COLUMNS)
SCENARIOS = {
    "clean": None,
    "amounts x1.5": Drift(start_step=START, amount_scale=1.5),
    "thefts x2": Drift(start_step=START, fraud_rate_multiplier=2.0),
}
ALL_ROWS = 10**9  # a sample size no window reaches: compare the full windows


def featured_half_year(seed: int, drift: Drift | None) -> pd.DataFrame:
    transactions = simulate(range(180), seed=seed, drift=drift)
    features = compute_features(transactions)
    return features.assign(fraud=transactions["fraud"].to_numpy(), step=transactions["step"].to_numpy())


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def full_vs_sampled(frames: dict[str, pd.DataFrame]) -> None:
    print("\n## Full windows vs 50k-row samples per side (35 feature columns, HTML rendered)")
    print(
        f"{'scenario':14} {'rows ref/cur':>15} {'mode':>8} {'seconds':>8} {'share':>6} {'drifted':>8} "
        f"{'data ok':>8} {'ratio':>6} {'target ok':>9}  same columns"
    )
    for name, frame in frames.items():
        reference, current = frame[frame.step < START], frame[frame.step >= START]
        results = {}
        for mode, size in (("full", ALL_ROWS), ("50k", 50_000)):
            results[mode], seconds = timed(compute_drift, reference, current, FEATURES, sample_size=size)
            r = results[mode]
            same = (
                ""
                if mode == "full"
                else str({c.column for c in r.drifted_columns} == {c.column for c in results["full"].drifted_columns})
            )
            print(
                f"{name:14} {len(reference):>7}/{len(current):<7} {mode:>8} {seconds:>8.1f} {r.share_drifted:>6.2f} "
                f"{r.n_drifted:>8} {r.passed_data_drift()!s:>8} {r.target.score:>6.2f} "
                f"{r.passed_target_drift()!s:>9}  {same}"
            )


def label_tests(frames: dict[str, pd.DataFrame]) -> None:
    print("\n## Label tests on the full windows (score, * = drift at the default threshold)")
    for name, frame in frames.items():
        reference, current = frame.loc[frame.step < START, "fraud"], frame.loc[frame.step >= START, "fraud"]
        cells = []
        register_rate_ratio_test()
        for method in ("jensenshannon", "psi", "z", "rate_ratio"):
            test = get_stattest(reference, current, ColumnType.Categorical, method)
            outcome = test(reference, current, ColumnType.Categorical, None)
            cells.append(f"{method} {outcome.drift_score:.3g}{'*' if outcome.drifted else ' '}")
        print(f"{name:14} rate {reference.mean():.2%} -> {current.mean():.2%}   " + "   ".join(cells))


def small_reference_pitfall(frame: pd.DataFrame) -> None:
    print("\n## Evidently's defaults at 1,000 reference rows (clean data, steps 0-119 vs 120-179)")
    reference, current = frame[frame.step < START], frame[frame.step >= START]
    for seed in range(3):
        small = deterministic_sample(reference[FEATURES], 1_000, seed)
        large = deterministic_sample(reference[FEATURES], 50_000, seed)
        cur = deterministic_sample(current[FEATURES], 50_000, seed)
        counts = {}
        for label, ref in (("1,000", small), ("50,000", large)):
            drifted, methods = 0, set()
            for column in FEATURES:
                kind = ColumnType.Categorical if column in CATEGORICAL_FEATURES else ColumnType.Numerical
                r, c = ref[column].dropna(), cur[column].dropna()
                test = get_stattest(r, c, kind, None)
                drifted += bool(test(r, c, kind, None).drifted)
                methods.add(test.name)
            counts[label] = f"{drifted:>2}/35 drifted ({', '.join(sorted(methods))})"
        print(f"seed {seed}: 1,000 rows: {counts['1,000']}   50,000 rows: {counts['50,000']}")


def preset_cost(frame: pd.DataFrame) -> None:
    print("\n## DataDriftPreset vs one ValueDrift per column, 50k rows per side (amounts x1.5)")
    columns = [*FEATURES, "fraud"]
    reference = deterministic_sample(frame.loc[frame.step < START, columns], 50_000, stratify="fraud")
    current = deterministic_sample(frame.loc[frame.step >= START, columns], 50_000, stratify="fraud")
    definition = DataDefinition(
        numerical_columns=[c for c in FEATURES if c not in CATEGORICAL_FEATURES],
        categorical_columns=[*CATEGORICAL_FEATURES, "fraud"],
    )
    for name, metrics in (
        ("DataDriftPreset", [DataDriftPreset(columns=FEATURES)]),
        ("ValueDrift x35", [ValueDrift(column=c) for c in FEATURES]),
    ):
        report = Report(metrics, include_tests=True)
        _, seconds = timed(
            report.run,
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        print(f"{name:16} {seconds:5.1f} s")


def per_day_view(frames: dict[str, pd.DataFrame]) -> None:
    print("\n## Per-day view: 60 current days against the reference (50k reference sample)")
    for name, frame in frames.items():
        reference = frame[frame.step < START]
        days = {int(step): day for step, day in frame[frame.step >= START].groupby("step")}
        summary, seconds = timed(per_slice_summary, reference, days, FEATURES)
        print(
            f"{name:14} {seconds:5.1f} s  days with data drift {int(summary.data_drift.sum()):>2}/60, "
            f"target drift {int(summary.target_drift.sum()):>2}/60, share drifted median "
            f"{summary.share_drifted.median():.2f}, rows/day {summary.rows.min()}-{summary.rows.max()}"
        )


def trending_features(frame: pd.DataFrame, days: range = range(30, 120, 6)) -> None:
    print(
        f"\n## Trending features: {len(days)} clean days ({days.start}..{days[-1]}), each vs all days before it "
        "(50k reference sample; Evidently's default test per column)"
    )
    scores: dict[str, list[tuple[float, bool]]] = {c: [] for c in FEATURES}
    for day in days:
        reference = deterministic_sample(frame.loc[frame.step < day, FEATURES], 50_000)
        current = frame.loc[frame.step == day, FEATURES]
        for column in FEATURES:
            kind = ColumnType.Categorical if column in CATEGORICAL_FEATURES else ColumnType.Numerical
            r = reference[column].replace([np.inf, -np.inf], np.nan).dropna()
            c = current[column].replace([np.inf, -np.inf], np.nan).dropna()
            outcome = get_stattest(r, c, kind, None)(r, c, kind, None)
            scores[column].append((outcome.drift_score, outcome.drifted))
    for column, found in scores.items():
        values = np.array([score for score, _ in found])
        first, last = values[: len(values) // 3].mean(), values[-(len(values) // 3) :].mean()
        print(
            f"{column:36} drifted {sum(d for _, d in found):>2}/{len(days)}  score {values.min():.3f}-"
            f"{values.max():.3f}, first third {first:.3f}, last third {last:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    seed = parser.parse_args().seed
    np.seterr(all="ignore")
    frames = {}
    for name, drift in SCENARIOS.items():
        frames[name], seconds = timed(featured_half_year, seed, drift)
        print(f"simulated + features '{name}': {len(frames[name]):,} rows in {seconds:.1f} s")
    full_vs_sampled(frames)
    label_tests(frames)
    small_reference_pitfall(frames["clean"])
    preset_cost(frames["amounts x1.5"])
    per_day_view(frames)
    trending_features(frames["clean"])


if __name__ == "__main__":
    main()
