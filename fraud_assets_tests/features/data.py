"""Small transaction frames with what makes features tricky: repeated amounts, exact duplicates,
a missing day, keys of several sizes, and labels to leak."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_assets.data.schema import COLUMNS, merchant_categories

STEPS = (0, 1, 2, 3, 5, 6, 7, 8, 9)  # step 4 missing: a day without transactions
PROFILES = [("2", "F"), ("3", "M"), ("4", "F"), ("1", "M"), ("U", "E"), ("5", "F"), ("0", "M"), ("6", "U")]
CUSTOMERS = {f"C{n}": profile for n, profile in enumerate(PROFILES)}  # (age, gender)


def small_transactions(seed: int = 0, rows: int = 300, duplicates: int = 12) -> pd.DataFrame:
    """Typed BankSim rows sorted by step, as the reader delivers them."""
    rng = np.random.default_rng(seed)
    catalogue = merchant_categories()
    merchants = [m for m in catalogue if catalogue[m] == "es_health"][:3] + list(catalogue)[:3]
    customer = rng.choice(list(CUSTOMERS), size=rows)
    merchant = rng.choice(merchants, size=rows)
    repeated = rng.choice([9.99, 10.0, 25.5, 100.0], size=rows)
    drawn = np.round(rng.gamma(2.0, 30.0, size=rows), 2)
    frame = pd.DataFrame(
        {
            "step": rng.choice(STEPS, size=rows),
            "customer": customer,
            "age": [CUSTOMERS[c][0] for c in customer],
            "gender": [CUSTOMERS[c][1] for c in customer],
            "zipcodeOri": "28007",
            "merchant": merchant,
            "zipMerchant": "28007",
            "category": [catalogue[m] for m in merchant],
            "amount": np.where(rng.random(rows) < 0.4, repeated, drawn),
            "fraud": (rng.random(rows) < 0.2).astype(np.int64),
        }
    )
    copies = frame.sample(duplicates, random_state=seed).assign(fraud=lambda f: 1 - f["fraud"])
    habit = frame.iloc[[0] * len(STEPS)].assign(step=STEPS, customer="C_habit", amount=12.34, fraud=0)
    # exact duplicates (even with other labels), and a customer who always pays the same
    frame = pd.concat([frame, copies, habit], ignore_index=True)
    return frame.sort_values("step", kind="stable", ignore_index=True)[list(COLUMNS)]
