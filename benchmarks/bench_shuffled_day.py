"""How much the order of a day's transactions matters online: PR AUC of a day scored in canonical
order against the same day shuffled within its step.

The online features of a transaction depend on the transactions of its step scored before it
(windows, counts, maxima); offline the order within a step is the canonical one (customer,
merchant, category, amount), which a payment system cannot promise. This scores day k+1 one
transaction at a time through the online path (`features.online.score_features` on the records of
the keys each touches, as the server does) from the stored state of day k, once in canonical
order and once shuffled with each seed, and prints each PR AUC and its difference from canonical.
The model is the FraudClassifier trained with training's defaults on days 0..k (simulated).

    .venv/bin/python benchmarks/bench_shuffled_day.py [--history-days 30] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, compute_features_incremental
from fraud_assets.features.entities import split_state, touched_keys
from fraud_assets.features.online import rebase, score_features
from fraud_assets.features.state import FeatureState
from fraud_assets.simulation.simulator import simulate
from fraud_assets.training.model import FraudClassifier

CANONICAL = ["step", "customer", "merchant", "category", "amount"]


def score_online(day: pd.DataFrame, stored: FeatureState) -> pd.DataFrame:
    """The day's transactions one request each, in the order given, from the stored state; features by row."""
    state, position = rebase(stored, pd.DataFrame(columns=CANONICAL))
    records = split_state(state)
    unlabelled = day.drop(columns="fraud")
    parts = []
    for i in range(len(unlabelled)):
        transaction = unlabelled.iloc[i : i + 1]
        keys = touched_keys({family: transaction[family] for family in ("customer", "merchant", "category")})
        held = {
            family: {key: records[family][key] for key in keys[family] if key in records[family]} for family in keys
        }
        result = score_features(transaction, held, position)
        for family, by_key in result.records.items():
            records[family].update(by_key)
        position = result.position
        parts.append(result.features)
    return pd.concat(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history-days", type=int, default=30, help="k+1: days 0..k train the model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    k = args.history_days - 1

    started = time.perf_counter()
    transactions = simulate(range(k + 2))
    history, day = transactions[transactions["step"] <= k], transactions[transactions["step"] == k + 1]
    features, stored = compute_features_incremental(history)
    model = FraudClassifier(categorical_features=CATEGORICAL_FEATURES).fit(
        features[list(FEATURE_COLUMNS)], history["fraud"].to_numpy()
    )
    offline = compute_features_incremental(day, stored)[0]
    labels = day["fraud"].to_numpy()
    print(
        f"days 0-{k}: {len(history)} rows, model in {time.perf_counter() - started:.0f} s; "
        f"day {k + 1}: {len(day)} transactions, {int(labels.sum())} frauds"
    )

    def pr_auc(scored: pd.DataFrame) -> float:
        return average_precision_score(labels, model.predict_proba(scored.loc[day.index, list(FEATURE_COLUMNS)])[:, 1])

    canonical = score_online(day.sort_values(CANONICAL, kind="stable"), stored)
    differs = np.nanmax(np.abs(canonical.loc[day.index].to_numpy() - offline.to_numpy()))
    reference = pr_auc(canonical)
    print(f"  offline features                PR AUC {pr_auc(offline):.4f}")
    print(
        f"  online, canonical order         PR AUC {reference:.4f}  (largest feature difference from offline "
        f"{differs:.1e})"
    )
    differences = []
    for seed in args.seeds:
        shuffled = score_online(day.sample(frac=1.0, random_state=seed), stored)
        changed = ~np.isclose(shuffled.loc[day.index].to_numpy(), canonical.loc[day.index].to_numpy(), equal_nan=True)
        value = pr_auc(shuffled)
        differences.append(value - reference)
        print(
            f"  online, shuffled (seed {seed})      PR AUC {value:.4f}  difference {value - reference:+.4f}  "
            f"({changed.any(axis=1).mean():.1%} of transactions got other feature values)"
        )
    print(
        f"PR AUC shuffled - canonical: mean {np.mean(differences):+.4f}, largest |difference| "
        f"{np.max(np.abs(differences)):.4f} over {len(differences)} seeds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
