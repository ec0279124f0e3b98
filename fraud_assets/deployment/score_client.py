"""`fraud-assets score`: a Kaggle-format file's transactions posted to the endpoint as raw transactions.

Rows go in canonical order (step, customer, merchant, category, amount), the order the features
define, in batches; exact duplicates stay in one batch so they are scored together, as offline.
Values are sent as the file has them (strings, with the quotes stripped); the server checks them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets.data.reader import parse_raw, strip_quotes
from fraud_assets.deployment.local import post_json
from fraud_assets.deployment.raw_requests import RAW_FIELDS

CANONICAL = ["step", "customer", "merchant", "category", "amount"]
BATCH_ROWS = 200


class ScoreError(RuntimeError):
    """The endpoint refused a batch; the message holds its answer."""


def batches(frame: pd.DataFrame, size: int = BATCH_ROWS) -> list[pd.DataFrame]:
    """Canonical order, cut into batches of about `size` rows, never between exact duplicates."""
    ordered = frame.assign(
        _step=pd.to_numeric(frame["step"], errors="coerce"), _amount=pd.to_numeric(frame["amount"], errors="coerce")
    )
    ordered = ordered.sort_values(["_step", "customer", "merchant", "category", "_amount"], kind="stable")
    keys = ordered[["_step", "customer", "merchant", "category", "_amount"]]
    starts = [0]
    for i in np.flatnonzero((keys != keys.shift()).any(axis=1).to_numpy()):
        if i - starts[-1] >= size:
            starts.append(int(i))
    ordered = ordered.drop(columns=["_step", "_amount"])
    return [ordered.iloc[a:b] for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True) if b > a]


def score_file(path: str | Path, url: str, batch_rows: int = BATCH_ROWS) -> pd.DataFrame:
    """The file's rows (in file order) with `fraud_probability` and `fraud_decision` added."""
    frame = strip_quotes(parse_raw(Path(path).read_bytes()))
    fields = [c for c in RAW_FIELDS if c in frame.columns]
    probability, decision = pd.Series(index=frame.index, dtype="float64"), pd.Series(index=frame.index, dtype="Int64")
    for batch in batches(frame, batch_rows):
        status, body = post_json(url, {"jsonData": {"transactions": batch[fields].to_dict("records")}}, timeout=60)
        if status != 200:
            info = body.get("status", {}).get("info", body)
            raise ScoreError(f"{url} answered HTTP {status} for rows {list(batch.index[:5])}...: {info}")
        values = body["data"]["ndarray"]
        probability[batch.index] = [p for p, _ in values]
        decision[batch.index] = [d for _, d in values]
    return frame.assign(fraud_probability=probability, fraud_decision=decision)
