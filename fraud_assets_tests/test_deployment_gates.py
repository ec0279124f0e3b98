"""The deployment asset checks its gates itself: materialized on its own, after a failed gate, it refuses.

The rules on recorded verdicts first (plain data), then the regression on a real instance, MLflow
store and local Seldon server: v1 deploys; a day with bounds out of reach registers v2 and its
metric gates fail; `model_deployment` materialized alone (as from the UI, automation off) refuses
v2 naming the failed gates, v1 keeps serving; a rollback to v2, which never passed, is refused; a
rollback to v1, which passed when it was deployed, is allowed.
"""

from __future__ import annotations

import pytest
from dagster import AssetCheckResult, AssetCheckSpec, DagsterInstance, MaterializeResult, asset, materialize
from threadpoolctl import threadpool_limits

from fraud_assets import registry
from fraud_assets.asset_keys import MODEL_DEPLOYMENT, MODEL_EVALUATION
from fraud_assets.cli import main
from fraud_assets.demo import DOWNSTREAM, INGEST, QUIET, land_and_refresh
from fraud_assets.deployment_gates import DRIFT_GATES, EVALUATION_GATES, MODEL_VERSION, GateVerdict, unmet, unmet_in
from fraud_assets.resources import MetricBoundsResource, graph_resources

EVALUATION = [f"model_evaluation:{key.name}" for key in EVALUATION_GATES]
DRIFT = [f"drift_report:{key.name}" for key in DRIFT_GATES]
DATA_AT = 1000.0


def passing(version="3", drift_at=DATA_AT + 1) -> list[GateVerdict]:
    return [
        *(GateVerdict(g, True, "ok", DATA_AT + 1, version) for g in EVALUATION),
        *(GateVerdict(g, True, "ok", drift_at) for g in DRIFT),
    ]


def test_every_gate_passed_for_the_version_is_no_objection():
    assert unmet(passing(), 3, DATA_AT) == []


def test_a_failed_gate_is_named_with_its_message():
    verdicts = passing()
    verdicts[2] = GateVerdict(EVALUATION[2], False, "f1 = 0.41 < minimum 0.8000: FAIL", DATA_AT + 1, "3")
    assert unmet(verdicts, 3, DATA_AT) == [f"{EVALUATION[2]} failed: f1 = 0.41 < minimum 0.8000: FAIL"]


def test_evaluation_gates_count_only_for_the_version_about_to_deploy():
    assert unmet(passing(version="2"), 3, DATA_AT) == [
        f"{gate}: last evaluated for version 2, not 3" for gate in EVALUATION
    ]


def test_drift_gates_count_only_when_newer_than_the_training_data():
    assert unmet(passing(drift_at=DATA_AT - 1), 3, DATA_AT) == [
        f"{gate}: not evaluated since the training data of version 3 was materialized" for gate in DRIFT
    ]


def test_a_gate_never_evaluated_is_not_passed():
    verdicts = passing()
    verdicts[-1] = GateVerdict(DRIFT[-1], None)
    assert unmet(verdicts, 3, DATA_AT) == [f"{DRIFT[-1]}: no completed evaluation"]


def test_a_check_planned_but_not_evaluated_does_not_hide_the_last_evaluation():
    """A landing run queued behind the one deploying plans its checks when it is created, and a run that fails
    before its checks never evaluates them: the last completed evaluations still decide (the bug: a burst of
    landed days refused the first run's deploy, "no completed evaluation", while the next run waited)."""
    gates = [key.name for key in EVALUATION_GATES]
    fail_before_checks = []

    @asset(key=MODEL_EVALUATION, check_specs=[AssetCheckSpec(name, asset=MODEL_EVALUATION) for name in gates])
    def model_evaluation_stand_in():
        if fail_before_checks:
            raise RuntimeError("failed before its checks")
        return MaterializeResult(
            check_results=[AssetCheckResult(check_name=n, passed=True, metadata={MODEL_VERSION: "3"}) for n in gates]
        )

    with DagsterInstance.ephemeral() as instance:
        assert materialize([model_evaluation_stand_in], instance=instance).success
        fail_before_checks.append(True)
        assert not materialize([model_evaluation_stand_in], instance=instance, raise_on_error=False).success
        problems = unmet_in(instance, 3, [])
    assert [p for p in problems if p.startswith("model_evaluation")] == [], problems


def error_messages(error) -> str:
    """A step failure's message with those of its causes (Dagster wraps what the asset raised)."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def champion(alias=registry.CHAMPION):
    return registry.get_alias_version(registry.DEFAULT_MODEL_NAME, alias)


@pytest.fixture
def deployer(start_local_deployer):
    return start_local_deployer("off")


@pytest.mark.timeout(1500)
def test_model_deployment_alone_after_a_failed_gate_is_refused(deployer, capsys):
    # 12 days (as the training tests) under bounds any model passes, then bounds none passes; one
    # OpenMP thread, as in the training tests, so fits do not spin-wait on a shared machine.
    lenient = MetricBoundsResource(min_roc_auc=0.0, min_pr_auc=0.0, min_f1=0.0, max_brier=1.0)
    strict = MetricBoundsResource(min_roc_auc=0.0, min_pr_auc=0.0, min_f1=0.999, max_brier=0.0)
    with DagsterInstance.ephemeral() as instance, threadpool_limits(limits=1, user_api="openmp"):
        first = land_and_refresh(instance, range(0, 12), deployer, "baseline", bounds=lenient)
        assert first.deployed_version == 1 and first.serving_version == "1", first.check_messages

        blocked = land_and_refresh(instance, [12], deployer, "strict bounds", bounds=strict)
        assert blocked.checks["min_f1"] is False and blocked.deployed_version is None, blocked.checks
        assert blocked.candidate.registered.version == 2

        # model_deployment on its own: no blocking check in this run, no automation to hold it back.
        alone = materialize(
            DOWNSTREAM + INGEST,
            selection=[MODEL_DEPLOYMENT],
            instance=instance,
            resources=graph_resources(deployer),
            raise_on_error=False,
            run_config=QUIET,
        )
        assert not alone.success
        (failure,) = alone.get_step_failure_events()
        message = error_messages(failure.event_specific_data.error)
        assert "fraud-detector version 2 is not deployed" in message, message
        assert "model_evaluation:min_f1 failed" in message and "model_evaluation:max_brier failed" in message
        assert "model_evaluation:min_roc_auc" not in message, message
        assert deployer.status()["model_version"] == "1" and champion() == 1
        assert not registry.gates_passed(registry.DEFAULT_MODEL_NAME, 2)

    # A rollback goes only to a version that passed its gates when it was deployed.
    assert main(["rollback", "--version", "2"]) == 1
    assert "version 2 never passed its gates" in capsys.readouterr().err
    assert deployer.status()["model_version"] == "1"
    assert registry.gates_passed(registry.DEFAULT_MODEL_NAME, 1)
    assert main(["rollback", "--version", "1"]) == 0
    assert deployer.status()["model_version"] == "1" and champion() == 1
