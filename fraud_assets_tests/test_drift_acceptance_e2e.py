"""Drift recovery by a recorded decision, on a real instance, MLflow store and Seldon server (issue 11, item 4).

30 days → v1 serves; three drifted days → the drift gate blocks; a clean day after them → still
blocked (the drifted days stay in "current"); a person accepts the drift with a reason through
`fraud-assets drift accept`; the next clean day deploys, and `fraud-assets lineage` shows who
accepted it, why and when.
"""

import json

import pytest
from dagster import DagsterInstance

from fraud_assets import registry
from fraud_assets.asset_keys import DATA_DRIFT, DRIFT_REFERENCE, TARGET_DRIFT
from fraud_assets.cli import main
from fraud_assets.demo import DEMO_DRIFT, land_and_refresh
from fraud_assets.deployment.deployer import LocalDeployer
from fraud_assets.instance import prepare_dagster_home
from fraud_assets.simulation.simulator import Drift

PORT = 9318
REASON = "card thefts doubled for good: the new normal"


@pytest.fixture
def deployer(home, monkeypatch):
    monkeypatch.delenv("FRAUD_MIN_F1", raising=False)
    monkeypatch.setenv("FRAUD_DEPLOY_PORT", str(PORT))
    monkeypatch.setenv("FRAUD_DEPLOY_WORKERS", "1")
    deployer = LocalDeployer(port=PORT, workers=1)
    try:
        yield deployer
    finally:
        deployer.stop()


def blocked_by_drift(stage) -> bool:
    return stage.checks.get(DATA_DRIFT) is False or stage.checks.get(TARGET_DRIFT) is False


@pytest.mark.timeout(900)
def test_a_blocked_drift_clears_only_by_a_recorded_acceptance(deployer, capsys):
    prepare_dagster_home()  # the instance `fraud-assets drift accept` and `lineage` open too
    with DagsterInstance.get() as instance:
        first = land_and_refresh(instance, range(0, 30), deployer, "baseline")
        assert first.deployed_version == 1 and first.serving_version == "1", first.check_messages

        drifted = land_and_refresh(
            instance, range(30, 33), deployer, "drifted", drift=Drift(start_step=28, **DEMO_DRIFT)
        )
        assert blocked_by_drift(drifted), drifted.check_messages
        failed = [m for k, m in drifted.check_messages.items() if not drifted.checks[k]]
        assert all("fraud-assets drift accept --reason" in m for m in failed), failed
        assert drifted.deployed_version is None and drifted.serving_version == "1"

        clean = land_and_refresh(instance, [33], deployer, "clean day after the drift")
        assert blocked_by_drift(clean), clean.check_messages
        assert clean.deployed_version is None and clean.serving_version == "1"

        capsys.readouterr()
        assert main(["drift", "accept", "--reason", REASON, "--by", "risk-team"]) == 0
        assert "34 slices (step_000 .. step_033)" in capsys.readouterr().out
        recorded = instance.get_latest_materialization_event(DRIFT_REFERENCE).asset_materialization
        assert recorded.metadata["accepted_by"].value == "risk-team" and recorded.metadata["reason"].value == REASON

        recovered = land_and_refresh(instance, [34], deployer, "next clean day")
        assert recovered.checks and all(recovered.checks.values()), recovered.check_messages
        assert recovered.deployed_version is not None, recovered.check_messages
        assert recovered.serving_version == str(recovered.deployed_version)
        assert registry.get_alias_version(registry.DEFAULT_MODEL_NAME, registry.CHAMPION) == recovered.deployed_version

    assert main(["lineage", "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["model"]["version"] == str(recovered.deployed_version)
    accepted = chain["drift_acceptance"]
    assert accepted["accepted_by"] == "risk-team" and accepted["reason"] == REASON and accepted["accepted_at"]
    assert accepted["slices"] == [f"step_{i:03d}" for i in range(34)]
    assert "accepted drift reference of 34 slices" in chain["run"]["drift_reference"]
    assert main(["lineage"]) == 0
    assert f"drift accepted by risk-team at {accepted['accepted_at']}: {REASON}" in capsys.readouterr().out
