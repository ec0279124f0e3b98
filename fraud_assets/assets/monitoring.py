"""Group `monitoring`: Evidently drift between what the champion learned from (or a person accepted)
and what came since."""

from collections.abc import Mapping

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetMaterialization,
    AssetSpec,
    AutomationCondition,
    Config,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    Output,
    ResourceParam,
    asset,
    job,
    op,
)
from pydantic import Field

from fraud_assets import metadata_links, registry, settings
from fraud_assets.asset_keys import (
    DATA_DRIFT,
    DRIFT_REFERENCE,
    DRIFT_REPORT,
    MODEL_DEPLOYMENT,
    TARGET_DRIFT,
    TRANSACTION_FEATURES,
)
from fraud_assets.automation import refresh_when_upstream_passes_without
from fraud_assets.execution import k8s_op_tags, records_peak_memory
from fraud_assets.monitoring import acceptance
from fraud_assets.monitoring.limits import DriftLimits
from fraud_assets.monitoring.reference import DRIFT_INPUT_COLUMNS, DriftSamples, drift_since_reference, per_slice_view
from fraud_assets.partitions import every_features_partition
from fraud_assets.storage import PartitionedParquetIOManager, atomic_write_bytes

ACCEPTANCE = "acceptance"  # the drift_reference metadata entry drift_report and lineage read back
SAMPLES = "samples"  # drift_report's entry naming the stored samples it judged, for drift_report_html


class DriftAcceptanceConfig(Config):
    reason: str = Field(description="Why the drift is the new normal (recorded with who and when)")
    accepted_by: str = Field(default=acceptance.os_user(), description="Who accepts it (default: the OS user)")


# Recorded by the `accept_drift` job only, never by automation or "Materialize unsynced": a spec, not a
# materializable asset, so the graph shows it (and what it depends on) without ever asking for a reason.
drift_reference = AssetSpec(
    DRIFT_REFERENCE,
    deps=[TRANSACTION_FEATURES],
    group_name="monitoring",
    owners=["team:fraud-ml"],
    description="A person's decision that the drift is the new normal: drift_report then compares newer slices "
    "with every slice that had features when it was accepted. Record one with the accept_drift job "
    "(Launchpad: a reason) or `fraud-assets drift accept --reason TEXT`.",
)


@op(tags=k8s_op_tags("monitoring"))
def record_drift_acceptance(context: OpExecutionContext, config: DriftAcceptanceConfig) -> str:
    """Records which slices the reference holds from now on, who accepted the drift, why and when."""
    slices = context.instance.get_materialized_partitions(TRANSACTION_FEATURES)
    decision = acceptance.accept(slices, config.reason, config.accepted_by)
    context.log_event(
        AssetMaterialization(
            asset_key=DRIFT_REFERENCE,
            description=decision.describe(),
            metadata={
                "accepted_by": decision.accepted_by,
                "reason": decision.reason,
                "accepted_at": decision.accepted_at,
                "reference_slices": f"{len(decision.slices)} ({decision.slices[0]} .. {decision.slices[-1]})",
                ACCEPTANCE: MetadataValue.json(decision.to_metadata()),
            },
        )
    )
    return decision.describe()


@job(description="Accept the current drift: the drift reference moves to every slice with features (needs a reason)")
def accept_drift():
    record_drift_acceptance()


def latest_acceptance(instance: DagsterInstance) -> acceptance.DriftAcceptance | None:
    """The newest recorded drift acceptance, or None when nobody accepted a drift yet."""
    event = instance.get_latest_materialization_event(DRIFT_REFERENCE)
    entry = event.asset_materialization.metadata.get(ACCEPTANCE) if event and event.asset_materialization else None
    return acceptance.DriftAcceptance.from_metadata(entry.value) if entry is not None else None


@asset(
    ins=every_features_partition(columns=DRIFT_INPUT_COLUMNS),
    deps=[DRIFT_REFERENCE],
    group_name="monitoring",
    op_tags=k8s_op_tags("monitoring"),
    kinds={"scipy"},
    owners=["team:fraud-ml"],
    code_version="1",
    automation_condition=refresh_when_upstream_passes_without(DRIFT_REFERENCE),
    check_specs=[
        AssetCheckSpec(
            DATA_DRIFT,
            asset=DRIFT_REPORT,
            blocking=True,
            description="Share of drifted feature columns below FRAUD_MAX_DRIFT_SHARE (Evidently's dataset drift rule)",
        ),
        AssetCheckSpec(
            TARGET_DRIFT,
            asset=DRIFT_REPORT,
            blocking=True,
            description="The fraud rate has not moved by x1.5 or more (rate-ratio test with a Z-test p < 0.05)",
        ),
    ],
)
@records_peak_memory
def drift_report(
    context: AssetExecutionContext,
    transaction_features: Mapping[str, pd.DataFrame],
    drift_limits: DriftLimits,
    io_manager: ResourceParam[PartitionedParquetIOManager],
):
    """Evidently's drift verdicts: the slices the champion read (or the accepted reference, whichever is newer)
    against the slices that arrived since, over the model's drift-tested feature columns, plus target
    drift on `fraud`; only those slices are read. Too few new rows is no failure: the checks pass saying
    what they wait for, and model_deployment waits too. The per-slice view and the HTML report of the same
    samples are drift_report_html's, after this gate: they take longer than the verdicts."""
    outcome = drift_since_reference(
        transaction_features,
        drift_limits.max_drift_share,
        drift_limits.sample_size,
        latest_acceptance(context.instance),
        rankings_dir=io_manager.layout().drift_rankings_dir(),
    )
    base_meta = {
        "reference": outcome.basis,
        "reference_slices": len(outcome.reference_slices),
        "current_slices": len(outcome.current_slices),
        "current_rows": outcome.current_rows,
    }

    result = outcome.result
    if result is None:
        why = outcome.verdict
        yield Output(
            {"verdict": why, "waiting": outcome.waiting, **base_meta},
            metadata={**base_meta, "verdict": why, "waiting": outcome.waiting},
        )
        nothing_to_block = outcome.waiting or not outcome.current_slices
        for check in (DATA_DRIFT, TARGET_DRIFT):
            yield AssetCheckResult(
                check_name=check,
                passed=nothing_to_block,
                description=why,
                metadata={"reason": why, "waiting": outcome.waiting},
            )
        return

    samples = outcome.samples.write(settings.reports() / "drift", f"drift-{context.run_id}")
    summary = {
        **base_meta,
        "share_drifted": result.share_drifted,
        "drifted_columns": [c.column for c in result.drifted_columns],
        "data_drift_passed": result.passed_data_drift(),
        "target_drift_passed": result.passed_target_drift(),
        "data_drift": result.data_drift_message(),
        "target_drift": result.target.message(),
        SAMPLES: samples,
        "current_slice_keys": outcome.current_slices,
        "waiting": False,
    }
    yield Output(
        summary,
        metadata={
            **base_meta,
            "share_drifted": float(result.share_drifted),
            "max_drift_share": drift_limits.max_drift_share,
            "target_drift": result.target.message(),
            "columns": MetadataValue.md(result.to_markdown()),
        },
    )
    yield AssetCheckResult(
        check_name=DATA_DRIFT,
        passed=result.passed_data_drift(),
        description=_with_how_to_accept(result.data_drift_message(), result.passed_data_drift()),
        metadata={
            "share_drifted": float(result.share_drifted),
            "limit": drift_limits.max_drift_share,
            "drifted": ", ".join(c.describe() for c in result.drifted_columns) or "none",
        },
    )
    yield AssetCheckResult(
        check_name=TARGET_DRIFT,
        passed=result.passed_target_drift(),
        description=_with_how_to_accept(result.target.message(), result.passed_target_drift()),
        metadata={
            "reference_fraud_rate": result.target.reference_rate,
            "current_fraud_rate": result.target.current_rate,
            "score": float(result.target.score),
            "threshold": float(result.target.threshold),
        },
    )


@asset(
    ins={"drift_report": AssetIn(key=DRIFT_REPORT), **every_features_partition(columns=DRIFT_INPUT_COLUMNS)},
    deps=[MODEL_DEPLOYMENT],
    group_name="monitoring",
    op_tags=k8s_op_tags("monitoring"),
    kinds={"evidently", "mlflow"},
    owners=["team:fraud-ml"],
    code_version="1",
    # Plain eager, not past passed checks: a report matters most when drift blocked the deployment. Behind
    # model_deployment it waits for the run that made drift_report to end (eager waits while a dependency is
    # in progress, and a run's skipped deployment stays in progress until the run ends), so it never takes
    # the CPU from that run's model and deployment; a new drift_report alone still triggers it.
    automation_condition=AutomationCondition.eager(),
)
@records_peak_memory
def drift_report_html(
    context: AssetExecutionContext,
    drift_report: dict,
    transaction_features: Mapping[str, pd.DataFrame],
    drift_limits: DriftLimits,
) -> MaterializeResult:
    """The per-slice view (each new day against the reference sample the gate used) and Evidently's HTML report
    of the samples drift_report judged (not drawn again), logged to MLflow: for people, not gates, so they run
    after the gate instead of delaying the deployment."""
    if SAMPLES not in drift_report:
        return MaterializeResult(metadata={"verdict": f"no report: {drift_report['verdict']}"})
    samples = DriftSamples.read(drift_report[SAMPLES])
    current = {k: transaction_features[k] for k in drift_report["current_slice_keys"] if k in transaction_features}
    per_slice = per_slice_view(samples, current, drift_limits.max_drift_share, drift_limits.sample_size)
    html = samples.report_html()
    html_path = settings.reports() / "drift" / f"drift-{context.run_id}.html"
    atomic_write_bytes(html_path, html.encode())
    experiment_id, mlflow_run_id = registry.log_drift_report(
        html,
        {"share_drifted": drift_report["share_drifted"], "current_rows": drift_report["current_rows"]},
        {k: str(drift_report[k]) for k in ("reference", "reference_slices", "current_slices", "current_rows")},
        context.run_id,
    )
    return MaterializeResult(
        metadata={
            "reference": drift_report["reference"],
            "share_drifted": float(drift_report["share_drifted"]),
            "per_slice": MetadataValue.md(per_slice.to_markdown(index=False, floatfmt=".4g")),
            "html_report": MetadataValue.path(str(html_path)),
            **metadata_links.drift_report(experiment_id, mlflow_run_id),
        }
    )


def _with_how_to_accept(message: str, passed: bool) -> str:
    return message if passed else f"{message} {acceptance.HOW_TO_ACCEPT}"
