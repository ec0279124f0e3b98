"""`fraud-assets demo`: the whole loop, headless, with a summary a person can read and CI can check.

It lands the baseline and materializes the graph (deploys v1), lands three clean days one at a
time (each retrains and redeploys), then lands a drifted day (the drift gate blocks and the last
good model keeps serving). Runs go through a real Dagster instance under FRAUD_ASSETS_HOME, so
`make run` on the same home shows them in the UI afterwards.
"""

import json
import urllib.request
from dataclasses import dataclass, field

from dagster import AssetsDefinition, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import registry, settings
from fraud_assets.asset_keys import DATA_DRIFT, DRIFT_REPORT, FRAUD_MODEL, MODEL_DEPLOYMENT, TARGET_DRIFT
from fraud_assets.baseline import BASELINE_STEPS
from fraud_assets.data.warehouse import Warehouse, partition_key_for
from fraud_assets.definitions import defs
from fraud_assets.deployment.deployer import ModelDeployer
from fraud_assets.instance import prepare_dagster_home
from fraud_assets.partitions import slices_partitions
from fraud_assets.resources import MetricBoundsResource, graph_resources, model_deployer
from fraud_assets.simulation.landing import land_steps
from fraud_assets.simulation.simulator import Drift

# A landing runs twice: the per-slice assets for the new partition keys, then the assets over all slices
# (drift_reference is only a spec: a person's decision records it).
INGEST = [a for a in defs.assets if isinstance(a, AssetsDefinition) and a.partitions_def == slices_partitions]
DOWNSTREAM = [a for a in defs.assets if isinstance(a, AssetsDefinition) and a.partitions_def is None]
DEMO_DRIFT = dict(amount_scale=1.5, fraud_rate_multiplier=2.0)
# The runs' event logs go to the instance (the UI shows them); the console gets warnings only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class StageResult:
    """What one landing did to the graph, as the demo and the tests read it."""

    name: str
    slices: list[str]
    success: bool
    checks: dict[str, bool]
    check_messages: dict[str, str]
    deployed_version: int | None
    serving_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    candidate: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "candidate"}


def land_and_refresh(
    instance: DagsterInstance,
    steps,
    deployer: ModelDeployer,
    name: str,
    drift: Drift | None = None,
    bounds: MetricBoundsResource | None = None,
) -> StageResult:
    """Land simulated days, then materialize slices, features and everything downstream."""
    paths = land_steps(Warehouse(), steps, drift=drift)
    keys = [partition_key_for(p.name) for p in paths]
    instance.add_dynamic_partitions(slices_partitions.name, keys)
    resources = graph_resources(deployer, bounds)
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    ingest_run = materialize(
        INGEST, instance=instance, resources=resources, tags=tags, raise_on_error=False, run_config=QUIET
    )
    if not ingest_run.success:
        return StageResult(name, keys, False, {}, {}, None, _serving_version(deployer))
    run = materialize(
        DOWNSTREAM + INGEST,
        selection=[a.key for a in DOWNSTREAM],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config=QUIET,
    )
    evaluations = run.get_asset_check_evaluations()
    deployments = run.asset_materializations_for_node(MODEL_DEPLOYMENT.to_python_identifier())
    model, drift_node = FRAUD_MODEL.to_python_identifier(), DRIFT_REPORT.to_python_identifier()
    candidate = run.output_for_node(model) if run.asset_materializations_for_node(model) else None
    drift = run.output_for_node(drift_node) if run.asset_materializations_for_node(drift_node) else {}
    return StageResult(
        name=name,
        slices=keys,
        success=run.success,
        checks={e.check_name: e.passed for e in evaluations},
        check_messages={e.check_name: e.description or "" for e in evaluations},
        deployed_version=candidate.registered.version if deployments else None,
        serving_version=_serving_version(deployer),
        metrics=dict(candidate.evaluation.metrics) if candidate else {},
        drift={k: drift[k] for k in ("share_drifted", "data_drift", "target_drift", "verdict", "report") if k in drift},
        candidate=candidate,
    )


def _serving_version(deployer: ModelDeployer) -> str | None:
    status = deployer.status()
    return str(status["model_version"]) if status and status.get("healthy", True) else None


def sample_prediction(endpoint: str, candidate) -> dict:
    """Score one validation row through the endpoint with Seldon's protocol."""
    row = candidate.X_validation.head(1)
    body = json.dumps({"data": {"names": list(row.columns), "ndarray": row.values.tolist()}}).encode()
    request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    names, values = answer["data"]["names"], answer["data"]["ndarray"][0]
    return dict(zip(names, values, strict=False))


def run_demo(keep_serving: bool = False, baseline_steps: range = BASELINE_STEPS, clean_days: int = 3) -> dict:
    prepare_dagster_home()
    deployer = model_deployer()
    stages: list[StageResult] = []
    problems: list[str] = []
    try:
        with DagsterInstance.get() as instance:
            stages.append(land_and_refresh(instance, baseline_steps, deployer, "baseline"))
            next_step = baseline_steps.stop
            for day in range(clean_days):
                stages.append(land_and_refresh(instance, [next_step], deployer, f"clean day {day + 1}"))
                next_step += 1
            # Thieves got busier two days before this day lands: stolen cards are used over ~1.3
            # days, so a theft surge shows in full in a day's fraud rate only from its third day.
            drift = Drift(start_step=next_step - 2, **DEMO_DRIFT)
            stages.append(land_and_refresh(instance, [next_step], deployer, "drifted day", drift=drift))

        baseline, *clean, drifted = stages
        if baseline.deployed_version is None:
            problems.append(f"baseline: nothing was deployed ({_failed(baseline)})")
        for stage in clean:
            if stage.deployed_version is None or stage.serving_version != str(stage.deployed_version):
                problems.append(f"{stage.name}: expected a redeploy, got {stage.deployed_version} ({_failed(stage)})")
        gate_blocked = drifted.checks.get(DATA_DRIFT) is False or drifted.checks.get(TARGET_DRIFT) is False
        if not gate_blocked or drifted.deployed_version is not None:
            problems.append(f"drifted day: the drift gate did not block ({drifted.checks})")
        last_good = clean[-1].deployed_version if clean else baseline.deployed_version
        if drifted.serving_version != str(last_good):
            problems.append(
                f"drifted day: serving {drifted.serving_version}, expected the last good version {last_good}"
            )
        status = deployer.status() or {}
        prediction = sample_prediction(status["url"], baseline.candidate) if status.get("url") else {}
        probability = prediction.get("fraud_probability")
        if probability is None or not 0.0 <= float(probability) <= 1.0:
            problems.append(f"sample prediction: no fraud probability in [0, 1] ({prediction})")
    finally:
        if not keep_serving:
            deployer.stop()

    summary = {
        "home": str(settings.home()),
        "endpoint": status.get("url"),
        "serving_version": drifted.serving_version,
        "champion": registry.get_alias_version(registry.DEFAULT_MODEL_NAME, registry.CHAMPION),
        "stages": [s.to_dict() for s in stages],
        "redeploys": [s.deployed_version for s in clean],
        "drift_gated": {
            "slices": drifted.slices,
            "checks": drifted.checks,
            "messages": drifted.check_messages,
            "serving_version_unchanged": drifted.serving_version == str(last_good),
        },
        "sample_prediction": prediction,
        "kept_serving": keep_serving,
        "problems": problems,
        "ok": not problems,
    }
    (settings.home() / "demo_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _failed(stage: StageResult) -> str:
    failed = [f"{k}: {stage.check_messages.get(k, '')}" for k, v in stage.checks.items() if not v]
    return "; ".join(failed) or ("run failed" if not stage.success else "no failed check")


def render(summary: dict) -> str:
    lines = [f"fraud-assets demo  (home {summary['home']})", ""]
    for stage in summary["stages"]:
        m = stage["metrics"]
        metrics = ", ".join(f"{k} {m[k]:.3f}" for k in ("roc_auc", "pr_auc", "f1", "brier") if k in m)
        gates = (
            "all gates passed"
            if stage["checks"] and all(stage["checks"].values())
            else "blocked by " + ", ".join(k for k, v in stage["checks"].items() if not v)
        )
        deployed = f"deployed v{stage['deployed_version']}" if stage["deployed_version"] else "not deployed"
        lines.append(f"- {stage['name']}: {len(stage['slices'])} slice(s) {stage['slices'][0]}..{stage['slices'][-1]}")
        lines.append(f"    model: {metrics or 'n/a'}")
        lines.append(f"    drift: {stage['drift'].get('data_drift') or stage['drift'].get('verdict', 'n/a')}")
        if stage["drift"].get("target_drift"):
            lines.append(f"           {stage['drift']['target_drift']}")
        lines.append(f"    gates: {gates}; {deployed}; serving v{stage['serving_version']}")
    lines += [
        "",
        f"endpoint: {summary['endpoint']} (serving v{summary['serving_version']}, "
        f"champion alias v{summary['champion']})",
        f"sample prediction: {summary['sample_prediction']}",
        "result: " + ("OK" if summary["ok"] else "FAILED: " + "; ".join(summary["problems"])),
    ]
    return "\n".join(lines)
