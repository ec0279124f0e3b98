"""The whole graph on a real instance, MLflow store and Seldon process: deploy, redeploy, gates.

One story so the expensive parts (training, a model server) are paid once: 30 days → v1 serves;
three clean days → v2 replaces it; bounds out of reach → the metric gates block; drifted days →
the drift gates block; v2 keeps serving throughout.
"""

import json

import mlflow
import pytest
from dagster import DagsterInstance

from fraud_assets import registry
from fraud_assets.cli import main
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.demo import DEMO_DRIFT, land_and_refresh, sample_prediction
from fraud_assets.deployment import local, processes
from fraud_assets.lineage import render, serving_lineage
from fraud_assets.resources import MetricBoundsResource
from fraud_assets.simulation.simulator import Drift
from fraud_assets.storage import sha256_bytes


@pytest.fixture
def deployer(start_local_deployer):
    return start_local_deployer("on")


def champion(alias=registry.CHAMPION):
    return registry.get_alias_version(registry.DEFAULT_MODEL_NAME, alias)


@pytest.mark.timeout(900)
def test_deploy_redeploy_and_every_gate_blocking(deployer, monkeypatch):
    with DagsterInstance.ephemeral() as instance:
        first = land_and_refresh(instance, range(0, 30), deployer, "baseline")
        assert first.success and first.checks and all(first.checks.values()), first.check_messages
        assert first.deployed_version == 1 and first.serving_version == "1" and champion() == 1
        answer = sample_prediction(deployer.status()["url"], first.candidate)
        assert 0.0 <= answer["fraud_probability"] <= 1.0 and answer["fraud_decision"] in (0, 1, 0.0, 1.0)

        second = land_and_refresh(instance, range(30, 33), deployer, "clean days")
        assert all(second.checks.values()), second.check_messages
        assert second.deployed_version == 2 and second.serving_version == "2"
        assert champion() == 2 and champion(registry.PREVIOUS_CHAMPION) == 1

        # Bounds out of reach on a clean day: only the metric gates fail, and nothing deploys.
        bounds = MetricBoundsResource(min_f1=0.999, max_brier=0.0)
        blocked = land_and_refresh(instance, [33], deployer, "strict bounds", bounds=bounds)
        assert blocked.checks["min_f1"] is False and blocked.checks["max_brier"] is False, blocked.checks
        assert "f1 = " in blocked.check_messages["min_f1"] and "0.9990" in blocked.check_messages["min_f1"]
        assert blocked.checks["drift_share_within_limit"] and blocked.checks["no_target_drift"], blocked.check_messages
        assert blocked.deployed_version is None and blocked.serving_version == "2" and champion() == 2
        assert not local.staged_path().exists()  # a candidate is staged only once its metric gates pass

        # Drifted days (thefts doubled and amounts 1.5x since two days before they land): the target
        # drift gate blocks; a few days of 1.5x amounts move the short-window features but not
        # half of all features (the monitoring tests show that gate tripping on a longer drift).
        # The last good model keeps serving and answering.
        drifted = land_and_refresh(
            instance, range(34, 37), deployer, "drifted", drift=Drift(start_step=32, **DEMO_DRIFT)
        )
        assert drifted.checks["no_target_drift"] is False, drifted.check_messages
        assert "amount" in drifted.check_messages["drift_share_within_limit"], drifted.check_messages
        assert drifted.deployed_version is None and drifted.serving_version == "2" and champion() == 2
        # Its metric gates passed, so its server was staged while the drift gates ran; it waits, taking no traffic.
        staged = json.loads(local.staged_path().read_text())
        assert staged["for"]["version"] == "4" and processes.is_running(local._ref(staged["server"]))
        assert 0.0 <= sample_prediction(deployer.status()["url"], first.candidate)["fraud_probability"] <= 1.0

        # Lineage: from what serves back to the landed files, their hashes, the run and its gates.
        chain = serving_lineage(instance, deployer.status())
        assert chain["model"]["version"] == "2" and "champion" in chain["model"]["aliases"]
        assert [s["slice"] for s in chain["training_slices"]] == [f"step_{i:03d}" for i in range(33)]
        landed = Warehouse().path_of("step_031.csv")
        entry = next(s for s in chain["training_slices"] if s["slice"] == "step_031")
        assert entry["file"] == str(landed) and entry["sha256"] == sha256_bytes(landed.read_bytes())
        assert chain["run"]["checks"]["drift_report:no_target_drift"]["passed"] is True
        assert "model_deployment" in chain["run"]["materialized"]
        assert mlflow.get_run(chain["mlflow_run_id"]).data.tags["dagster_run_id"] == chain["dagster_run_id"]
        assert "step_031" in render(chain)

        # No MLflow run is left open by any of the runs above.
        runs = mlflow.search_runs(experiment_names=[registry.DEFAULT_EXPERIMENT])
        assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}, runs[["run_id", "status"]]

        # Rollback: the previous champion serves again and the aliases follow.
        assert main(["rollback"]) == 0  # on the fixture's port (FRAUD_DEPLOY_PORT) with one worker
        assert deployer.status()["model_version"] == "1"
        assert champion() == 1 and champion(registry.PREVIOUS_CHAMPION) == 2
        assert processes.group_members(staged["server"]["pid"]) == []  # a deploy of another version stopped it
