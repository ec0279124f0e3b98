"""Transactions as typed column arrays: what the feature computation reads, from a frame or built directly.

Offline, `from_frame` checks and converts a DataFrame. Online, a request's few transactions are built
into arrays as they are parsed: a pandas frame of one row, and reading its columns back, cost more than
the features of the row themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from fraud_assets.features import definitions as d

_TEXT = (*d.FAMILIES, "age", "gender")  # the string columns


@dataclass(frozen=True, eq=False)
class TransactionColumns:
    """One array per input column, row i of every array being transaction i.

    `step` int64, `amount` float64, the keys and categoricals object arrays of strings, `fraud` float64
    (0, 1, NaN where not labelled). `index`: the row labels of the frame they came from (None: positions).
    """

    step: np.ndarray
    amount: np.ndarray
    customer: np.ndarray
    merchant: np.ndarray
    category: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    fraud: np.ndarray
    index: pd.Index | None = None

    @classmethod
    def unlabelled(cls, step: list, amount: list, **text: list) -> TransactionColumns:
        """Columns of transactions whose values were checked as they were read (step and amount numbers,
        the other fields strings), none labelled yet."""
        values = {name: np.array(text[name], dtype=object) for name in _TEXT}
        fraud = np.full(len(step), np.nan)
        return cls(np.array(step, dtype=np.int64), np.array(amount, dtype=np.float64), fraud=fraud, **values)

    @classmethod
    def of(cls, transactions: Transactions) -> TransactionColumns:
        return transactions if isinstance(transactions, TransactionColumns) else cls.from_frame(transactions)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> TransactionColumns:
        """The frame's columns as arrays, or an error naming the column and the rule it breaks."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"features: transactions must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in d.REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                f"features: transactions lack columns {missing} (need {list(d.REQUIRED_COLUMNS)}, "
                f"and '{d.LABEL_COLUMN}' where labels are known)"
            )
        step = frame["step"]
        if not pd.api.types.is_integer_dtype(step) or pd.api.types.is_bool_dtype(step):
            raise ValueError(f"features: column 'step' must hold integers (day numbers), got dtype {step.dtype}")
        amount = frame["amount"]
        if not pd.api.types.is_numeric_dtype(amount) or pd.api.types.is_bool_dtype(amount):
            raise ValueError(f"features: column 'amount' must be numeric, got dtype {amount.dtype}")
        text = {}
        for name in _TEXT:
            values = frame[name]  # missing keys are caught when they are coded
            text[name] = (values if values.dtype == object else values.astype(str)).to_numpy()
        columns = cls(
            step.to_numpy(dtype=np.int64),
            amount.to_numpy(dtype=np.float64),
            fraud=np.full(len(frame), np.nan),
            index=frame.index,
            **text,
        )
        if d.LABEL_COLUMN in frame.columns:
            label = frame[d.LABEL_COLUMN]
            fraud = pd.to_numeric(label, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~((fraud == 0) | (fraud == 1)) & label.notna().to_numpy()
            columns.reject_rows(bad, d.LABEL_COLUMN, "must be 0, 1 or missing (not yet labelled)")
            columns = replace(columns, fraud=fraud)
        return columns

    def __len__(self) -> int:
        return len(self.step)

    def __getitem__(self, name: str) -> np.ndarray:
        """A column by name, as a frame gives it (for code that reads either)."""
        return getattr(self, name)

    def rows(self, selected: np.ndarray) -> TransactionColumns:
        """The selected rows (a boolean mask), keeping their labels."""
        arrays = {name: getattr(self, name)[selected] for name in ("step", "amount", *_TEXT, "fraud")}
        return TransactionColumns(**arrays, index=self.frame_index()[selected])

    def frame_index(self) -> pd.Index:
        return pd.RangeIndex(len(self)) if self.index is None else self.index

    def reject_rows(self, bad: np.ndarray, column: str, rule: str) -> None:
        if bad.any():
            labels = list(self.frame_index()[bad][:5])
            raise ValueError(
                f"features: column '{column}' {rule}; {int(bad.sum())} rows break it, first index labels {labels}"
            )


# what online scoring takes: a frame (tests, tools) or parsed columns
type Transactions = pd.DataFrame | TransactionColumns
