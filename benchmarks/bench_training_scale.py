"""What training costs at 10x BankSim, and what the scale knobs buy: fit seconds, peak memory, PR AUC.

The 10x data: `--runs` simulated runs of all days with different seeds, their customer ids
prefixed per run so customers stay apart while merchants and categories are shared, features
computed over the union (as one bank ten times the size would see them). It is written once to
Parquet, in float64 (as features are stored today) and in float32.

Each configuration then runs in its own process, which reads the Parquet file (only the columns
training needs), trains with `train_model` and scores the validation window; its peak RSS
(`ru_maxrss`) is the peak of that whole step, loading included. Configurations: today's two fits,
one fit, float32 features, down-sampled legitimate rows (weights 1 / rate), a training window,
and their combination. Every configuration is judged on the same validation steps.

    .venv/bin/python benchmarks/bench_training_scale.py [--runs 10] [--steps 180] [--threads 1] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS

COLUMNS = [*FEATURE_COLUMNS, "step", "fraud"]
FIRST_SEED = 101
# name: (feature dtype, train_model arguments)
CONFIGURATIONS = {
    "two fits (before)": ("float64", {"refit_after_calibration": True}),
    "one fit": ("float64", {}),
    "one fit, float32": ("float32", {}),
    "one fit, float32, legit 25%": ("float32", {"legit_sample_rate": 0.25}),
    "one fit, float32, legit 10%": ("float32", {"legit_sample_rate": 0.1}),
    "one fit, float32, legit 5%": ("float32", {"legit_sample_rate": 0.05}),
    "one fit, float32, last 60 steps": ("float32", {"window_steps": 60}),
    "one fit, float32, last 90 steps": ("float32", {"window_steps": 90}),
    "one fit, float32, last 60, legit 10%": ("float32", {"window_steps": 60, "legit_sample_rate": 0.1}),
    "one fit, float32, last 90, legit 10%": ("float32", {"window_steps": 90, "legit_sample_rate": 0.1}),
}


def build(runs: int, steps: int, folder: Path) -> dict[str, Path]:
    """Simulate, compute features over the union, write float64 and float32 Parquet files."""
    from fraud_assets.features import compute_features
    from fraud_assets.simulation.simulator import simulate

    started = time.perf_counter()
    parts = []
    for run in range(runs):
        transactions = simulate(steps=range(steps), seed=FIRST_SEED + run).drop(columns=["zipcodeOri", "zipMerchant"])
        transactions["customer"] = f"R{run}-" + transactions["customer"]
        parts.append(transactions)
    transactions = pd.concat(parts, ignore_index=True)
    del parts
    features = compute_features(transactions).join(transactions[["step", "fraud"]])
    del transactions
    paths = {"float64": folder / "features-float64.parquet", "float32": folder / "features-float32.parquet"}
    features.to_parquet(paths["float64"], index=False)
    narrow = {c: np.float32 for c in FEATURE_COLUMNS}
    features.astype(narrow).to_parquet(paths["float32"], index=False)
    print(
        f"data: {runs} runs x {steps} days = {len(features)} rows, {features['fraud'].mean():.3%} fraud, "
        f"built in {time.perf_counter() - started:.0f} s"
    )
    return paths


def measure(path: str, params: dict) -> dict:
    """One configuration, in this process: load, train, score; peak RSS of the process."""
    from fraud_assets.training.evaluation import evaluate
    from fraud_assets.training.train import train_model

    started = time.perf_counter()
    frame = pd.read_parquet(path, columns=COLUMNS)
    load_s = time.perf_counter() - started
    cpu_started = time.process_time()
    trained = train_model(frame, FEATURE_COLUMNS, CATEGORICAL_FEATURES, **params)
    cpu_s = time.process_time() - cpu_started
    windows = trained.windows
    metrics = evaluate(trained.model, windows.X_validation, windows.y_validation).metrics
    return {
        "training_rows": len(windows.y_train),
        "load_s": load_s,
        "fit_s": trained.fit_seconds,
        "cpu_s": cpu_s,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "pr_auc": metrics["pr_auc"],
        "f1": metrics["f1"],
        "brier": metrics["brier"],
    }


def run_child(path: Path, params: dict, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", str(path), json.dumps(params), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{params}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(results: dict[str, dict]) -> None:
    columns = list(next(iter(results.values())))
    print(f"| {'':38} | " + " | ".join(f"{c:>13}" for c in columns) + " |")
    for name, row in results.items():
        cells = [f"{v:13.4f}" if isinstance(v, float) else f"{v:>13}" for v in row.values()]
        print(f"| {name:38} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=180)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads per fit")
    parser.add_argument("--only", nargs="+", choices=list(CONFIGURATIONS), help="run only these configurations")
    parser.add_argument("--child", nargs=2, metavar=("PARQUET", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=args.threads, user_api="openmp"):
            print(json.dumps(measure(args.child[0], json.loads(args.child[1]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-training-scale-") as tmp:
        paths = build(args.runs, args.steps, Path(tmp))
        results = {}
        for name, (dtype, params) in CONFIGURATIONS.items():
            if args.only and name not in args.only:
                continue
            results[name] = run_child(paths[dtype], params, args.threads)
            print(f"  {name}: {results[name]}", flush=True)
    print(f"\n{args.threads} OpenMP thread(s); peak = max RSS of the process that loads the features and trains")
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
