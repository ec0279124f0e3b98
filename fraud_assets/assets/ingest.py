"""Group `ingest`: landed files become slices: validated, typed, stored as Parquet (`transaction_slices`)."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)

from fraud_assets.asset_keys import DUPLICATES, KNOWN_CODES, TRANSACTION_SLICES
from fraud_assets.data.validation import SliceValidation, step_from_name, validate_bytes
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.execution import k8s_op_tags, records_peak_memory
from fraud_assets.partitions import slices_partitions
from fraud_assets.storage import sha256_bytes

SLICE_SCHEMA = TableSchema(
    columns=[
        TableColumn("step", "int64", description="day of the simulation (0-179 in BankSim)"),
        TableColumn("customer", "string"),
        TableColumn("age", "string", description="age band code '0'-'6' or 'U'"),
        TableColumn("gender", "string", description="F, M, E (enterprise) or U"),
        TableColumn("zipcodeOri", "string"),
        TableColumn("merchant", "string"),
        TableColumn("zipMerchant", "string"),
        TableColumn("category", "string"),
        TableColumn("amount", "float64"),
        TableColumn("fraud", "int64", description="label: 1 fraudulent, 0 legitimate"),
    ]
)

# Metadata keys of each slice's materialization that lineage reads back.
SOURCE_PATH = "source_path"
SOURCE_FILE = "source_file"
SOURCE_SHA256 = "source_sha256"
ROW_COUNT = "dagster/row_count"


def _slice_metadata(name: str, data: bytes, result: SliceValidation) -> dict:
    frame = result.frame
    return {
        SOURCE_PATH: result.source,
        ROW_COUNT: len(frame),
        "fraud_count": int(frame["fraud"].sum()),
        "fraud_rate": float(frame["fraud"].mean()),
        "step_range": f"{frame['step'].min()}-{frame['step'].max()}",
        SOURCE_FILE: name,
        SOURCE_SHA256: sha256_bytes(data),
        "amount_total": float(frame["amount"].sum()),
        "warnings": result.warning_text() or "none",
        "dagster/column_schema": SLICE_SCHEMA,
    }


@asset(
    partitions_def=slices_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingest",
    op_tags=k8s_op_tags("ingest"),
    kinds={"pandas", "parquet"},
    owners=["team:fraud-ml"],
    code_version="1",
    check_specs=[
        AssetCheckSpec(
            KNOWN_CODES,
            asset=TRANSACTION_SLICES,
            description="Categories and merchants are in BankSim's catalogue (a warning: catalogues grow)",
        ),
        AssetCheckSpec(
            DUPLICATES,
            asset=TRANSACTION_SLICES,
            description="Exact repeated rows, counted (a warning: real payments can repeat)",
        ),
    ],
)
@records_peak_memory
def transaction_slices(context: AssetExecutionContext, warehouse: Warehouse):
    """One slice: a landed file's rows, validated, unquoted, typed and stored as Parquet.

    A run may cover many new days at once (the landing sensor batches them), so start-up is paid
    once for the 108 baseline days rather than 108 times.
    """
    frames: dict[str, pd.DataFrame] = {}
    results: dict[str, SliceValidation] = {}
    for key in context.partition_keys:
        name = f"{key}.csv"
        data = warehouse.read(name)
        result = validate_bytes(data, source=str(warehouse.path_of(name)), expected_step=step_from_name(name))
        if not result.ok:
            target = warehouse.quarantine(name, result.error_text())
            raise Failure(
                description=f"{result.error_text()}\nThe file was moved to {target}; no partition of this run was stored.",
                metadata={"quarantined_to": str(target)},
            )
        results[key], frames[key] = result, result.frame
        context.add_asset_metadata(_slice_metadata(name, data, result), partition_key=key)

    yield Output(frames)
    yield from slice_check_results(results)


def slice_check_results(results: dict[str, SliceValidation]):
    """The warnings of files that were stored (a file with an error never gets here: the run fails first)."""
    for check, rules in ((KNOWN_CODES, {"known_category", "known_merchant"}), (DUPLICATES, {"duplicate_rows"})):
        found = {k: [w for w in r.warnings if w.rule in rules] for k, r in results.items()}
        found = {k: v for k, v in found.items() if v}
        yield AssetCheckResult(
            check_name=check,
            passed=not found,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "affected_slices": len(found),
                "details": MetadataValue.md(
                    "\n".join(f"- `{k}`: {w.describe(k)}" for k, ws in found.items() for w in ws) or "none"
                ),
            },
        )
