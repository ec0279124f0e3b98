"""The automation conditions the graph uses, evaluated by Dagster's own automation engine.

Small stand-in assets with the project's conditions keep these fast; the conditions are the
ones `fraud_assets.automation` gives the real assets.
"""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    AutomationCondition,
    Config,
    DagsterInstance,
    Definitions,
    Output,
    asset,
    evaluate_automation_conditions,
    materialize,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets.asset_keys import (
    DRIFT_REFERENCE,
    DRIFT_REPORT,
    FRAUD_MODEL,
    MODEL_DEPLOYMENT,
    MODEL_EVALUATION,
    TRANSACTION_FEATURES,
    TRANSACTION_SLICES,
)
from fraud_assets.assets.checks import slices_usable
from fraud_assets.assets.features import transaction_features
from fraud_assets.assets.ingest import transaction_slices
from fraud_assets.assets.monitoring import drift_reference, drift_report
from fraud_assets.automation import (
    LANDING_RUN_TAG,
    refresh_when_upstream_passes,
    refresh_when_upstream_passes_without,
    retrain_policy,
)
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.definitions import defs
from fraud_assets.monitoring.limits import DriftLimits
from fraud_assets.partitions import slices_partitions
from fraud_assets.simulation.landing import land_steps
from fraud_assets.storage import PartitionedParquetIOManager


class GateConfig(Config):
    passes: bool = True


@asset(check_specs=[AssetCheckSpec("gate", asset="evaluation", blocking=True)])
def evaluation(config: GateConfig):
    yield Output(1)
    yield AssetCheckResult(check_name="gate", passed=config.passes)


@asset(deps=[evaluation], automation_condition=refresh_when_upstream_passes())
def deployment():
    return 1


@asset(deps=[evaluation], automation_condition=AutomationCondition.eager())
def naive_deployment():
    return 1


def run_evaluation(instance, passes: bool):
    materialize(
        [evaluation],
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"evaluation": {"config": {"passes": passes}}}},
    )


def test_automation_does_not_deploy_past_a_failed_blocking_check():
    assets = [evaluation, deployment, naive_deployment]
    with DagsterInstance.ephemeral() as instance:
        materialize(assets, instance=instance)  # everything exists and is up to date
        result = evaluate_automation_conditions(assets, instance)
        assert result.total_requested == 0

        run_evaluation(instance, passes=False)
        result = evaluate_automation_conditions(assets, instance, cursor=result.cursor)
        assert result.get_num_requested(AssetKey("deployment")) == 0
        # The pitfall this guards against: plain eager() deploys after a failed gate.
        assert result.get_num_requested(AssetKey("naive_deployment")) == 1

        run_evaluation(instance, passes=True)
        result = evaluate_automation_conditions(assets, instance, cursor=result.cursor)
        assert result.get_num_requested(AssetKey("deployment")) == 1


@asset
def features():
    return 1


@asset(deps=[features], automation_condition=retrain_policy("*/10 * * * *"))
def model():
    return 1


def test_retrain_policy_takes_a_burst_of_new_slices_in_one_retrain():
    start = dt.datetime(2026, 11, 26, 10, 0, 30, tzinfo=dt.UTC)
    at = lambda minutes: start + dt.timedelta(minutes=minutes)  # noqa: E731
    assets = [features, model]
    with DagsterInstance.ephemeral() as instance:
        materialize(assets, instance=instance)
        result = evaluate_automation_conditions(assets, instance, evaluation_time=at(0))
        assert result.total_requested == 0

        requested = []
        for minute in (1, 2, 3, 4, 5):  # a day lands every minute within one 10-minute interval
            instance.report_runless_asset_event(AssetMaterialization("features"))
            result = evaluate_automation_conditions(assets, instance, evaluation_time=at(minute), cursor=result.cursor)
            requested.append(result.get_num_requested(AssetKey("model")))
            if requested[-1]:
                instance.report_runless_asset_event(AssetMaterialization("model"))  # the retrain ran
        assert requested == [1, 0, 0, 0, 0], "one retrain for the first day, then wait for the interval"

        # The next interval takes everything that arrived meanwhile in one retrain.
        result = evaluate_automation_conditions(assets, instance, evaluation_time=at(10), cursor=result.cursor)
        assert result.get_num_requested(AssetKey("model")) == 1
        instance.report_runless_asset_event(AssetMaterialization("model"))
        result = evaluate_automation_conditions(assets, instance, evaluation_time=at(11), cursor=result.cursor)
        assert result.total_requested == 0, "nothing new: no retrain"


def test_the_real_graph_uses_these_conditions():
    graph = defs.resolve_asset_graph()
    condition = lambda key: graph.get(key).automation_condition  # noqa: E731
    assert "retrain on new slices" in condition(FRAUD_MODEL).get_label()
    for key in (TRANSACTION_FEATURES, MODEL_EVALUATION, DRIFT_REPORT, MODEL_DEPLOYMENT):
        assert "all_deps_blocking_checks_passed" in repr(condition(key)), key


def test_a_batch_of_slices_in_one_run_carries_on_to_their_features(home):
    """The landing sensor stores many slices in one range run; the blocking `usable` check of that run must count
    for every slice in it, or automation never requests their features."""
    resources = {"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()}
    graph = Definitions(
        assets=[transaction_slices, transaction_features], asset_checks=[slices_usable], resources=resources
    )
    keys = ["step_000", "step_001", "step_002"]
    land_steps(Warehouse(), range(3))
    with DagsterInstance.ephemeral() as instance:
        cursor = evaluate_automation_conditions(graph, instance).cursor
        instance.add_dynamic_partitions("slices", keys)
        assert materialize(
            [transaction_slices, slices_usable],
            instance=instance,
            resources=resources,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        ).success
        result = evaluate_automation_conditions(graph, instance, cursor=cursor)
        assert result.get_requested_partitions(TRANSACTION_FEATURES) == set(keys)


def test_new_features_refresh_the_drift_report_before_any_drift_was_accepted_and_an_acceptance_does_too(home):
    """drift_reference (a spec a person's decision materializes) is never materialized until someone accepts a
    drift; it must not count as a missing dependency, or no drift report is ever made and nothing deploys."""
    resources = {"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()}
    graph = Definitions(
        assets=[transaction_slices, transaction_features, drift_reference, drift_report],
        asset_checks=[slices_usable],
        resources={**resources, "drift_limits": DriftLimits()},
    )
    keys = ["step_000", "step_001", "step_002"]
    land_steps(Warehouse(), range(3))
    with DagsterInstance.ephemeral() as instance:
        # Not a fresh event log: a tick after one whose log was empty has no bound to tell new updates by.
        instance.report_runless_asset_event(AssetMaterialization("elsewhere"))
        cursor = evaluate_automation_conditions(graph, instance).cursor
        instance.add_dynamic_partitions("slices", keys)
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
        assets = [transaction_slices, slices_usable, transaction_features]
        assert materialize(assets, instance=instance, resources=resources, tags=tags).success
        result = evaluate_automation_conditions(graph, instance, cursor=cursor)
        assert result.get_requested_partitions(DRIFT_REPORT) == {None}
        result = evaluate_automation_conditions(graph, instance, cursor=result.cursor)
        assert result.get_requested_partitions(DRIFT_REPORT) == set()  # requested once
        instance.report_runless_asset_event(AssetMaterialization(DRIFT_REFERENCE))  # a person accepted a drift
        result = evaluate_automation_conditions(graph, instance, cursor=result.cursor)
        assert result.get_requested_partitions(DRIFT_REPORT) == {None}


@asset(deps=[features, "decision"], automation_condition=refresh_when_upstream_passes_without(AssetKey("decision")))
def report():
    return 1


def test_an_asset_reading_a_decision_nobody_recorded_yet_still_refreshes():
    """drift_report reads drift_reference, a spec recorded only when a person accepts a drift; until then it
    must still refresh when its features do (with plain eager() it never did, and nothing deployed)."""
    assets = [features, AssetSpec("decision", deps=[features]), report]
    with DagsterInstance.ephemeral() as instance:
        result = evaluate_automation_conditions(assets, instance)
        instance.report_runless_asset_event(AssetMaterialization("features"))
        result = evaluate_automation_conditions(assets, instance, cursor=result.cursor)
        assert result.get_num_requested(AssetKey("report")) == 1
        instance.report_runless_asset_event(AssetMaterialization("report"))
        result = evaluate_automation_conditions(assets, instance, cursor=result.cursor)
        instance.report_runless_asset_event(AssetMaterialization("decision"))  # a person accepted a drift
        result = evaluate_automation_conditions(assets, instance, cursor=result.cursor)
        assert result.get_num_requested(AssetKey("report")) == 1


@asset(
    partitions_def=slices_partitions,
    deps=[TRANSACTION_SLICES],
    automation_condition=AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed(),
)
def eager_features():
    return 1


def test_a_tick_that_sees_a_landing_run_ended_without_its_features_requests_nothing(home):
    """The landing run carries new days' features itself. A tick that saw it ended but not yet every features
    partition it stored requested those again (eight of 177, eager's `newly_missing`). Here the run stores only the
    slices, which is all such a tick sees: eager requests the features, the graph's condition does not. A slice
    stored by any other run (a re-landed day, by hand) still refreshes its features (the test above)."""
    resources = {"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()}
    graph = Definitions(
        assets=[transaction_slices, transaction_features, eager_features],
        asset_checks=[slices_usable],
        resources=resources,
    )
    keys = ["step_000", "step_001"]
    land_steps(Warehouse(), range(2))
    with DagsterInstance.ephemeral() as instance:
        # Not a fresh event log: a tick after one whose log was empty has no bound to tell new updates by.
        instance.report_runless_asset_event(AssetMaterialization("elsewhere"))
        cursor = evaluate_automation_conditions(graph, instance).cursor
        instance.add_dynamic_partitions("slices", keys)
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            LANDING_RUN_TAG: "new",
        }
        assert materialize(
            [transaction_slices, slices_usable], instance=instance, resources=resources, tags=tags
        ).success
        result = evaluate_automation_conditions(graph, instance, cursor=cursor)
        assert result.get_requested_partitions(AssetKey("eager_features")) == set(keys)
        assert result.get_requested_partitions(TRANSACTION_FEATURES) == set()
