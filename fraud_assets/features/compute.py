"""The one feature computation behind training and scoring: raw transactions in, features out.

A full recompute is the incremental computation started from an empty state, so the two cannot
drift apart. Rows are processed in the canonical order (see `definitions`) and handed back in the
input's own order and index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_assets.features import definitions as d
from fraud_assets.features.amount_history import MAX_ABS_AMOUNT, amount_features, to_cents
from fraud_assets.features.columns import TransactionColumns
from fraud_assets.features.label_history import fraud_rates
from fraud_assets.features.ordering import SMALL_BATCH, KeyOrder, canonical_order, sortable_codes
from fraud_assets.features.state import FeatureState, KeyHistory
from fraud_assets.features.step_means import previous_step_means

# Each catalogue's level -> its code, looked up per distinct value (one transaction: no pandas Index to build).
_CATALOGUE_POSITIONS = {
    levels: {level: float(i) for i, level in enumerate(levels)} for levels in d.CATEGORICAL_LEVELS.values()
}
_FEATURE_INDEX = pd.Index(d.FEATURE_COLUMNS)  # built once: every output frame shares it
_ROW = {name: i for i, name in enumerate(d.FEATURE_COLUMNS)}  # each feature's row of the table


def compute_features(transactions: pd.DataFrame, config: d.FeatureConfig | None = None) -> pd.DataFrame:
    """Features of every row from itself and the rows before it.

    One row per input row, same order and index; columns `FEATURE_COLUMNS`, all float64.
    """
    features, _ = compute_features_incremental(transactions, None, config)
    return features


def compute_features_incremental(
    new_transactions: pd.DataFrame,
    state: FeatureState | None = None,
    config: d.FeatureConfig | None = None,
    step_open: bool = False,
) -> tuple[pd.DataFrame, FeatureState]:
    """Features of new rows on top of `state` (the history so far), and the state including them.

    The new rows must all be at steps after `state.last_step`, or also at it when the state is open.
    Their `fraud` column is optional: missing labels (at scoring time) only mean the fraud rates of
    later steps will not count them. `step_open`: more rows of the newest step may follow (online
    scoring, one transaction at a time in canonical order); the returned state then takes them.
    """
    table, new_state = feature_table(TransactionColumns.from_frame(new_transactions), state, config, step_open)
    return _frame(table, new_transactions.index), new_state


def feature_table(
    columns: TransactionColumns,
    state: FeatureState | None = None,
    config: d.FeatureConfig | None = None,
    step_open: bool = False,
) -> tuple[np.ndarray, FeatureState]:
    """`compute_features_incremental` on column arrays: row i of the table is feature `FEATURE_COLUMNS[i]`,
    column j belongs to transaction j. Online scoring calls it directly, with no frame to build or read."""
    config = config or d.FeatureConfig()
    state = state or FeatureState.empty(config)
    if state.label_delay_steps != config.label_delay_steps:
        raise ValueError(
            f"features: the state was built with label_delay_steps={state.label_delay_steps} "
            f"but the config asks for {config.label_delay_steps}; recompute the state"
        )
    table = np.empty((len(d.FEATURE_COLUMNS), len(columns)))  # one block: framed without a copy
    if len(columns) == 0:
        return table, state
    step, amount, fraud = columns.step, columns.amount, columns.fraud
    columns.reject_rows(
        ~(np.abs(amount) <= MAX_ABS_AMOUNT), "amount", f"must be a finite number within +-{MAX_ABS_AMOUNT:,.0f}"
    )
    cents = to_cents(amount)
    if state.last_step is not None and step.min() < state.last_step + (0 if state.step_open else 1):
        raise ValueError(
            f"features: the new transactions start at step {step.min()} but the state already holds "
            f"steps up to {state.last_step}; history-aware features need days in order "
            "(to redo a past day, start again from the state before it)"
        )

    coded = {family: sortable_codes(columns[family]) for family in d.FAMILIES}
    for family, (codes, _) in coded.items():
        columns.reject_rows(codes < 0, family, "must not be missing")
    canonical = canonical_order(step, coded["customer"][0], coded["merchant"][0], coded["category"][0], amount)
    # Input row j shows the features of canonical row source[j]: itself, or its last exact duplicate.
    source = canonical.tie_last[_inverse(canonical.rows)]

    families = {}
    category_totals, previous_category_totals = state.category_step_totals, state.previous_category_step_totals
    for family in d.FAMILIES:
        codes, distinct = coded[family]
        history, index_of_code = state.families[family].register(distinct)
        order = KeyOrder.of(index_of_code[codes[canonical.rows]])
        rows = canonical.rows[order.rows]  # input positions in key order
        features, amounts = amount_features(history.amounts, family, order, cents[rows])
        features[d.fraud_rate(family)], labels = fraud_rates(
            history.labels, order, step[rows], fraud[rows], config.label_delay_steps, step_open
        )
        if family == "category":
            n_keys = len(history.keys)
            features[d.CATEGORY_PREVIOUS_STEP_MEAN], category_totals, previous_category_totals = previous_step_means(
                category_totals.with_keys(n_keys),
                previous_category_totals.with_keys(n_keys),
                state.last_step,
                order,
                step[rows],
                cents[rows],
            )
        families[family] = KeyHistory(history.keys, amounts, labels)
        _place(table, features, _inverse(order.rows)[source])

    table[_ROW["amount"]] = amount
    for name, levels in d.CATEGORICAL_LEVELS.items():
        factorized = coded.get(name) or sortable_codes(columns[name])
        table[_ROW[name]] = _catalogue_codes(factorized, levels)
    last_step = int(step.max()) if state.last_step is None else max(int(step.max()), state.last_step)
    new_state = FeatureState(
        config.label_delay_steps, last_step, families, category_totals, previous_category_totals, step_open
    )
    return table, new_state


def _place(table: np.ndarray, features: dict[str, np.ndarray], source: np.ndarray) -> None:
    """Write features into their rows of the output table, taking value `source[j]` for input row j."""
    if len(source) <= SMALL_BATCH:  # a request's rows: all features in one copy rather than one each
        table[[_ROW[name] for name in features]] = np.array(list(features.values()))[:, source]
        return
    for name, values in features.items():
        np.take(values, source, out=table[_ROW[name]])


def _catalogue_codes(factorized: tuple[np.ndarray, np.ndarray], levels: tuple[str, ...]) -> np.ndarray:
    """Each value's position in the catalogue as a float, NaN when missing or not in the catalogue."""
    codes, distinct = factorized
    position = _CATALOGUE_POSITIONS[levels]
    # one entry per distinct value, then NaN for code -1 (a missing value)
    level_of_code = np.array([position.get(value, np.nan) for value in distinct.tolist()] + [np.nan])
    return level_of_code[codes]


def catalogue_code(column: str, value: str) -> float:
    """One value's position in its column's catalogue as a float, NaN when not in it (`_catalogue_codes`)."""
    return _CATALOGUE_POSITIONS[d.CATEGORICAL_LEVELS[column]].get(value, np.nan)


def _inverse(permutation: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation))
    return inverse


def _frame(table: np.ndarray, index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(table.T, columns=_FEATURE_INDEX, index=index, copy=False)
