"""`landing_sensor`: new or changed landed files become partitions and runs, exactly once.

The cursor remembers, per file name, the size, mtime and SHA-256 that were accepted. Dagster
commits the cursor together with the run requests, and every run request carries a run key
derived from the files' hashes, so a daemon restart between the two can neither lose a file nor
request it twice. Bad files are validated here, before they become partitions, and quarantined
with their reason; the other files keep flowing.
"""


import json
from dataclasses import dataclass, field

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.data.validation import validate_bytes
from fraud_assets.data.warehouse import LandedFile, Warehouse
from fraud_assets.partitions import slices_partitions
from fraud_assets.storage import sha256_bytes


@dataclass
class LandingPlan:
    """What one sensor tick decided; computed by a plain function so it can be tested directly."""

    cursor: dict[str, list]
    new: list[tuple[LandedFile, str]] = field(default_factory=list)
    changed: list[tuple[LandedFile, str]] = field(default_factory=list)
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # name, target, reason


def plan_landing(warehouse: Warehouse, cursor: dict[str, list], known_partitions: set[str]) -> LandingPlan:
    plan = LandingPlan(cursor=dict(cursor))
    for landed in warehouse.landed_files():
        seen = cursor.get(landed.name)
        if seen and seen[0] == landed.size and seen[1] == landed.mtime:
            continue  # cheap path: unchanged size and mtime, no need to hash
        data = warehouse.read(landed.name)
        digest = sha256_bytes(data)
        if seen and seen[2] == digest:
            plan.cursor[landed.name] = [landed.size, landed.mtime, digest]
            continue  # touched or re-landed with identical content: nothing to do
        result = validate_bytes(data, source=str(landed.path), expected_step=landed.step)
        if not result.ok:
            target = warehouse.quarantine(landed.name, result.error_text())
            plan.quarantined.append((landed.name, str(target), result.error_text()))
            plan.cursor.pop(landed.name, None)
            continue
        plan.cursor[landed.name] = [landed.size, landed.mtime, digest]
        if landed.partition_key in known_partitions:
            plan.changed.append((landed, digest))
        else:
            plan.new.append((landed, digest))
    return plan


def _batch_key(items: list[tuple[LandedFile, str]]) -> str:
    return sha256_bytes("\n".join(f"{f.name}:{d}" for f, d in items).encode())[:16]


@sensor(
    asset_selection=[TRANSACTION_SLICES],
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a partition per new landed file in the landing folder and materializes it; quarantines bad files.",
)
def landing_sensor(context: SensorEvaluationContext, warehouse: Warehouse):
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(slices_partitions.name))
    plan = plan_landing(warehouse, cursor, known)

    run_requests: list[RunRequest] = []
    if plan.new:
        # New keys are appended in this order, so they form one contiguous range: one run for all.
        keys = [f.partition_key for f, _ in plan.new]
        run_requests.append(
            RunRequest(
                run_key=f"new:{_batch_key(plan.new)}",
                asset_selection=[TRANSACTION_SLICES],
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: keys[0],
                    ASSET_PARTITION_RANGE_END_TAG: keys[-1],
                    "fraud_assets/slices": ",".join(keys)[:1000],
                },
            )
        )
    for landed, digest in plan.changed:
        context.log.info(f"{landed.name} re-landed with new content (sha256 {digest[:12]}): re-materializing")
        run_requests.append(
            RunRequest(
                run_key=f"changed:{landed.name}:{digest[:16]}",
                asset_selection=[TRANSACTION_SLICES],
                partition_key=landed.partition_key,
                tags={"fraud_assets/relanded": "true"},
            )
        )
    observations = [
        AssetObservation(
            asset_key=TRANSACTION_SLICES,
            metadata={
                "quarantined_file": name,
                "quarantined_to": target,
                "reason": MetadataValue.md(f"```\n{reason}\n```"),
            },
        )
        for name, target, reason in plan.quarantined
    ]
    for name, target, reason in plan.quarantined:
        context.log.error(f"quarantined {name} -> {target}:\n{reason}")

    new_cursor = json.dumps(plan.cursor, sort_keys=True)
    if not run_requests and not observations:
        if new_cursor != (context.cursor or "{}"):
            return SensorResult(cursor=new_cursor, skip_reason=SkipReason("no new or changed files"))
        return SkipReason("no new or changed files")
    return SensorResult(
        run_requests=run_requests,
        cursor=new_cursor,
        dynamic_partitions_requests=[slices_partitions.build_add_request([f.partition_key for f, _ in plan.new])]
        if plan.new
        else [],
        asset_events=observations,
    )
