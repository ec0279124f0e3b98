from mlflow.tracking import MlflowClient

from fraud_assets import registry
from fraud_assets.training.evaluation import diagnose


def test_diagnostics_are_added_to_a_finished_run(tmp_path, trained):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("diagnostics", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    client.set_terminated(run.info.run_id)  # diagnostics come after the model's run has ended
    windows = trained.windows
    diagnostics = diagnose(trained.model, windows.X_validation, windows.y_validation, importance_rows=1000)

    registry.log_diagnostics(run.info.run_id, diagnostics, uri)

    logged = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert logged == {"evaluation/curves.png", "evaluation/feature_importance.csv", "evaluation/feature_importance.md"}
