"""Features of transactions scored one request at a time, from the records of the keys they touch.

The same computation as offline (`compute_features_incremental`) on a sub-state: the state's
records of the request's customers, merchants and categories. Where the online state stands is a
`Position`: the last landed step (the stored state it started from) and the newest step scored
online since (the open step, which may still get rows). Scoring a day's transactions in canonical
order, one at a time, gives exactly the offline features of that day; exact duplicates (equal step,
customer, merchant, category and amount) are the exception when they come in separate requests:
offline each sees the other, online the first cannot see the one that has not come yet.

A *late* transaction, at a step before the open step (or at or before the last landed step when
nothing was scored since), cannot take its place in history: offline its day is closed (landed) or
already followed by later rows. It is scored as if it came now, at the open step (the step after
the landed one when none is open), against the current state, and changes nothing. If its day's
landed slice holds it, the next rebase counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from fraud_assets.features.columns import TransactionColumns, Transactions
from fraud_assets.features.compute import compute_features_incremental, feature_table
from fraud_assets.features.definitions import FEATURE_COLUMNS, FeatureConfig
from fraud_assets.features.entities import Records, assemble_state, split_state
from fraud_assets.features.one_transaction import one_transaction_features
from fraud_assets.features.state import FeatureState


@dataclass(frozen=True)
class Position:
    """`landed_step`: the last step of the stored state the online state rests on (None: none yet);
    `open_step`: the newest step scored online after it (None: nothing scored since); `landed_inputs`:
    that stored state's inputs digest (`features.inputs`), so a stored state of the same step recomputed
    on other days (a late or corrected day) is told apart."""

    label_delay_steps: int
    landed_step: int | None
    open_step: int | None = None
    landed_inputs: str | None = None

    @property
    def last_step(self) -> int | None:
        return self.open_step if self.open_step is not None else self.landed_step

    def is_late(self, step: np.ndarray) -> np.ndarray:
        if self.open_step is not None:
            return step < self.open_step
        if self.landed_step is not None:
            return step <= self.landed_step
        return np.zeros(len(step), dtype=bool)

    @property
    def scoring_step_for_late(self) -> int:
        if self.open_step is not None:
            return self.open_step
        if self.landed_step is None:
            raise ValueError("online state: no step landed or open yet")
        return self.landed_step + 1


@dataclass(frozen=True)
class OnlineFeatures:
    table: np.ndarray  # feature i of transaction j at [i, j] (`FEATURE_COLUMNS` order), the request's order
    index: pd.Index | None  # the request's row labels (None: positions)
    records: Records  # the touched keys' records after the request (unchanged when every row was late)
    position: Position
    late: np.ndarray  # per row: scored as late, not added to the state

    @cached_property
    def features(self) -> pd.DataFrame:
        """`FEATURE_COLUMNS`, in the request's order and index."""
        index = pd.RangeIndex(self.table.shape[1]) if self.index is None else self.index
        return pd.DataFrame(self.table.T, columns=list(FEATURE_COLUMNS), index=index)


def score_features(transactions: Transactions, records: Records, position: Position) -> OnlineFeatures:
    """Features of a request's transactions on top of the records of every key they touch.

    `records` may lack keys never seen (they start with no history). The returned records replace
    the given ones; the transactions that were not late belong to the log a rebase replays.
    """
    columns = TransactionColumns.of(transactions)
    late = position.is_late(columns.step)
    if not late.any():
        one = one_transaction_features(columns, records, position.last_step, position.open_step is not None)
        if one is not None:  # the usual request, without a state to assemble and split
            table, new_records, last_step = one
            return OnlineFeatures(table, columns.index, new_records, replace(position, open_step=last_step), late)
    return _score_rows(columns, records, position, late)


def _score_rows(columns: TransactionColumns, records: Records, position: Position, late: np.ndarray) -> OnlineFeatures:
    """`score_features` through `feature_table`, for any request."""
    config = FeatureConfig(position.label_delay_steps)
    state = assemble_state(records, position.label_delay_steps, position.last_step, position.open_step is not None)
    if not late.any():  # the usual request: no row to set apart
        table, new_state = feature_table(columns, state, config, step_open=True)
    else:
        table, new_state = np.empty((len(FEATURE_COLUMNS), len(columns))), state
        if (~late).any():
            table[:, ~late], new_state = feature_table(columns.rows(~late), state, config, step_open=True)
        moved = columns.rows(late)
        moved = replace(moved, step=np.full(len(moved), position.scoring_step_for_late))
        table[:, late] = feature_table(moved, state, config, step_open=True)[0]
    index = columns.index
    if new_state is state:
        return OnlineFeatures(table, index, records, position, late)
    return OnlineFeatures(table, index, split_state(new_state), replace(position, open_step=new_state.last_step), late)


def rebase(stored: FeatureState, log: pd.DataFrame) -> tuple[FeatureState, Position]:
    """The online state on a newly stored state: its rows, plus the logged online transactions of later
    steps replayed in canonical order (the slice's own rows are not counted twice)."""
    later = log if stored.last_step is None else log[log["step"] > stored.last_step]
    position = Position(stored.label_delay_steps, stored.last_step, landed_inputs=stored.inputs)
    if later.empty:
        return stored, position
    config = FeatureConfig(stored.label_delay_steps)
    _, state = compute_features_incremental(later, stored, config, step_open=True)
    return state, replace(position, open_step=state.last_step)
