"""A landed day travels from slice to serving in the landing sensor's one run, and automation requests nothing
that run did.

On a real instance, MLflow store and local Seldon server: 12 days land and their run deploys version 1; a day
under bounds no model passes registers version 2, its metric gates fail in that run, model_deployment is not
materialized and version 1 keeps serving. After each run Dagster's own automation engine requests only what the
run leaves to it: the drift report's per-slice view and HTML (drift_report_html) and the model's diagnostics.
"""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, evaluate_automation_conditions, materialize
from threadpoolctl import threadpool_limits

from fraud_assets import registry
from fraud_assets.asset_keys import (
    DRIFT_REPORT_HTML,
    MODEL_DEPLOYMENT,
    MODEL_DIAGNOSTICS,
    MODEL_EVALUATION,
    USABLE,
)
from fraud_assets.assets.checks import slices_usable
from fraud_assets.automation import LANDING_RUN_TAG
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.definitions import defs
from fraud_assets.demo import DOWNSTREAM, INGEST, QUIET
from fraud_assets.resources import MetricBoundsResource, graph_resources
from fraud_assets.sensors import LANDED_PATH, landing_sensor
from fraud_assets.simulation.landing import land_steps


@pytest.fixture
def deployer(start_local_deployer):
    return start_local_deployer("on")


def landing_run(instance: DagsterInstance, steps, deployer, bounds: MetricBoundsResource, cursor: str | None):
    """Land `steps`, tick the landing sensor, and execute the one run it requests as the daemon would; the run's
    result and the sensor's new cursor."""
    land_steps(Warehouse(), steps)
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": Warehouse()})
    sensed = landing_sensor(context)
    for request in sensed.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    (request,) = sensed.run_requests
    assert set(request.asset_selection) == set(LANDED_PATH) and request.tags[LANDING_RUN_TAG] == "new"
    result = materialize(
        [*DOWNSTREAM, *INGEST, slices_usable],
        selection=list(request.asset_selection),
        instance=instance,
        tags=request.tags,
        resources=graph_resources(deployer, bounds),
        raise_on_error=False,
        run_config=QUIET,
    )
    assert USABLE in {e.check_name for e in result.get_asset_check_evaluations()}
    return result, sensed.cursor


def materialized(result, key: AssetKey) -> bool:
    return bool(result.asset_materializations_for_node(key.to_python_identifier()))


@pytest.mark.timeout(1500)
def test_a_landed_day_reaches_serving_in_one_run_and_automation_requests_nothing_it_did(deployer):
    lenient = MetricBoundsResource(min_roc_auc=0.0, min_pr_auc=0.0, min_f1=0.0, max_brier=1.0)
    strict = MetricBoundsResource(min_roc_auc=0.0, min_pr_auc=0.0, min_f1=0.999, max_brier=0.0)
    with DagsterInstance.ephemeral() as instance, threadpool_limits(limits=1, user_api="openmp"):
        cursor = evaluate_automation_conditions(defs, instance).cursor

        first, sensor_cursor = landing_run(instance, range(0, 12), deployer, lenient, None)
        assert first.success
        assert all(materialized(first, key) for key in LANDED_PATH)
        assert deployer.status()["model_version"] == "1"
        after = evaluate_automation_conditions(defs, instance, cursor=cursor)
        # Left to automation, after the run: the new model's diagnostics and the drift report's per-slice view.
        assert after.get_num_requested(MODEL_DIAGNOSTICS) == after.get_num_requested(DRIFT_REPORT_HTML) == 1
        assert after.total_requested == 2
        # The daemon's next tick (their runs under way): nothing more.
        idle = evaluate_automation_conditions(defs, instance, cursor=after.cursor)
        assert idle.total_requested == 0
        cursor = idle.cursor

        blocked, _ = landing_run(instance, [12], deployer, strict, sensor_cursor)
        checks = {e.check_name: e.passed for e in blocked.get_asset_check_evaluations()}
        assert checks["min_f1"] is False, checks
        assert materialized(blocked, MODEL_EVALUATION) and not materialized(blocked, MODEL_DEPLOYMENT)
        assert (
            deployer.status()["model_version"] == "1"
            and registry.get_alias_version(registry.DEFAULT_MODEL_NAME, registry.CHAMPION) == 1
        )
        after = evaluate_automation_conditions(defs, instance, cursor=cursor)
        # Only what is for people, which matters as much when a gate blocked: the drift report's view of that day
        # and the blocked candidate's diagnostics. Nothing on the gated path.
        assert after.get_num_requested(MODEL_DIAGNOSTICS) == after.get_num_requested(DRIFT_REPORT_HTML) == 1
        assert after.total_requested == 2
