"""Group `monitoring`: Evidently drift between what the champion learned from and what came since."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, MetadataValue, Output, asset

from fraud_assets import metadata_links, registry, settings
from fraud_assets.asset_keys import DATA_DRIFT, DRIFT_REPORT, TARGET_DRIFT
from fraud_assets.automation import refresh_when_upstream_passes
from fraud_assets.execution import k8s_op_tags
from fraud_assets.monitoring.limits import DriftLimits
from fraud_assets.monitoring.reference import drift_since_reference
from fraud_assets.partitions import every_features_partition
from fraud_assets.storage import atomic_write_bytes


@asset(
    ins=every_features_partition(),
    group_name="monitoring",
    op_tags=k8s_op_tags("monitoring"),
    kinds={"evidently"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes(),
    check_specs=[
        AssetCheckSpec(DATA_DRIFT, asset=DRIFT_REPORT, blocking=True,
                       description="Share of drifted feature columns below FRAUD_MAX_DRIFT_SHARE "
                                   "(Evidently's dataset drift rule)"),
        AssetCheckSpec(TARGET_DRIFT, asset=DRIFT_REPORT, blocking=True,
                       description="The fraud rate has not moved by x1.5 or more "
                                   "(rate-ratio test with a Z-test p < 0.05)"),
    ],
)
def drift_report(
    context: AssetExecutionContext, transaction_features: dict[str, pd.DataFrame], drift_limits: DriftLimits
):
    """Evidently report: the champion's training data against the slices that arrived since,
    over the model's feature columns (never `step`, never the label), plus target drift on `fraud`,
    and a per-slice view so each new day shows its own drift."""
    outcome = drift_since_reference(transaction_features, drift_limits.max_drift_share, drift_limits.sample_size)
    base_meta = {"reference": outcome.basis, "reference_slices": len(outcome.reference_slices),
                 "current_slices": len(outcome.current_slices), "current_rows": outcome.current_rows}

    result = outcome.result
    if result is None:
        why = outcome.verdict
        yield Output({"verdict": why, **base_meta}, metadata={**base_meta, "verdict": why})
        for check in (DATA_DRIFT, TARGET_DRIFT):
            yield AssetCheckResult(check_name=check, passed=not outcome.current_slices, description=why,
                                   metadata={"reason": why})
        return

    html_path = settings.reports() / "drift" / f"drift-{context.run_id}.html"
    atomic_write_bytes(html_path, result.html.encode())
    experiment_id, mlflow_run_id = registry.log_drift_report(
        result.html, {"share_drifted": result.share_drifted, "current_rows": outcome.current_rows},
        {k: str(v) for k, v in base_meta.items()}, context.run_id)
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
            "per_slice": MetadataValue.md(outcome.per_slice.to_markdown(index=False, floatfmt=".4g")),
            "html_report": MetadataValue.path(str(html_path)),
            **metadata_links.drift_report(experiment_id, mlflow_run_id),
        },
    )
    yield AssetCheckResult(
        check_name=DATA_DRIFT, passed=result.passed_data_drift(), description=result.data_drift_message(),
        metadata={"share_drifted": float(result.share_drifted), "limit": drift_limits.max_drift_share,
                  "drifted": ", ".join(c.describe() for c in result.drifted_columns) or "none"},
    )
    yield AssetCheckResult(
        check_name=TARGET_DRIFT, passed=result.passed_target_drift(), description=result.target.message(),
        metadata={"reference_fraud_rate": result.target.reference_rate,
                  "current_fraud_rate": result.target.current_rate,
                  "score": float(result.target.score), "threshold": float(result.target.threshold)},
    )
