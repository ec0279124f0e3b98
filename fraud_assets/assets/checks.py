"""Checks defined apart from the asset they judge, so they read what is stored and can run on their own."""

import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from fraud_assets.asset_keys import TRANSACTION_SLICES, USABLE
from fraud_assets.data.validation import step_from_name, stored_slice_problems


@asset_check(
    asset=TRANSACTION_SLICES,
    name=USABLE,
    blocking=True,
    description="The stored Parquet slice meets the column contract: columns, dtypes, no nulls, label 0/1, amount "
    "finite and >= 0, age and gender codes, one step matching the partition key",
)
def slices_usable(context: AssetCheckExecutionContext, transaction_slices: dict[str, pd.DataFrame]) -> AssetCheckResult:
    """Re-reads the stored slices (the IO manager) rather than trusting what was written.

    Unpartitioned on purpose: a partitioned check run over a range of slices (the landing sensor's batches)
    records its result for no partition, so `all_deps_blocking_checks_passed` never saw it pass and automation
    stopped at the slices. Unpartitioned, it reads every stored slice and its one result counts for all.
    """
    problems = {key: stored_slice_problems(frame, step_from_name(key)) for key, frame in transaction_slices.items()}
    problems = {key: found for key, found in problems.items() if found}
    return AssetCheckResult(
        passed=not problems,
        metadata={
            "slices": len(transaction_slices),
            "rows": sum(len(frame) for frame in transaction_slices.values()),
            "details": MetadataValue.md(
                "\n".join(f"- `{key}`: {p}" for key, found in problems.items() for p in found) or "none"
            ),
        },
    )
