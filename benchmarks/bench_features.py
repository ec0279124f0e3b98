"""Feature speed at BankSim size: the original pipeline's per-group pandas lambdas against `compute_features`.

Prints the time of both on the full simulated data set (180 days), their ratio (the target is at
most 1/7), the time of one new day on top of 10, 60 and 180 days of history, and how far a
day-by-day incremental build strays from the full recompute. Exit status 1 if the ratio misses.

    .venv/bin/python benchmarks/bench_features.py
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from fraud_assets.features import FEATURE_COLUMNS, FeatureState, compute_features, compute_features_incremental
from fraud_assets.features import definitions as d
from fraud_assets.simulation.simulator import simulate

TARGET_RATIO = 1 / 7
REPEATS = 3


def original_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """The original pipeline's way: one pandas `transform(lambda ...)` per feature, over rows sorted by step."""
    out = {}
    for family, windows in d.AMOUNT_WINDOWS.items():
        amounts = transactions.groupby(family)["amount"]
        for w in windows:
            out[d.window_mean(family, w)] = amounts.transform(lambda s: s.rolling(w, min_periods=1).mean())
            out[d.window_std(family, w)] = amounts.transform(lambda s: s.rolling(w, min_periods=1).std())
        out[d.history_mean(family)] = amounts.transform(lambda s: s.expanding().mean())
        out[d.history_std(family)] = amounts.transform(lambda s: s.expanding().std())
        out[d.history_max(family)] = amounts.transform(lambda s: s.expanding().max())
        if family in d.NUMBERED_FAMILIES:
            out[d.transaction_number(family)] = transactions.groupby(family).cumcount() + 1
        out[d.fraud_rate(family)] = transactions.groupby(family)["fraud"].transform(
            lambda s: s.shift(1).expanding().mean()
        )
    step_means = transactions.groupby(["category", "step"])["amount"].mean()
    previous = step_means.groupby(level="category").shift(1)
    wanted = pd.MultiIndex.from_frame(transactions[["category", "step"]])
    out[d.CATEGORY_PREVIOUS_STEP_MEAN] = previous.reindex(wanted).to_numpy()
    return pd.DataFrame(out, index=transactions.index)


def timed(function, *args, repeats: int = 1):
    """Best wall-clock and best CPU seconds over `repeats` runs (CPU time suffers less from sharing)."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = function(*args)
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def new_day(history: pd.DataFrame, day: pd.DataFrame) -> tuple[float, int]:
    """Seconds for one more day on top of a stored state of `history`, and that state's size in bytes."""
    _, state = compute_features_incremental(history, FeatureState.empty())
    stored = state.to_bytes()
    seconds, _, _ = timed(compute_features_incremental, day, FeatureState.from_bytes(stored), repeats=REPEATS)
    return seconds, len(stored)


def day_by_day(transactions: pd.DataFrame) -> pd.DataFrame:
    state, parts = FeatureState.empty(), []
    for _, day in transactions.groupby("step", sort=True):
        features, state = compute_features_incremental(day, FeatureState.from_bytes(state.to_bytes()))
        parts.append(features)
    return pd.concat(parts).loc[transactions.index]


def main() -> int:
    data = simulate(range(181))
    transactions = data[data["step"] < 180]
    print(
        f"data: simulate(), {len(transactions):,} rows, {transactions['customer'].nunique():,} customers, "
        f"steps 0-179; {len(FEATURE_COLUMNS)} feature columns"
    )

    compute_features(transactions.head(1000))  # first-call imports and allocations
    ours_wall, ours_cpu, full = timed(compute_features, transactions, repeats=REPEATS)
    original_wall, original_cpu, _ = timed(original_features, transactions)
    ratio = ours_cpu / original_cpu
    print(f"original (groupby transform lambdas): wall {original_wall:6.2f} s  cpu {original_cpu:6.2f} s")
    print(f"compute_features (best of {REPEATS}):  wall {ours_wall:6.2f} s  cpu {ours_cpu:6.2f} s")
    print(f"ratio: cpu {ratio:.3f}, wall {ours_wall / original_wall:.3f} (target <= {TARGET_RATIO:.3f})")

    for days in (10, 60, 180):
        history = data[data["step"] < days]
        day = data[data["step"] == days]
        seconds, state_bytes = new_day(history, day)
        print(
            f"one new day after {days:3d} days of history ({len(history):7,} rows): "
            f"{len(day):,} rows in {seconds * 1000:6.1f} ms (state {state_bytes / 1e6:.2f} MB)"
        )

    start = time.perf_counter()
    incremental = day_by_day(transactions)
    seconds = time.perf_counter() - start
    difference = (incremental - full).abs().to_numpy()
    scale = np.maximum(full.abs().to_numpy(), 1.0)
    same_missing = (incremental.isna() == full.isna()).all().all()
    print(
        f"day by day over 180 days (with state round trips): {seconds:.2f} s; "
        f"max |incremental - full| / max(|full|, 1) = {np.nanmax(difference / scale):.2e}; "
        f"same missing cells: {same_missing}"
    )

    if ratio > TARGET_RATIO:
        print("FAIL: compute_features is slower than 1/7 of the original pipeline's time", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
