"""Drift between what the champion learned from (the reference) and the slices that came since.

Kept free of Evidently at import, so that loading the definitions (every run does) does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from fraud_assets import registry
from fraud_assets.data.validation import step_from_name
from fraud_assets.baseline import BASELINE_STEPS
from fraud_assets.features import FEATURE_COLUMNS

if TYPE_CHECKING:
    from fraud_assets.monitoring.drift import DriftResult

# Running counts grow with time by construction, so they "drift" on clean data; the model
# still uses them, but they carry no information about a change in the population.
NOT_DRIFT_TESTED = ("customer_transaction_number", "merchant_transaction_number")
DRIFT_COLUMNS = tuple(c for c in FEATURE_COLUMNS if c not in NOT_DRIFT_TESTED)
PER_SLICE_VIEW = 30  # the newest slices shown one by one


@dataclass(frozen=True)
class DriftOutcome:
    reference_slices: list[str]
    current_slices: list[str]
    basis: str  # what the reference is, in words
    current_rows: int
    result: DriftResult | None  # None when there is too little data on a side to judge
    per_slice: pd.DataFrame | None
    verdict: str | None  # why there is no result


def reference_and_current(slice_ids: list[str]) -> tuple[list[str], list[str], str]:
    """Reference = the slices the champion was trained on (baseline days without a champion);
    current = every slice not in the reference."""
    champion = registry.get_alias_version(registry.DEFAULT_MODEL_NAME, registry.CHAMPION)
    if champion is not None:
        reference = set(registry.training_slices(registry.DEFAULT_MODEL_NAME, champion))
        basis = f"training slices of champion version {champion}"
    else:
        reference = {k for k in slice_ids if step_from_name(k) in BASELINE_STEPS}
        basis = f"baseline steps {BASELINE_STEPS.start}-{BASELINE_STEPS.stop - 1} (no champion yet)"
    ref = [k for k in slice_ids if k in reference]
    return ref, [k for k in slice_ids if k not in reference], basis


def drift_since_reference(
    features: Mapping[str, pd.DataFrame], max_drift_share: float, sample_size: int
) -> DriftOutcome:
    """Evidently drift of the model's feature columns (never `step`, never the label) and target
    drift on `fraud`, between the reference and the current slices, plus a per-slice view so each
    new day shows its own drift."""
    # Imported here: Evidently takes seconds to import.
    from fraud_assets.monitoring.drift import MIN_ROWS_PER_SIDE, compute_drift, per_slice_summary

    slice_ids = sorted(features, key=lambda k: (step_from_name(k) or 0, k))
    ref_keys, cur_keys, basis = reference_and_current(slice_ids)
    reference, current = _concat(features, ref_keys), _concat(features, cur_keys)
    outcome = dict(reference_slices=ref_keys, current_slices=cur_keys, basis=basis, current_rows=len(current))
    if len(current) < MIN_ROWS_PER_SIDE or len(reference) < MIN_ROWS_PER_SIDE:
        why = ("no slices arrived since the reference: nothing new to drift" if not cur_keys else
               f"only {len(current)} new rows (Evidently needs more than {MIN_ROWS_PER_SIDE - 1} per side "
               "for its large-sample tests): not enough to judge drift yet")
        return DriftOutcome(**outcome, result=None, per_slice=None, verdict=why)
    result = compute_drift(reference, current, list(DRIFT_COLUMNS), sample_size=sample_size,
                           max_drift_share=max_drift_share)
    per_slice = per_slice_summary(reference, {k: features[k] for k in cur_keys[-PER_SLICE_VIEW:]}, list(DRIFT_COLUMNS),
                                  sample_size=sample_size, max_drift_share=max_drift_share)
    return DriftOutcome(**outcome, result=result, per_slice=per_slice, verdict=None)


def _concat(features: Mapping[str, pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    return pd.concat([features[k] for k in keys], ignore_index=True) if keys else pd.DataFrame()
