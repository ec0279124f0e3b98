"""Group `monitoring`: Evidently drift between what the champion learned from and what came since."""

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    MetadataValue,
    Output,
    asset,
)

from fraud_assets.execution import k8s_op_tags
from fraud_assets import settings
from fraud_assets.automation import refresh_when_upstream_passes
from fraud_assets.data.validation import step_from_name
from fraud_assets.data.warehouse import BASELINE_STEPS
from fraud_assets.features import FEATURE_COLUMNS
from fraud_assets.monitoring.limits import DriftLimits
from fraud_assets.storage import atomic_write_bytes
from fraud_assets import registry

# Running counts grow with time by construction, so they "drift" on clean data; the model
# still uses them, but they carry no information about a change in the population.
NOT_DRIFT_TESTED = ("customer_transaction_number", "merchant_transaction_number")
DRIFT_COLUMNS = tuple(c for c in FEATURE_COLUMNS if c not in NOT_DRIFT_TESTED)
DATA_DRIFT = "drift_share_within_limit"
TARGET_DRIFT = "no_target_drift"


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


def _concat(features: dict[str, pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    return pd.concat([features[k] for k in keys], ignore_index=True) if keys else pd.DataFrame()


@asset(
    ins={"transaction_features": AssetIn(partition_mapping=AllPartitionMapping())},
    group_name="monitoring",
    op_tags=k8s_op_tags("monitoring"),
    kinds={"evidently"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes(),
    check_specs=[
        AssetCheckSpec(DATA_DRIFT, asset="drift_report", blocking=True,
                       description="Share of drifted feature columns below FRAUD_MAX_DRIFT_SHARE (Evidently's dataset drift rule)"),
        AssetCheckSpec(TARGET_DRIFT, asset="drift_report", blocking=True,
                       description="The fraud rate has not moved by x1.5 or more (rate-ratio test with a Z-test p < 0.05)"),
    ],
)
def drift_report(context: AssetExecutionContext, transaction_features: dict[str, pd.DataFrame], drift_limits: DriftLimits):
    """Evidently report: the champion's training data against the slices that arrived since,
    over the model's feature columns (never `step`, never the label), plus target drift on `fraud`,
    and a per-slice view so each new day shows its own drift."""
    # Imported here: Evidently takes seconds to import, and every other run loads this module.
    from fraud_assets.monitoring.drift import MIN_ROWS_PER_SIDE, compute_drift, per_slice_summary

    slice_ids = sorted(transaction_features, key=lambda k: (step_from_name(k) or 0, k))
    ref_keys, cur_keys, basis = reference_and_current(slice_ids)
    reference, current = _concat(transaction_features, ref_keys), _concat(transaction_features, cur_keys)
    base_meta = {"reference": basis, "reference_slices": len(ref_keys), "current_slices": len(cur_keys),
                 "current_rows": len(current)}

    if len(current) < MIN_ROWS_PER_SIDE or len(reference) < MIN_ROWS_PER_SIDE:
        no_new = not cur_keys
        why = ("no slices arrived since the reference: nothing new to drift" if no_new else
               f"only {len(current)} new rows (Evidently needs more than {MIN_ROWS_PER_SIDE - 1} per side "
               "for its large-sample tests): not enough to judge drift yet")
        yield Output({"verdict": why, **base_meta}, metadata={**base_meta, "verdict": why})
        for check in (DATA_DRIFT, TARGET_DRIFT):
            yield AssetCheckResult(check_name=check, passed=no_new, description=why, metadata={"reason": why})
        return

    result = compute_drift(reference, current, list(DRIFT_COLUMNS), sample_size=drift_limits.sample_size,
                           max_drift_share=drift_limits.max_drift_share)
    per_slice = per_slice_summary(reference, {k: transaction_features[k] for k in cur_keys[-30:]}, list(DRIFT_COLUMNS),
                                  sample_size=drift_limits.sample_size, max_drift_share=drift_limits.max_drift_share)
    html_path = settings.reports() / "drift" / f"drift-{context.run_id}.html"
    atomic_write_bytes(html_path, result.html.encode())
    summary = {
        **base_meta,
        "share_drifted": result.share_drifted,
        "drifted_columns": [c.column for c in result.drifted_columns],
        "data_drift_passed": result.passed_data_drift(),
        "target_drift_passed": result.passed_target_drift(),
        "data_drift": result.data_drift_message(),
        "target_drift": result.target.message(),
        "report": str(html_path),
    }
    yield Output(
        summary,
        metadata={
            **base_meta,
            "share_drifted": float(result.share_drifted),
            "max_drift_share": drift_limits.max_drift_share,
            "target_drift": result.target.message(),
            "columns": MetadataValue.md(result.to_markdown()),
            "per_slice": MetadataValue.md(per_slice.to_markdown(index=False, floatfmt=".4g")),
            "html_report": MetadataValue.path(str(html_path)),
            "html_report_url": MetadataValue.url(html_path.as_uri() if hasattr(html_path, "as_uri") else str(html_path)),
        },
    )
    yield AssetCheckResult(
        check_name=DATA_DRIFT, passed=result.passed_data_drift(), description=result.data_drift_message(),
        metadata={"share_drifted": float(result.share_drifted), "limit": drift_limits.max_drift_share,
                  "drifted": ", ".join(c.describe() for c in result.drifted_columns) or "none"},
    )
    yield AssetCheckResult(
        check_name=TARGET_DRIFT, passed=result.passed_target_drift(), description=result.target.message(),
        metadata={"reference_fraud_rate": result.target.reference_rate, "current_fraud_rate": result.target.current_rate,
                  "score": float(result.target.score), "threshold": float(result.target.threshold)},
    )
