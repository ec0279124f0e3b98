"""A slow, obviously correct reading of the feature definitions, to check the fast code against.

Row by row, from the definitions in `fraud_assets.features.definitions`: a row sees the rows of its
key whose canonical key (step, customer, merchant, category, amount) is <= its own (so itself and
its exact duplicates); labels of rows at steps <= step - delay; the category's rows on step - 1.
"""

from __future__ import annotations

import math
import statistics

import pandas as pd

from fraud_assets.features import definitions as d


def reference_features(transactions: pd.DataFrame, label_delay_steps: int = 1) -> pd.DataFrame:
    rows = transactions.to_dict("records")

    def canonical(row: dict) -> tuple:
        return (row["step"], row["customer"], row["merchant"], row["category"], row["amount"])

    out = []
    for row in rows:
        features = {"amount": row["amount"]}
        for name, levels in d.CATEGORICAL_LEVELS.items():
            features[name] = levels.index(row[name]) if row[name] in levels else math.nan
        for family, windows in d.AMOUNT_WINDOWS.items():
            seen = sorted(
                (r for r in rows if r[family] == row[family] and canonical(r) <= canonical(row)), key=canonical
            )
            amounts = [r["amount"] for r in seen]
            for window in windows:
                features[d.window_mean(family, window)] = statistics.fmean(amounts[-window:])
                features[d.window_std(family, window)] = _stdev(amounts[-window:])
            features[d.history_mean(family)] = statistics.fmean(amounts)
            features[d.history_std(family)] = _stdev(amounts)
            features[d.history_max(family)] = max(amounts)
            if family in d.NUMBERED_FAMILIES:
                features[d.transaction_number(family)] = len(amounts)
            labels = [
                r["fraud"]
                for r in rows
                if r[family] == row[family]
                and r["step"] <= row["step"] - label_delay_steps
                and not _missing(r.get("fraud"))
            ]
            features[d.fraud_rate(family)] = statistics.fmean(labels) if labels else math.nan
        yesterday = [r["amount"] for r in rows if r["category"] == row["category"] and r["step"] == row["step"] - 1]
        features[d.CATEGORY_PREVIOUS_STEP_MEAN] = statistics.fmean(yesterday) if yesterday else math.nan
        out.append(features)
    return pd.DataFrame(out, columns=list(d.FEATURE_COLUMNS), index=transactions.index, dtype=float)


def _stdev(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else math.nan


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
