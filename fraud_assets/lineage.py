"""From the model that serves now back to the files it learned from, across Dagster and MLflow.

The walk: serving record → MLflow model version (run, Dagster run id, partition keys; its artifact
checked against the registered manifest) → the Dagster run that trained it (evaluation and drift
results, their checks, the drift reference) → each training slice's materialization (the landed
file's path and SHA-256); and the newest drift acceptance, the recorded decision that moved the
drift reference.
"""

from dagster import AssetRecordsFilter, DagsterEventType, DagsterInstance

from fraud_assets import links, model_artifact, registry
from fraud_assets.asset_keys import DRIFT_REPORT, TRANSACTION_SLICES
from fraud_assets.assets.ingest import ROW_COUNT, SOURCE_FILE, SOURCE_PATH, SOURCE_SHA256
from fraud_assets.assets.monitoring import latest_acceptance


def _latest_slice_metadata(instance: DagsterInstance, slice_ids: list[str]) -> dict[str, dict]:
    """Each slice's newest materialization: the file it came from and that file's SHA-256."""
    found: dict[str, dict] = {}
    records_filter = AssetRecordsFilter(asset_key=TRANSACTION_SLICES, asset_partitions=slice_ids)
    cursor = None
    while len(found) < len(slice_ids):
        page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor, ascending=False)
        for record in page.records:
            mat = record.asset_materialization
            if mat.partition in found:
                continue  # an older materialization of a slice we already have
            meta = mat.metadata
            found[mat.partition] = {
                "file": meta[SOURCE_PATH].value if SOURCE_PATH in meta else meta[SOURCE_FILE].value,
                "sha256": meta[SOURCE_SHA256].value,
                "rows": meta[ROW_COUNT].value,
                "dagster_run_id": record.run_id,
            }
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def _run_results(instance: DagsterInstance, run_id: str) -> dict:
    """Materializations and check verdicts of one Dagster run, by asset."""
    results: dict = {"materialized": [], "checks": {}}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        results["materialized"].append(materialization.asset_key.to_user_string())
        if materialization.asset_key == DRIFT_REPORT and "reference" in materialization.metadata:
            results["drift_reference"] = materialization.metadata["reference"].value
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        results["checks"][key] = {"passed": evaluation.passed, "description": evaluation.description}
    return results


def _artifact_verdict(name: str, version: str) -> dict:
    """Whether the version's folder in the artifact store still matches its registered manifest."""
    try:
        registry.verify_version(name, version)
    except model_artifact.ModelIntegrityError as refused:
        return {"verified": False, "problem": str(refused)}
    return {"verified": True, "problem": None}


def serving_lineage(instance: DagsterInstance, serving: dict | None, name: str = registry.DEFAULT_MODEL_NAME) -> dict:
    if not serving:
        raise LookupError("nothing is serving: deploy a model first (materialize model_deployment)")
    version = serving["model_version"]
    model_version = registry.model_version(name, version)
    tags = dict(model_version.tags)
    dagster_run_id = tags.get(registry.DAGSTER_RUN_TAG)
    slice_ids = registry.training_slices(name, version)
    slices = _latest_slice_metadata(instance, slice_ids)
    accepted = latest_acceptance(instance)
    return {
        "endpoint": serving.get("url") or serving.get("endpoint"),
        "model": {
            "name": name,
            "version": str(version),
            "manifest_sha256": tags.get(registry.MANIFEST_SHA256_TAG),
            "aliases": list(model_version.aliases),
        },
        "artifact": _artifact_verdict(name, version),
        "mlflow_run_id": model_version.run_id,
        "dagster_run_id": dagster_run_id,
        "links": {
            "mlflow_run": registry.run_url(model_version.run_id),
            "mlflow_model_version": registry.model_version_url(name, version),
            "dagster_run": links.dagster_run_url(dagster_run_id) if dagster_run_id else None,
        },
        "run": _run_results(instance, dagster_run_id) if dagster_run_id else {},
        "training_slices": [{"slice": s, **slices.get(s, {"file": "(no materialization found)"})} for s in slice_ids],
        "drift_acceptance": accepted.to_metadata() if accepted else None,
    }


def render(lineage: dict) -> str:
    model = lineage["model"]
    lines = [
        f"serving     {lineage['endpoint']}",
        f"model       {model['name']} version {model['version']} (aliases: {', '.join(model['aliases']) or 'none'})",
        f"artifact    manifest sha256 {model['manifest_sha256']}: "
        + ("every file matches" if lineage["artifact"]["verified"] else f"REFUSED - {lineage['artifact']['problem']}"),
        f"mlflow run  {lineage['mlflow_run_id']}",
        f"dagster run {lineage['dagster_run_id']}",
    ]
    lines += [f"  {name}: {url}" for name, url in lineage.get("links", {}).items() if url]
    for check, verdict in sorted(lineage["run"].get("checks", {}).items()):
        lines.append(f"  check {check}: {'passed' if verdict['passed'] else 'FAILED'} - {verdict['description'] or ''}")
    if "drift_reference" in lineage["run"]:
        lines.append(f"  drift reference: {lineage['run']['drift_reference']}")
    accepted = lineage.get("drift_acceptance")
    if accepted:
        slices = accepted["slices"]
        lines.append(
            f"drift accepted by {accepted['accepted_by']} at {accepted['accepted_at']}: {accepted['reason']} "
            f"(reference {len(slices)} slices, {slices[0]} .. {slices[-1]})"
        )
    else:
        lines.append("drift accepted: never")
    lines.append(f"trained on {len(lineage['training_slices'])} slices:")
    for s in lineage["training_slices"]:
        lines.append(f"  {s['slice']}  {s.get('file')}  sha256 {s.get('sha256', '?')}")
    return "\n".join(lines)
