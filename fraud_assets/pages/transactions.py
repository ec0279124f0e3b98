"""What the scoring page does, without Streamlit: the landed transactions, a customer's and a
merchant's history, a raw transaction posted to the live endpoint and its answer read back.

A transaction is scored as of a day that has landed, never a newer one: the server scores such a
late transaction against its current history and adds nothing to it, so trying the model here never
changes what the server has counted (see README "Scoring a raw transaction").
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.data.schema import LABEL
from fraud_assets.deployment.raw_requests import RAW_FIELDS
from fraud_assets.layout import StorageLayout

CANONICAL_ORDER = ["step", "customer", "merchant", "category", "amount"]
HISTORY_COLUMNS = ["step", "customer", "merchant", "category", "amount", LABEL]


class NotServing(RuntimeError):
    """No model answers at the endpoint; the message says why."""


class Refused(RuntimeError):
    """The endpoint answered, but not with a score (a 4xx/5xx and its reason)."""


@dataclass(frozen=True)
class Score:
    probability: float
    decision: int
    threshold: float | None
    model: str  # "<name> version <n>"
    features: dict
    warnings: list[str]


def slice_files(base=None) -> list:
    """The stored slices (one Parquet file per partition), in partition order."""
    folder = StorageLayout(base or settings.storage()).partitions_dir(TRANSACTION_SLICES)
    if not folder.exists():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(".parquet")), key=lambda p: p.name)


def landed_transactions(files) -> pd.DataFrame:
    """Every landed transaction in canonical order; its position is its transaction number."""
    if not files:
        return pd.DataFrame(columns=[*RAW_FIELDS, LABEL])
    frame = pd.concat([pd.read_parquet(f.open("rb")) for f in files], ignore_index=True)
    return frame.sort_values(CANONICAL_ORDER, kind="stable").reset_index(drop=True)


def pick_random(transactions: pd.DataFrame, label: int | None, rng: np.random.Generator) -> int:
    """A random transaction number, among frauds (1), legitimate ones (0) or all (None)."""
    candidates = transactions.index if label is None else transactions.index[transactions[LABEL] == label]
    if len(candidates) == 0:
        raise LookupError("no landed transaction " + ("at all" if label is None else f"with {LABEL}={label}"))
    return int(rng.choice(candidates))


def raw_transaction(row: Mapping) -> dict:
    """The Kaggle fields of a transaction as the endpoint takes them (JSON types)."""
    raw = {name: row[name] for name in RAW_FIELDS if name in row and not pd.isna(row[name])}
    for name, value in raw.items():
        raw[name] = value.item() if isinstance(value, np.generic) else value
    return raw


def history(
    transactions: pd.DataFrame, column: str, key: str, before: int | None = None, limit: int = 10
) -> tuple[pd.DataFrame, dict]:
    """The last `limit` transactions of a customer or merchant (before transaction number `before`,
    if given) and a summary of all of them: what the history features were computed from."""
    rows = transactions[transactions[column] == key]
    if before is not None:
        rows = rows[rows.index < before]
    summary = {
        "transactions": len(rows),
        "mean amount": round(float(rows["amount"].mean()), 2) if len(rows) else None,
        "frauds": int(rows[LABEL].sum()) if len(rows) else 0,
    }
    return rows.loc[:, HISTORY_COLUMNS].tail(limit), summary


def request_body(transaction: Mapping) -> dict:
    """One raw transaction, asking for its feature values back."""
    return {"jsonData": {"transactions": [dict(transaction)]}, "meta": {"tags": {"features": True}}}


def score(url: str, transaction: Mapping, timeout: float = 30.0) -> Score:
    """Post one raw transaction to the endpoint and read back its score, model and features."""
    request = urllib.request.Request(
        url,
        data=json.dumps(request_body(transaction)).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = error.read().decode(errors="replace")
        if error.code in (502, 503, 504):
            raise NotServing(f"{url} answered HTTP {error.code}: {answer[:500]}") from error
        raise Refused(f"{url} answered HTTP {error.code}: {answer[:500]}") from error
    except (urllib.error.URLError, OSError) as error:
        raise NotServing(f"nothing answers at {url}: {getattr(error, 'reason', error)}") from error
    return read_score(body)


def read_score(body: Mapping) -> Score:
    probability, decision = body["data"]["ndarray"][0]
    tags = body.get("meta", {}).get("tags", {})
    features = (tags.get("features") or [{}])[0]
    return Score(
        probability=float(probability),
        decision=int(decision),
        threshold=tags.get("threshold"),
        model=f"{tags.get('model_name', '?')} version {tags.get('model_version', '?')}",
        features=features,
        warnings=list(tags.get("warnings", [])),
    )


def endpoint(serving: Mapping | None) -> str | None:
    """The prediction URL of a deployer's status: the local stable URL, or the Kubernetes gateway."""
    if not serving:
        return None
    return serving.get("url") or serving.get("gateway") or serving.get("cluster")
