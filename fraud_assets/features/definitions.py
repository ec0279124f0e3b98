"""The feature catalogue: which history statistics exist, what they are called, and in which order.

Names and order are fixed here, never derived from the data, so the model, the drift report and the
Seldon server address the same columns whatever slice they see (the original pipeline's one-hot columns came and
went with the data). Per customer, merchant and category (the windows as the original pipeline used them):

- `{key}_amount_mean_last_{N}`, `{key}_amount_std_last_{N}`: over the key's last N transactions;
- `{key}_amount_mean_all`, `..._std_all`, `..._max_all`: over all of the key's transactions so far;
- `{key}_transaction_number` (customer, merchant): 1 for the key's first transaction;
- `{key}_fraud_rate`: share of fraud among the key's labelled earlier transactions. (The original
  pipeline's "fraud committed mean" features were means of `amount`; those are the `amount_mean` ones.)
- `category_amount_mean_previous_step`: the category's mean amount on step - 1;
- `amount`, and `category`, `age`, `gender` as catalogue codes.

The definitions every feature follows:

- Canonical order. Within a step BankSim has no clock, so rows are ordered by the stable key
  (step, customer, merchant, category, amount). Rows equal on all five are *exact duplicates* and
  count as simultaneous: each one sees the others, so duplicates get identical features.
- The current row is included in its own amount windows, counts and maxima: its amount is known
  when it is scored. Its label is never used.
- Labels: a row at step s sees the labels of rows at steps <= s - label_delay_steps only (default 1:
  labels of step s are usable from step s + 1 on). Rows without a label (no `fraud` column, or NaN)
  count as not yet labelled.
- Amount statistics are computed in whole cents (amounts rounded to 2 decimals, as Kaggle prints
  them) with exact integer sums, so equal amounts have a deviation of exactly 0.
- Standard deviations are sample ones (ddof=1), NaN over a single amount; rates and means with
  nothing to average are NaN. HistGradientBoosting routes NaN natively.
- Categorical inputs (category, age, gender) are passed as float codes into the fixed catalogues of
  `fraud_assets.data.schema` (`CATEGORICAL_LEVELS[column][code]`), NaN for a value outside the
  catalogue, ready for HistGradientBoosting's native categorical support.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraud_assets.data.schema import AGES, CATEGORIES, GENDERS

FAMILIES: tuple[str, ...] = ("customer", "merchant", "category")
# The original pipeline's window lengths, in transactions of the same key.
AMOUNT_WINDOWS: dict[str, tuple[int, ...]] = {
    "customer": (5, 10),
    "merchant": (3, 5, 10, 50),
    "category": (10, 100),
}
NUMBERED_FAMILIES: tuple[str, ...] = ("customer", "merchant")
CATEGORICAL_LEVELS: dict[str, tuple[str, ...]] = {"category": CATEGORIES, "age": AGES, "gender": GENDERS}
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(CATEGORICAL_LEVELS)
# Input columns the features read; `fraud` is optional (unlabelled rows at scoring time).
REQUIRED_COLUMNS: tuple[str, ...] = ("step", "customer", "merchant", "category", "amount", "age", "gender")
LABEL_COLUMN = "fraud"


@dataclass(frozen=True)
class FeatureConfig:
    """Options that change feature values but not feature names."""

    label_delay_steps: int = 1

    def __post_init__(self) -> None:
        delay = self.label_delay_steps
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(
                f"FeatureConfig.label_delay_steps must be an integer >= 1 (a step's own labels are not known "
                f"while it is scored), got {delay!r}"
            )


def window_mean(family: str, window: int) -> str:
    return f"{family}_amount_mean_last_{window}"


def window_std(family: str, window: int) -> str:
    return f"{family}_amount_std_last_{window}"


def history_mean(family: str) -> str:
    return f"{family}_amount_mean_all"


def history_std(family: str) -> str:
    return f"{family}_amount_std_all"


def history_max(family: str) -> str:
    return f"{family}_amount_max_all"


def transaction_number(family: str) -> str:
    return f"{family}_transaction_number"


def fraud_rate(family: str) -> str:
    return f"{family}_fraud_rate"


CATEGORY_PREVIOUS_STEP_MEAN = "category_amount_mean_previous_step"


def _family_columns(family: str) -> list[str]:
    columns = [transaction_number(family)] if family in NUMBERED_FAMILIES else []
    for window in AMOUNT_WINDOWS[family]:
        columns += [window_mean(family, window), window_std(family, window)]
    return [*columns, history_mean(family), history_std(family), history_max(family)]


FEATURE_COLUMNS: tuple[str, ...] = (
    "amount",
    *CATEGORICAL_FEATURES,
    *(column for family in FAMILIES for column in _family_columns(family)),
    CATEGORY_PREVIOUS_STEP_MEAN,
    *(fraud_rate(family) for family in FAMILIES),
)
