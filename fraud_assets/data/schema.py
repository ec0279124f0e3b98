"""The BankSim column contract shared by the reader, the simulator, the checks and the features.

Everything that decides whether a row is usable lives here, so the landing sensor, the
`validate` command and the asset checks can never disagree about a file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

COLUMNS: tuple[str, ...] = (
    "step",
    "customer",
    "age",
    "gender",
    "zipcodeOri",
    "merchant",
    "zipMerchant",
    "category",
    "amount",
    "fraud",
)
# Kaggle's file wraps the string fields in literal single quotes; step, amount and fraud are bare.
BARE_COLUMNS: tuple[str, ...] = ("step", "amount", "fraud")
QUOTED_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in BARE_COLUMNS)
LABEL = "fraud"

AGES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "6", "U")
GENDERS: tuple[str, ...] = ("F", "M", "E", "U")


@cache
def reference_profile() -> dict:
    """The measured shape of the real BankSim file (shipped with the package)."""
    text = resources.files("fraud_assets.data").joinpath("banksim_profile.json").read_text()
    return json.loads(text)


@cache
def merchant_categories() -> dict[str, str]:
    """merchant id -> category, the unique assignment the profile derives."""
    by_cat = reference_profile()["merchants_by_category"]
    return {m: cat for cat, merchants in by_cat.items() for m in merchants}


CATEGORIES: tuple[str, ...] = tuple(reference_profile()["categories"])
MERCHANTS: tuple[str, ...] = tuple(merchant_categories())
