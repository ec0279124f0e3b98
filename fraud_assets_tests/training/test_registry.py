import hashlib
import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score
from upath import UPath

from fraud_assets import registry
from fraud_assets.model_artifact import MANIFEST_FILE, ModelIntegrityError
from fraud_assets.training.evaluation import evaluate


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> bytes:
    """An empty, migrated MLflow database: creating one runs ~100 schema migrations (seconds), so
    each test gets a copy of this one instead."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path.read_bytes()


@pytest.fixture(autouse=True)
def own_store(home, empty_store):
    """Every test gets its own tracking store under its own FRAUD_ASSETS_HOME."""
    (home / "mlflow").mkdir(parents=True)
    (home / "mlflow" / "mlflow.db").write_bytes(empty_store)


@pytest.fixture(scope="module")
def evaluation(trained):
    return evaluate(trained.model, trained.windows.X_validation, trained.windows.y_validation)


@pytest.fixture
def register(home, trained, evaluation):
    """Log and register the session's model into this test's own store under `home`."""

    def _register(**overrides):
        arguments = {
            "model": trained.model,
            "evaluation": evaluation,
            "params": trained.model.get_params(),
            "tags": registry.lineage_tags("dagster-run-1", "fraud_model", ["2024-01-02", "2024-01-01"]),
            "input_example": trained.windows.X_validation.head(3),
        }
        return registry.log_and_register(**{**arguments, **overrides})

    yield _register
    assert mlflow.active_run() is None, "a test left an MLflow run open"


def test_round_trip_gives_identical_predictions(home, register, trained, evaluation):
    version = register()

    loaded = registry.load_version(version.name, version.version)

    X = trained.windows.X_validation
    np.testing.assert_array_equal(loaded.predict_proba(X), trained.model.predict_proba(X))
    assert loaded.threshold == trained.model.threshold
    assert loaded.feature_names_in_ == trained.model.feature_names_in_
    assert (version.name, version.version, version.model_uri) == ("fraud-detector", 1, "models:/fraud-detector/1")

    run = MlflowClient(registry.tracking_uri()).get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["pr_auc"] == evaluation.metrics["pr_auc"]
    assert run.data.metrics["threshold"] == trained.model.threshold
    assert run.data.params["max_leaf_nodes"] == str(trained.model.max_leaf_nodes)
    assert run.data.tags[registry.DAGSTER_RUN_TAG] == "dagster-run-1"
    assert run.data.tags[registry.MANIFEST_SHA256_TAG] == version.manifest_sha256

    tags = registry.version_tags(version.name, version.version)
    assert tags[registry.ASSET_KEY_TAG] == "fraud_model"
    assert tags[registry.MANIFEST_SHA256_TAG] == version.manifest_sha256
    assert registry.training_slices(version.name, version.version) == ["2024-01-01", "2024-01-02"]

    local = registry.download_version(version.name, version.version, home / "download")
    assert hashlib.sha256((local / MANIFEST_FILE).read_bytes()).hexdigest() == version.manifest_sha256
    requirements = (local / "requirements.txt").read_text().splitlines()
    assert set(requirements) - set(registry.model_requirements()) == {f"mlflow=={mlflow.__version__}"}
    # Artifacts live under FRAUD_ASSETS_HOME, not under the working directory (./mlruns).
    stored_at = MlflowClient(registry.tracking_uri()).get_model_version_download_uri(version.name, "1")
    assert stored_at.startswith((home / "mlflow" / "artifacts").as_uri())
    assert run.info.artifact_uri.startswith((home / "mlflow" / "artifacts").as_uri())


def test_registering_does_not_rescan_the_installed_packages(home, register, monkeypatch):
    """The model's pins are the running versions: MLflow's check of them against the environment (which maps
    every installed distribution first, seconds per training run) is skipped."""
    from mlflow.utils import requirements_utils

    checked = []
    monkeypatch.setattr(requirements_utils, "_check_requirement_satisfied", checked.append)
    register()
    assert checked == []


def test_artifact_loads_without_the_project_code(home, register, trained):
    version = register()
    local = registry.download_version(version.name, version.version, home / "download")
    probe = trained.windows.X_validation.head(20)
    script = (
        "import sys, json, pickle, pandas as pd\n"
        "sys.modules['fraud_assets'] = None  # any import of the project now fails\n"
        f"model = pickle.load(open({str(local / registry.MODEL_FILE)!r}, 'rb'))\n"
        "rows = pd.read_json(sys.stdin, orient='split')\n"
        "print(json.dumps(model.predict_proba(rows)[:, 1].tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=probe.to_json(orient="split"), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(json.loads(result.stdout), trained.model.predict_proba(probe)[:, 1])


def test_a_tampered_artifact_is_refused(home, register):
    version = register()
    stored = next((home / "mlflow" / "artifacts").rglob(registry.MODEL_FILE))
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match=r"differs from the registered manifest's .*refusing to load"):
        registry.load_version(version.name, version.version)


def test_an_active_run_is_reused_and_left_to_its_owner(home, register):
    mlflow.set_tracking_uri(registry.tracking_uri())
    with mlflow.start_run(experiment_id=registry.ensure_experiment()) as outer:
        version = register()
        assert version.run_id == outer.info.run_id
        assert mlflow.active_run().info.run_id == outer.info.run_id
    assert MlflowClient(registry.tracking_uri()).get_run(outer.info.run_id).info.status == "FINISHED"


def test_a_failed_logging_run_is_ended_as_failed(home, register, trained):
    with pytest.raises(KeyError):
        register(input_example=trained.windows.X_validation.head(3).drop(columns="amount"))
    client = MlflowClient(registry.tracking_uri())
    (run,) = client.search_runs([client.get_experiment_by_name(registry.DEFAULT_EXPERIMENT).experiment_id])
    assert run.info.status == "FAILED"


def test_champion_alias_keeps_the_previous_one_for_rollback(home, register):
    assert registry.get_alias_version("fraud-detector", registry.CHAMPION) is None
    first, second = register(), register()
    assert (first.version, second.version) == (1, 2)

    assert registry.set_champion("fraud-detector", 1) is None
    assert registry.get_alias_version("fraud-detector", registry.PREVIOUS_CHAMPION) is None

    assert registry.set_champion("fraud-detector", 2) == 1
    assert registry.get_alias_version("fraud-detector", registry.CHAMPION) == 2
    assert registry.get_alias_version("fraud-detector", registry.PREVIOUS_CHAMPION) == 1

    # Re-promoting the champion does not overwrite the rollback target.
    assert registry.set_champion("fraud-detector", 2) is None
    assert registry.get_alias_version("fraud-detector", registry.PREVIOUS_CHAMPION) == 1


def test_tracking_uri_prefers_the_environment(home, monkeypatch):
    assert registry.tracking_uri() == f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert registry.tracking_uri() == "http://127.0.0.1:5000"


def test_the_run_links_back_to_its_dagster_run(home, register, monkeypatch):
    monkeypatch.setenv("FRAUD_DAGSTER_URL", "http://127.0.0.1:3999")
    version = register(tags=registry.lineage_tags("dagster-run-1", "fraud_model", ["2024-01-01"]))
    run = MlflowClient(registry.tracking_uri()).get_run(version.run_id)
    assert run.data.tags[registry.DAGSTER_RUN_URL_TAG] == "http://127.0.0.1:3999/runs/dagster-run-1"
    assert "(http://127.0.0.1:3999/runs/dagster-run-1)" in run.data.tags[registry.NOTE_TAG]  # Markdown link
    assert registry.version_tags(version.name, version.version)[registry.DAGSTER_RUN_URL_TAG].endswith("/dagster-run-1")


def test_run_link_is_the_ui_page_when_a_ui_is_known(home, register, monkeypatch):
    version = register()
    monkeypatch.delenv("FRAUD_MLFLOW_UI_URL", raising=False)
    assert registry.run_url(version.run_id) is None and "mlflow ui --backend-store-uri" in registry.run_link(
        version.run_id
    )
    monkeypatch.setenv("FRAUD_MLFLOW_UI_URL", "http://127.0.0.1:5999")
    experiment = MlflowClient(registry.tracking_uri()).get_run(version.run_id).info.experiment_id
    assert (
        registry.run_link(version.run_id) == f"http://127.0.0.1:5999/#/experiments/{experiment}/runs/{version.run_id}"
    )


def test_a_drift_report_is_a_finished_run_with_its_html(home):
    html = "<html><body>Evidently drift report</body></html>"
    experiment, run_id = registry.log_drift_report(
        html, {"share_drifted": 0.25}, {"reference": "champion v1"}, dagster_run_id="dagster-run-2"
    )
    client = MlflowClient(registry.tracking_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.experiment_id == experiment
    assert client.get_experiment(experiment).name == registry.DRIFT_EXPERIMENT
    assert run.data.metrics["share_drifted"] == 0.25 and run.data.tags["reference"] == "champion v1"
    assert run.data.tags[registry.DAGSTER_RUN_TAG] == "dagster-run-2"
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path=registry.DRIFT_REPORT_ARTIFACT,
        dst_path=str(home / "download"),
        tracking_uri=registry.tracking_uri(),
    )
    assert Path(local).read_text() == html
    assert mlflow.active_run() is None


def test_the_champion_gate_scores_the_champion_only_on_slices_it_has_no_kept_scores_of(
    home, register, trained, evaluation, tmp_path, monkeypatch
):
    # fraud_model keeps each candidate's validation scores by slice; the next day's gate reads the champion's
    # and scores it only on the day the champion's window did not hold: the same PR AUC as scoring it all.
    from fraud_assets.training.candidate import ModelCandidate
    from fraud_assets.training.gates import MetricBounds
    from fraud_assets.training.judging import judge
    from fraud_assets.training.validation_scores import StoredScores, validation_parts

    X, y = trained.windows.X_validation, trained.windows.y_validation
    third = len(X) // 3
    days = [X.iloc[:third], X.iloc[third : 2 * third], X.iloc[2 * third :]]
    champion_version = register()
    registry.set_champion(champion_version.name, champion_version.version)
    scores = StoredScores(UPath(tmp_path / "scores"))
    yesterday = pd.concat(days, ignore_index=True)
    scores.keep(
        champion_version.manifest_sha256,
        validation_parts(yesterday, [len(d) for d in days]),
        trained.model.predict_proba(yesterday)[:, 1],
    )
    new_day = days[0].assign(amount=days[0]["amount"] * 2)  # rows the champion never scored
    today = pd.concat([days[1], days[2], new_day], ignore_index=True)
    y_today = np.concatenate([y[third:], y[:third]])
    candidate = ModelCandidate(
        registered=register(),
        evaluation=evaluation,
        split={},
        training_slices=(),
        X_validation=today,
        y_validation=y_today,
        fit_seconds=0.0,
        training_rows=0,
        validation_parts=validation_parts(today, [len(days[1]), len(days[2]), len(new_day)]),
    )
    scored = []
    load_version = registry.load_version

    def counted_load(name, version, uri=None):
        model = load_version(name, version, uri)
        predict_proba = model.predict_proba
        model.predict_proba = lambda rows: scored.append(len(rows)) or predict_proba(rows)
        return model

    monkeypatch.setattr(registry, "load_version", counted_load)

    kept = judge(candidate, MetricBounds(), scores)
    assert scored == [len(new_day)]
    scored.clear()
    plain = judge(candidate, MetricBounds())
    assert scored == [len(today)]
    assert kept.champion_pr_auc == plain.champion_pr_auc
    assert kept.champion_pr_auc == average_precision_score(y_today, trained.model.predict_proba(today)[:, 1])
    scored.clear()
    assert judge(candidate, MetricBounds(), scores).champion_pr_auc == plain.champion_pr_auc
    assert scored == [], "the new day's scores were not kept"
