"""Validation rules for one landed file, shared by the sensor, the asset, its checks and the CLI.

A file is judged as a whole: if any blocking rule fails, nothing of it is stored and it goes to
quarantine with a reason file. Warnings (an unknown category or merchant, repeated rows) are
reported but do not stop the file, because real payments can repeat and catalogues grow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fraud_assets.data.reader import parse_raw, per_distinct, strip_quotes, to_typed
from fraud_assets.data.schema import AGES, CATEGORIES, COLUMNS, GENDERS, MERCHANTS, QUOTED_COLUMNS

FIRST_ROWS_SHOWN = 5
NULL_TEXTS = ("", "nan", "NaN", "NULL", "null", "None")
_STEP_IN_NAME = re.compile(r"step[_-]?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One rule outcome: which rule, how many rows, the first offending file lines, and why."""

    rule: str
    message: str
    lines: tuple[int, ...] = ()
    count: int = 0

    def describe(self, source: str) -> str:
        where = ""
        if self.lines:
            shown = ", ".join(str(n) for n in self.lines[:FIRST_ROWS_SHOWN])
            more = f" (+{self.count - FIRST_ROWS_SHOWN} more)" if self.count > FIRST_ROWS_SHOWN else ""
            where = f" at line {shown}{more}"
        return f"{source}: rule '{self.rule}' failed{where}: {self.message}"


@dataclass
class SliceValidation:
    """Everything known about one file after validation; `frame` is set only when it is usable."""

    source: str
    rows: int = 0
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    frame: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_text(self) -> str:
        return "\n".join(f.describe(self.source) for f in self.errors)

    def warning_text(self) -> str:
        return "\n".join(f.describe(self.source) for f in self.warnings)


class InvalidSliceError(ValueError):
    """Raised when a file breaks a blocking rule; the message names file, lines and rule."""

    def __init__(self, validation: SliceValidation):
        self.validation = validation
        super().__init__(validation.error_text())


def step_from_name(name: str) -> int | None:
    """The day a file claims to hold, from names like `step_042.csv` (None if it names none)."""
    match = _STEP_IN_NAME.search(name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def _lines(mask: np.ndarray) -> tuple[tuple[int, ...], int]:
    # +2: one for the header line, one because file lines count from 1.
    idx = np.flatnonzero(mask)
    return tuple(int(i) + 2 for i in idx[:FIRST_ROWS_SHOWN]), int(idx.size)


def _finding(rule: str, mask: np.ndarray, message: str) -> Finding | None:
    lines, count = _lines(mask)
    return Finding(rule, f"{count} row(s): {message}", lines, count) if count else None


def validate_bytes(data: bytes, source: str, expected_step: int | None = None, one_day: bool = True) -> SliceValidation:
    """Apply every rule to one file's bytes; never raises for bad content.

    `one_day=False` accepts a file spanning many steps (the whole Kaggle file, for profiling).
    """
    result = SliceValidation(source=source)

    if not data.strip():
        result.errors.append(Finding("not_empty", "the file is empty (0 data bytes)"))
        return result
    if b"\x00" in data:
        result.errors.append(Finding("text_file", "the file contains NUL bytes: binary, not CSV"))
        return result
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append(Finding("text_file", f"not UTF-8 text (byte {exc.start}): binary or wrong encoding"))
        return result

    lines = text.splitlines()
    header = [h.strip().strip("'\"") for h in lines[0].split(",")]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        result.errors.append(
            Finding("required_columns", f"missing column(s) {missing}; header is {lines[0][:200]!r}", (1,), 1)
        )
        return result
    body = [ln for ln in lines[1:]]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        result.errors.append(Finding("has_rows", "header only: the file holds no transactions"))
        return result

    n_fields = len(header)
    counts = np.fromiter((ln.count(",") + 1 for ln in body), dtype=np.int64, count=len(body))
    bad = _finding(
        "field_count",
        counts != n_fields,
        f"expected {n_fields} comma-separated fields (a truncated or malformed line)",
    )
    if bad:
        result.errors.append(bad)
        return result

    raw = strip_quotes(parse_raw(data))
    raw.columns = header
    raw = raw.loc[:, list(COLUMNS)]
    result.rows = len(raw)

    null_mask = np.zeros(len(raw), dtype=bool)
    for col in COLUMNS:
        null_mask |= per_distinct(raw[col], lambda text: text.str.strip().isin(NULL_TEXTS)).to_numpy(dtype=bool)
    if (f := _finding("no_nulls", null_mask, "empty or null value(s)")) is not None:
        result.errors.append(f)

    step = pd.to_numeric(raw["step"], errors="coerce")
    step_bad = step.isna().to_numpy() | (step.fillna(0) % 1 != 0).to_numpy() | (step.fillna(0) < 0).to_numpy()
    amount = pd.to_numeric(raw["amount"], errors="coerce")
    fraud = pd.to_numeric(raw["fraud"], errors="coerce")
    checks = [
        ("step_type", step_bad & ~null_mask, "step is not a non-negative integer"),
        ("amount_type", amount.isna().to_numpy() & ~null_mask, "amount is not a number"),
        (
            "amount_range",
            (~np.isfinite(amount.fillna(0).to_numpy()) | (amount.fillna(0).to_numpy() < 0)),
            "amount must be finite and >= 0",
        ),
        ("fraud_label", (~fraud.isin([0, 1])).to_numpy() & ~null_mask, "fraud must be 0 or 1"),
        ("age_code", (~raw["age"].isin(AGES)).to_numpy() & ~null_mask, f"age must be one of {list(AGES)}"),
        (
            "gender_code",
            (~raw["gender"].isin(GENDERS)).to_numpy() & ~null_mask,
            f"gender must be one of {list(GENDERS)}",
        ),
    ]
    for rule, mask, message in checks:
        if (f := _finding(rule, mask, message)) is not None:
            result.errors.append(f)

    steps = sorted(set(step.dropna().astype("int64")))
    if one_day and len(steps) > 1:
        result.errors.append(
            Finding("one_step_per_file", f"a landed file holds exactly one day (step); found {steps[:10]}")
        )
    elif steps and expected_step is not None and steps[0] != expected_step:
        mask = (step != expected_step).to_numpy()
        lines_, count = _lines(mask)
        result.errors.append(
            Finding(
                "step_matches_file", f"file is named for step {expected_step} but holds step {steps[0]}", lines_, count
            )
        )

    for rule, col, known in (("known_category", "category", CATEGORIES), ("known_merchant", "merchant", MERCHANTS)):
        mask = (~raw[col].isin(known)).to_numpy() & ~null_mask
        if (f := _finding(rule, mask, f"unknown {col} {sorted(set(raw[col][mask]))[:5]}")) is not None:
            result.warnings.append(f)
    dup = raw.duplicated(keep="first").to_numpy()
    if (
        f := _finding("duplicate_rows", dup, "exact repeats of an earlier row (kept: real payments can repeat)")
    ) is not None:
        result.warnings.append(f)

    if result.ok:
        result.frame = to_typed(raw)
    return result


def load_slice(data: bytes, source: str, expected_step: int | None = None, one_day: bool = True) -> SliceValidation:
    """Validate and type one file; raises InvalidSliceError naming file, lines and rule."""
    result = validate_bytes(data, source, expected_step, one_day)
    if not result.ok:
        raise InvalidSliceError(result)
    return result


def stored_slice_problems(frame: pd.DataFrame, expected_step: int | None) -> list[str]:
    """What breaks the column contract in a slice as stored (Parquet read back), one line per rule; [] if it holds.

    The landed file passed `validate_bytes` before it was stored, so this finds what happened after:
    a stored file written by another code version, or edited by hand.
    """
    if list(frame.columns) != list(COLUMNS):
        return [f"columns are {list(frame.columns)}, expected {list(COLUMNS)}"]
    if frame.empty:
        return ["the slice holds no rows"]
    problems = []
    for column, dtype in (("step", "int64"), ("amount", "float64"), ("fraud", "int64")):
        if str(frame[column].dtype) != dtype:
            problems.append(f"{column} is {frame[column].dtype}, expected {dtype}")
    for column in QUOTED_COLUMNS:
        if not frame[column].map(type).eq(str).all():
            problems.append(f"{column} holds values that are not strings")
    nulls = [c for c in COLUMNS if frame[c].isna().any()]
    if nulls:
        problems.append(f"null values in {nulls}")
    if problems:  # the value rules below need the right types
        return problems
    rules = [
        ("fraud must be 0 or 1", ~frame["fraud"].isin([0, 1])),
        ("amount must be finite and >= 0", ~np.isfinite(frame["amount"]) | (frame["amount"] < 0)),
        (f"age must be one of {list(AGES)}", ~frame["age"].isin(AGES)),
        (f"gender must be one of {list(GENDERS)}", ~frame["gender"].isin(GENDERS)),
    ]
    problems += [f"{int(bad.sum())} row(s): {rule}" for rule, bad in rules if bad.any()]
    steps = sorted(set(frame["step"].tolist()))
    if steps != [expected_step]:
        problems.append(f"the partition is for step {expected_step} but the slice holds step(s) {steps[:10]}")
    return problems
