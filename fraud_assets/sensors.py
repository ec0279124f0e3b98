"""`landing_sensor`: new or changed landed files become partitions and runs, exactly once; new days travel from
slice to serving in one run.
`features_recompute_sensor`: features partitions computed on other days than those stored now are computed again.

The cursor remembers, per file name, the size, mtime and SHA-256 that were accepted. Dagster
commits the cursor together with the run requests, and every run request carries a run key
derived from the files' hashes, so a daemon restart between the two can neither lose a file nor
request it twice. Bad files are validated here, before they become partitions, and quarantined
with their reason; the other files keep flowing. A tick examines files for at most `EXAMINE_SECONDS` (at 10x
BankSim a day's file takes ~0.5 s to validate, and Dagster gives a tick 60 s): a backlog is examined over several
ticks, its validated files wait in the cursor, and one run takes them all once every file has been examined.

With automation on, a run for new files selects the whole gated path (`LANDED_PATH`): its blocking
checks stop the later steps of that same run. One such run at a time (dagster.yaml's
`tag_concurrency_limits` on `LANDING_RUN_TAG`), and at most one waiting: files that land while one
waits in the queue join the next, so a burst of files trains and deploys a few times, not once per file.
"""

import json
import time
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    ResourceParam,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import settings
from fraud_assets.asset_keys import (
    DRIFT_REPORT,
    FRAUD_MODEL,
    MODEL_DEPLOYMENT,
    MODEL_EVALUATION,
    TRANSACTION_FEATURES,
    TRANSACTION_SLICES,
)
from fraud_assets.assets.features import INPUTS_DIGEST, RECOMPUTE_REASON_TAG, SLICE_DIGEST
from fraud_assets.automation import LANDING_RUN_TAG
from fraud_assets.data.validation import step_from_name, validate_bytes
from fraud_assets.data.warehouse import LandedFile, Warehouse
from fraud_assets.features.inputs import Recorded, chains, slice_digest, stale_features
from fraud_assets.partitions import slices_partitions
from fraud_assets.storage import PartitionedParquetIOManager, StoredSlices, sha256_bytes

EXAMINE_SECONDS = 20.0  # per tick; the file being examined when it runs out is finished
WAITING = "waiting"  # the mark on a cursor entry whose file was validated but whose run is not requested yet


@dataclass
class LandingPlan:
    """What one sensor tick decided; computed by a plain function so it can be tested directly."""

    cursor: dict[str, list]
    new: list[tuple[LandedFile, str]] = field(default_factory=list)
    changed: list[tuple[LandedFile, str]] = field(default_factory=list)
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # name, target, reason
    unexamined: int = 0  # landed files left for the next tick when the tick's time ran out


def plan_landing(
    warehouse: Warehouse, cursor: dict[str, list], known_partitions: set[str], budget_seconds: float | None = None
) -> LandingPlan:
    """New, changed and bad landed files since `cursor`; with `budget_seconds`, files are read and validated only
    until that time has passed (at least one a tick), the rest left unexamined for the next tick."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    plan = LandingPlan(cursor={name: seen for name, seen in cursor.items() if not _waiting(seen)})
    examined = 0
    for landed in warehouse.landed_files():
        seen = cursor.get(landed.name)
        if seen and seen[0] == landed.size and seen[1] == landed.mtime:
            if _waiting(seen):  # validated by an earlier tick, unchanged since
                plan.cursor[landed.name] = seen[:3]
                plan.new.append((landed, seen[2]))
            continue  # cheap path: unchanged size and mtime, no need to hash
        if deadline is not None and examined and time.monotonic() > deadline:
            plan.unexamined += 1
            continue
        examined += 1
        data = warehouse.read(landed.name)
        digest = sha256_bytes(data)
        if seen and seen[2] == digest and not _waiting(seen):
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


def _waiting(seen: list) -> bool:
    """Whether a cursor entry is a file validated by an earlier tick whose run is not requested yet."""
    return seen[3:] == [WAITING]


# A new day's way from slice to serving, with each asset's blocking checks: one run instead of three.
LANDED_PATH = [TRANSACTION_SLICES, TRANSACTION_FEATURES, DRIFT_REPORT, FRAUD_MODEL, MODEL_EVALUATION, MODEL_DEPLOYMENT]


def hold_new_files(plan: LandingPlan) -> LandingPlan:
    """The plan without its new files, which wait in the cursor (validated, unrequested) for a later tick."""
    cursor = dict(plan.cursor)
    for landed, _ in plan.new:
        cursor[landed.name] = [*cursor[landed.name], WAITING]
    return LandingPlan(cursor=cursor, changed=plan.changed, quarantined=plan.quarantined, unexamined=plan.unexamined)


def _landed_path(context: SensorEvaluationContext) -> list[AssetKey]:
    """`LANDED_PATH` as far as this sensor's code location holds it (a location may hold ingest alone)."""
    graph = context.repository_def.asset_graph if context.repository_def else None
    return [key for key in LANDED_PATH if graph is None or graph.has(key)]


def _landing_run_waiting(instance: DagsterInstance) -> str | None:
    """A run for new files that has not started yet (None: none). A started one does not hold files: they get
    the next run, which queues behind it; a run left started by a crash holds the queue, not the sensor."""
    waiting = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]
    runs = instance.get_runs(RunsFilter(statuses=waiting, tags={LANDING_RUN_TAG: "new"}), limit=1)
    return runs[0].run_id if runs else None


def _batch_key(items: list[tuple[LandedFile, str]]) -> str:
    return sha256_bytes("\n".join(f"{f.name}:{d}" for f, d in items).encode())[:16]


@sensor(
    asset_selection=AssetSelection.assets(TRANSACTION_SLICES).downstream(),
    minimum_interval_seconds=2,  # cheap: a stat per landed file; a new day waits for the next tick
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a partition per new landed file in the landing folder and carries them to serving in one run "
    "(their slices only with automation off); quarantines bad files.",
)
def landing_sensor(context: SensorEvaluationContext, warehouse: Warehouse):
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(slices_partitions.name))
    plan = plan_landing(warehouse, cursor, known, budget_seconds=EXAMINE_SECONDS)
    carry_to_serving = settings.load().automation
    if plan.new and plan.unexamined:
        context.log.info(
            f"{len(plan.new)} new file(s) validated, {plan.unexamined} left to examine: one run for all of them "
            "once they are"
        )
        plan = hold_new_files(plan)
    elif carry_to_serving and plan.new and (waiting := _landing_run_waiting(context.instance)):
        context.log.info(f"{len(plan.new)} new file(s) wait until run {waiting} starts, then go in the next run")
        plan = hold_new_files(plan)

    run_requests: list[RunRequest] = []
    if plan.new:
        # New keys are appended in this order, so they form one contiguous range: one run for all. Unpartitioned
        # assets in it (model, drift report, evaluation, deployment) run once, after every slice's features.
        keys = [f.partition_key for f, _ in plan.new]
        run_requests.append(
            RunRequest(
                run_key=f"new:{_batch_key(plan.new)}",
                # With automation off (manual mode) only the slices, as a person asked for.
                asset_selection=_landed_path(context) if carry_to_serving else [TRANSACTION_SLICES],
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: keys[0],
                    ASSET_PARTITION_RANGE_END_TAG: keys[-1],
                    "fraud_assets/slices": ",".join(keys)[:1000],
                    **({LANDING_RUN_TAG: "new"} if carry_to_serving else {}),
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


def _busy_run(instance: DagsterInstance) -> str | None:
    """A queued or running run that may write slices or features (None: none), so stored states are settled."""
    for run in instance.get_runs(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES)):
        if run.asset_selection is None or run.asset_selection & {TRANSACTION_SLICES, TRANSACTION_FEATURES}:
            return run.run_id
    return None


def _latest_storage_ids(instance: DagsterInstance) -> dict[str, int | None]:
    records = {
        r.asset_entry.asset_key: r.asset_entry
        for r in instance.get_asset_records([TRANSACTION_SLICES, TRANSACTION_FEATURES])
    }
    return {
        key.to_user_string(): (
            entry.last_materialization_record.storage_id
            if key in records and (entry := records[key]).last_materialization_record
            else None
        )
        for key in (TRANSACTION_SLICES, TRANSACTION_FEATURES)
    }


def _recorded_features(instance: DagsterInstance) -> dict[str, Recorded]:
    """What the latest materialization of each features partition recorded about its inputs."""
    latest = instance.get_latest_storage_id_by_partition(TRANSACTION_FEATURES, DagsterEventType.ASSET_MATERIALIZATION)
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=TRANSACTION_FEATURES, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    recorded = {}
    for record in records:
        inputs, digest = (record.asset_materialization.metadata.get(name) for name in (INPUTS_DIGEST, SLICE_DIGEST))
        recorded[record.partition_key] = Recorded(inputs and inputs.value, digest and digest.value)
    return recorded


@sensor(
    asset_selection=[TRANSACTION_FEATURES],
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING if settings.load().automation else DefaultSensorStatus.STOPPED,
    description="When a day landed late or was corrected, computes every later features partition again in one run, "
    "saying why; stays off with automation off.",
)
def features_recompute_sensor(context: SensorEvaluationContext, io_manager: ResourceParam[PartitionedParquetIOManager]):
    """Compares the inputs each features partition recorded with the slices stored now (`features.inputs`).

    Waits while a run that may write slices or features is queued or running, so a slice being stored and the
    automation's own features runs settle first; looks again only when a slice or features partition was
    materialized since. The run key comes from the expected inputs, so one change is requested once.
    """
    if busy := _busy_run(context.instance):
        return SkipReason(f"waiting for run {busy}, which may write slices or features")
    latest = json.dumps(_latest_storage_ids(context.instance), sort_keys=True)
    if latest == context.cursor:
        return SkipReason("no slice or features partition materialized since the last look")
    store = StoredSlices(io_manager.layout())
    known = [
        k for k in context.instance.get_dynamic_partitions(slices_partitions.name) if step_from_name(k) is not None
    ]
    digests = {key: slice_digest(store.read_slice(key)) for key in known if store.slice_exists(key)}
    plan = stale_features(digests, _recorded_features(context.instance))
    if plan is None:
        return SensorResult(cursor=latest, skip_reason=SkipReason("every features partition is up to date"))
    context.log.info(plan.reason)
    # A range runs over partitions in the order they were added: from the first to the last of these.
    positions = sorted(known.index(key) for key in plan.partitions)
    expected = chains(digests)
    return SensorResult(
        cursor=latest,
        run_requests=[
            RunRequest(
                run_key="recompute:"
                + sha256_bytes("\n".join(f"{k}:{expected[k]}" for k in plan.partitions).encode())[:16],
                asset_selection=[TRANSACTION_FEATURES],
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: known[positions[0]],
                    ASSET_PARTITION_RANGE_END_TAG: known[positions[-1]],
                    RECOMPUTE_REASON_TAG: plan.reason[:1000],
                },
            )
        ],
    )
