"""Checks defined apart from the asset they judge, so they read what is stored and can run on their own."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, ResourceParam, asset_check

from fraud_assets.asset_keys import TRANSACTION_SLICES, USABLE
from fraud_assets.data.validation import step_from_name, stored_slice_problems
from fraud_assets.partitions import slices_partitions
from fraud_assets.storage import PartitionedParquetIOManager, StoredSlices


@asset_check(
    asset=TRANSACTION_SLICES,
    name=USABLE,
    blocking=True,
    description="The stored Parquet slice meets the column contract: columns, dtypes, no nulls, label 0/1, amount "
    "finite and >= 0, age and gender codes, one step matching the partition key",
)
def slices_usable(
    context: AssetCheckExecutionContext, io_manager: ResourceParam[PartitionedParquetIOManager]
) -> AssetCheckResult:
    """Re-reads the stored slices (where the IO manager put them) rather than trusting what was written.

    Unpartitioned on purpose: a partitioned check run over a range of slices (the landing sensor's batches)
    records its result for no partition, so `all_deps_blocking_checks_passed` never saw it pass and automation
    stopped at the slices. Unpartitioned, its one result counts for all. It reads only the slices of its run's
    partition key or range, so a landed day costs the same however long the history; run on its own (no
    partitions), it reads every stored slice.
    """
    keys = context.instance.get_dynamic_partitions(slices_partitions.name)
    partitioned_run = context.has_partition_key or context.has_partition_key_range
    if partitioned_run:
        run = context.partition_key_range
        keys = keys[keys.index(run.start) : keys.index(run.end) + 1]
    store = StoredSlices(io_manager.layout())
    slices = {key: store.read_slice(key) for key in keys if store.slice_exists(key)}
    problems = {key: stored_slice_problems(frame, step_from_name(key)) for key, frame in slices.items()}
    problems = {key: found for key, found in problems.items() if found}
    missing = [key for key in keys if key not in slices]
    if partitioned_run:  # the run's own slices must be there; elsewhere a day may land while the check runs
        problems.update({key: ["not stored"] for key in missing})
    elif missing:
        context.log.warning(f"{len(missing)} slice(s) not materialized yet, not checked: {missing[:10]}")
    return AssetCheckResult(
        passed=not problems,
        metadata={
            "slices": len(slices),
            "rows": sum(len(frame) for frame in slices.values()),
            "details": MetadataValue.md(
                "\n".join(f"- `{key}`: {p}" for key, found in problems.items() for p in found) or "none"
            ),
        },
    )
