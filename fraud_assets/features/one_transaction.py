"""A request of one transaction scored straight from the records of its three keys.

`feature_table` on a one-row sub-state spent most of its time building and reading arrays: the records
made into a `FeatureState`, a row ordered, keys registered, and the new state cut into records again.
Here the records' numbers go to the per-key functions `feature_table`'s one-row-per-key branches call
(`key_amount_row`, `settled_rate`, `step_mean`, `catalogue_code`), so each feature is still computed by
the one shared code, and the new records are written as `split_state` writes them.

It covers the usual request: one transaction with every field a string or a number, unlabelled, on
time for the state, whose keys hold no pending labels (those exist only with a label delay above one
step). Anything else returns None, and the caller takes `feature_table`.
"""

from __future__ import annotations

import math

import numpy as np

from fraud_assets.features import definitions as d
from fraud_assets.features.amount_history import MAX_ABS_AMOUNT, amount_feature_names, key_amount_row
from fraud_assets.features.columns import TransactionColumns
from fraud_assets.features.compute import catalogue_code
from fraud_assets.features.entities import Record, Records
from fraud_assets.features.label_history import settled_rate
from fraud_assets.features.step_means import step_mean

_TAIL_WIDTH = {family: max(d.AMOUNT_WINDOWS[family]) - 1 for family in d.FAMILIES}
_AMOUNT_NAMES = {family: amount_feature_names(family) for family in d.FAMILIES}
_FRAUD_RATE = {family: d.fraud_rate(family) for family in d.FAMILIES}
_NO_HISTORY: Record = {"count": 0, "sum": 0.0, "squares": 0.0, "max": -math.inf, "tail": [], "frauds": 0, "labelled": 0}


def one_transaction_features(
    columns: TransactionColumns, records: Records, last_step: int | None, step_open: bool
) -> tuple[np.ndarray, Records, int] | None:
    """`feature_table` of one transaction on the state these records and `last_step`/`step_open` assemble into:
    the table (one column), the touched keys' records after it, and the state's last step after it; None
    when the transaction is not one this path covers (module docstring)."""
    if len(columns) != 1 or not math.isnan(columns.fraud[0]):
        return None
    step, amount = int(columns.step[0]), float(columns.amount[0])
    if last_step is not None and step < last_step + (0 if step_open else 1):
        return None  # feature_table refuses it
    if not abs(amount) <= MAX_ABS_AMOUNT:
        return None
    keys = {family: columns[family][0] for family in d.FAMILIES}
    if not all(type(key) is str for key in keys.values()) or not all(
        type(columns[name][0]) is str for name in ("age", "gender")
    ):
        return None
    held = {family: records.get(family, {}).get(key) or _NO_HISTORY for family, key in keys.items()}
    if any(record.get("pending") for record in held.values()):
        return None

    cents = round(amount * 100.0)  # np.rint's value: both round halves to even
    values = {"amount": amount}
    for name in d.CATEGORICAL_FEATURES:
        values[name] = catalogue_code(name, columns[name][0])
    updated: Records = {}
    for family, record in held.items():
        tail = record["tail"]
        row, (count, total, squares, max_cents) = key_amount_row(
            family,
            tail,  # integers (`split_state`): exact sums, as the general path takes them
            int(record["count"]),
            float(record["sum"]),
            float(record["squares"]),
            float(record["max"]),
            cents,
        )
        values.update(zip(_AMOUNT_NAMES[family], row, strict=True))
        values[_FRAUD_RATE[family]] = settled_rate(int(record["frauds"]), int(record["labelled"]))
        updated[family] = {
            keys[family]: {
                "count": count,
                "sum": total,
                "squares": squares,
                "max": max_cents,
                "tail": [*tail[max(len(tail) + 1 - _TAIL_WIDTH[family], 0) :], cents],
                "frauds": int(record["frauds"]),
                "labelled": int(record["labelled"]),
                "pending": [],
            }
        }
    new_last_step = step if last_step is None else max(step, last_step)
    mean, steps = _previous_step_mean(held["category"], last_step, step, cents, new_last_step)
    values[d.CATEGORY_PREVIOUS_STEP_MEAN] = mean
    if steps:
        updated["category"][keys["category"]]["steps"] = steps
    table = np.array([values[name] for name in d.FEATURE_COLUMNS], dtype=np.float64).reshape(-1, 1)
    return table, updated, new_last_step


def _previous_step_mean(
    record: Record, last_step: int | None, step: int, cents: int, new_last_step: int
) -> tuple[float, list[list[int]]]:
    """The category's mean on step - 1 (`previous_step_means`), and its `steps` entries after the row: its totals on
    the new last step and the one before, where it had rows (as `split_state` writes them)."""
    held = {}
    if last_step is not None:
        for entry_step, cents_sum, count in record.get("steps", []):
            if entry_step in (last_step, last_step - 1):
                held[entry_step] = (int(cents_sum), int(count))
    before = held.get(step - 1)
    mean = math.nan if before is None else step_mean(*before)
    steps = []
    for at in (new_last_step - 1, new_last_step):
        cents_sum, count = held.get(at, (0, 0))
        if at == step:
            cents_sum, count = cents_sum + cents, count + 1
        if count > 0:
            steps.append([at, cents_sum, count])
    return mean, steps
