"""Read and write BankSim's raw Kaggle format.

The real file wraps string fields in literal single quotes (`'C1093826151','4','M'`) and leaves
step, amount and fraud bare. Reading strips the quotes and types the columns; writing produces
the same bytes the Kaggle file has, so simulated slices and real ones go through one reader.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets.data.schema import COLUMNS, QUOTED_COLUMNS

DTYPES: dict[str, str] = {
    "step": "int64",
    **{c: "object" for c in QUOTED_COLUMNS},
    "amount": "float64",
    "fraud": "int64",
}


def parse_raw(data: bytes) -> pd.DataFrame:
    """Parse raw Kaggle-format bytes into string columns, quotes still present.

    Typing is left to validation so that a bad value can be reported by row and rule
    instead of failing inside the CSV parser.
    """
    return pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        quotechar='"',
        skipinitialspace=False,
        engine="c",
    )


def strip_quotes(frame: pd.DataFrame) -> pd.DataFrame:
    """Remove the single quotes that wrap Kaggle's string fields (a no-op if absent)."""
    out = frame.copy()
    for col in QUOTED_COLUMNS:
        if col in out.columns:
            out[col] = per_distinct(out[col], lambda text: text.str.strip().str.removeprefix("'").str.removesuffix("'"))
    return out


def per_distinct(values: pd.Series, change) -> pd.Series:
    """`change` (a function of a string Series) applied to each distinct value once and spread back: a day's
    column holds few distinct ages, categories or merchants, and pandas' string methods run a Python call a value
    (at 10x BankSim, stripping quotes row by row took most of a landed file's validation)."""
    codes, uniques = pd.factorize(values, sort=False)
    changed = change(pd.Series(uniques, dtype=object)).to_numpy()
    return pd.Series(changed[codes], index=values.index, name=values.name)


def to_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast already-validated string columns to the contract's dtypes, in contract order."""
    out = frame.loc[:, list(COLUMNS)].copy()
    out["step"] = out["step"].astype("int64")
    out["amount"] = out["amount"].astype("float64")
    out["fraud"] = out["fraud"].astype("int64")
    return out.reset_index(drop=True)


def read_kaggle_csv(source) -> pd.DataFrame:
    """Read a trusted Kaggle-format file (path or bytes) straight to typed columns.

    For files that may be bad, use `fraud_assets.data.validation.load_slice`, which names the
    offending rows instead of raising a parser error.
    """
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    return to_typed(strip_quotes(parse_raw(bytes(data))))


def _column_text(column: str, values: pd.Series) -> np.ndarray:
    """Each value as the Kaggle file prints it, formatting every distinct value once."""
    codes, uniques = pd.factorize(values, sort=False)
    if column in QUOTED_COLUMNS:
        text = [f"'{u}'" for u in uniques]
    elif column == "amount":
        # Shortest round-trip text of the 2-decimal value: 9.1, 4.55, 0.0 (as in the real file).
        text = [repr(round(float(u), 2)) for u in uniques]
    else:
        text = [str(int(u)) for u in uniques]
    return np.asarray(text, dtype=object)[codes]


def to_kaggle_csv(frame: pd.DataFrame) -> bytes:
    """Serialise typed transactions in the real file's format: unquoted header, quoted strings."""
    columns = [_column_text(col, frame[col]) for col in COLUMNS]
    body = "\n".join(map(",".join, zip(*columns, strict=False)))
    return (",".join(COLUMNS) + "\n" + body + ("\n" if body else "")).encode()
