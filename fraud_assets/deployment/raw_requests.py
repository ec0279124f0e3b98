"""Raw transactions in a Seldon request: what a payment system sends, checked field by field.

Two encodings, both with the Kaggle BankSim columns (`RAW_FIELDS`, zip codes optional):
    {"data": {"names": ["step", "customer", ...], "ndarray": [[...], ...]}}   names in any order
    {"jsonData": {"transactions": [{"step": ..., "customer": ..., ...}, ...]}}
String values may be quoted as in the Kaggle file ('C1093826151') or plain. A rule a row breaks
raises BadRequest naming the row, the field and the rule; values outside the catalogues (category,
age, gender) are not errors: the features code them NaN, as offline, and `warnings` says so.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from fraud_assets.data.schema import AGES, CATEGORIES, GENDERS
from fraud_assets.features.amount_history import MAX_ABS_AMOUNT
from fraud_assets.features.columns import TransactionColumns

REQUIRED_FIELDS = ("step", "customer", "age", "gender", "merchant", "category", "amount")
OPTIONAL_FIELDS = ("zipcodeOri", "zipMerchant")
RAW_FIELDS = (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
CATALOGUES = {"category": frozenset(CATEGORIES), "age": frozenset(AGES), "gender": frozenset(GENDERS)}


class BadRawRequest(ValueError):
    """A raw-transaction request that breaks a rule; the message names the row, field and rule."""


@dataclass(frozen=True)
class RawRequest:
    transactions: TransactionColumns  # REQUIRED_FIELDS, typed as the features expect
    warnings: list[str]
    with_features: bool  # the caller asked for each row's feature values (meta.tags.features)


def is_raw(request: dict) -> bool:
    """A raw-transaction request (rather than one carrying the model's feature vector)."""
    if "jsonData" in request:
        return True
    data = request.get("data")
    names = data.get("names") if isinstance(data, dict) else None
    return isinstance(names, list) and "customer" in names


def parse(request: dict, max_rows: int) -> RawRequest:
    rows = _rows(request)
    if not rows:
        raise BadRawRequest("the request holds no transactions")
    if len(rows) > max_rows:
        raise BadRawRequest(f"the request has {len(rows)} transactions; at most {max_rows} per request")
    columns = {name: [] for name in REQUIRED_FIELDS}
    for i, row in enumerate(rows):
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            raise BadRawRequest(f"transaction {i}: field {missing[0]!r} is missing (required: {list(REQUIRED_FIELDS)})")
        columns["step"].append(_step(i, row["step"]))
        columns["amount"].append(_amount(i, row["amount"]))
        for name in ("customer", "merchant", "category", "age", "gender"):
            columns[name].append(_text(i, name, row[name]))
    transactions = TransactionColumns.unlabelled(**columns)
    warnings = []
    for name, levels in CATALOGUES.items():
        unknown = sorted(set(columns[name]) - levels)
        if unknown:
            warnings.append(f"{name} {unknown} not in the catalogue: that feature is NaN for those transactions")
    tags = request.get("meta", {}).get("tags", {}) if isinstance(request.get("meta"), dict) else {}
    return RawRequest(transactions, warnings, isinstance(tags, dict) and tags.get("features") is True)


def _rows(request: dict) -> list[dict]:
    if "jsonData" in request:
        json_data = request["jsonData"]
        transactions = json_data.get("transactions") if isinstance(json_data, dict) else None
        if not isinstance(transactions, list) or not all(isinstance(t, dict) for t in transactions):
            raise BadRawRequest('expected {"jsonData": {"transactions": [{"step": ..., "customer": ..., ...}, ...]}}')
        return transactions
    data = request["data"]
    names, values = data.get("names"), data.get("ndarray")
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise BadRawRequest("data.names must be distinct field names (strings)")
    unknown = sorted(set(names) - set(RAW_FIELDS))
    if unknown:
        raise BadRawRequest(f"data.names has unknown fields {unknown}; raw transactions have {list(RAW_FIELDS)}")
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise BadRawRequest("data.ndarray must be a list of rows (lists of values)")
    for i, row in enumerate(values):
        if len(row) != len(names):
            raise BadRawRequest(f"transaction {i} has {len(row)} values for {len(names)} names")
    return [dict(zip(names, row, strict=True)) for row in values]


def _unquoted(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _step(i: int, value) -> int:
    value = _unquoted(value)
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value != int(value)
        or value < 0
    ):
        raise BadRawRequest(f"transaction {i}: field 'step' must be a whole number of days >= 0, got {value!r}")
    return int(value)


def _amount(i: int, value) -> float:
    original = value
    value = _unquoted(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRawRequest(f"transaction {i}: field 'amount' must be a number, got {original!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadRawRequest(f"transaction {i}: field 'amount' must be a number, got {original!r}")
    if not math.isfinite(value):
        raise BadRawRequest(f"transaction {i}: field 'amount' must be finite, got {original!r}")
    if value < 0:
        raise BadRawRequest(f"transaction {i}: field 'amount' must not be negative, got {original!r}")
    if value > MAX_ABS_AMOUNT:
        raise BadRawRequest(f"transaction {i}: field 'amount' must be at most {MAX_ABS_AMOUNT:,.0f}, got {original!r}")
    return float(value)


def _text(i: int, name: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise BadRawRequest(f"transaction {i}: field {name!r} must be a string, got {value!r}")
    text = str(_unquoted(value)).strip()
    if not text:
        raise BadRawRequest(f"transaction {i}: field {name!r} must not be empty")
    return text
