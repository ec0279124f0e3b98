"""The URLs the metadata, MLflow tags and the page link to, from the settings."""

from fraud_assets import links


def test_no_mlflow_ui_no_mlflow_links(monkeypatch):
    monkeypatch.delenv("FRAUD_MLFLOW_UI_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/mlflow.db")
    assert links.mlflow_run_url("1", "abc") is None
    assert links.mlflow_model_version_url("fraud-detector", 3) is None
    assert links.mlflow_artifact_url("1", "abc", "drift_report.html") is None


def test_a_tracking_server_is_its_own_ui(monkeypatch):
    monkeypatch.delenv("FRAUD_MLFLOW_UI_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000/")
    assert links.mlflow_run_url("1", "abc") == "http://mlflow:5000/#/experiments/1/runs/abc"


def test_the_mlflow_ui_pages(monkeypatch):
    monkeypatch.setenv("FRAUD_MLFLOW_UI_URL", "http://127.0.0.1:5000")
    assert links.mlflow_run_url("2", "abc") == "http://127.0.0.1:5000/#/experiments/2/runs/abc"
    assert links.mlflow_artifact_url("2", "abc", "drift_report.html") == (
        "http://127.0.0.1:5000/#/experiments/2/runs/abc/artifacts/drift_report.html"
    )
    assert (
        links.mlflow_model_version_url("fraud-detector", 3)
        == "http://127.0.0.1:5000/#/models/fraud-detector/versions/3"
    )


def test_dagster_and_the_page(monkeypatch):
    monkeypatch.delenv("FRAUD_DAGSTER_URL", raising=False)
    monkeypatch.delenv("FRAUD_SCORING_PAGE_URL", raising=False)
    assert links.dagster_run_url("r1") == "http://127.0.0.1:3000/runs/r1"
    assert links.scoring_page_url() is None
    monkeypatch.setenv("FRAUD_DAGSTER_URL", "https://dagster.example/")
    monkeypatch.setenv("FRAUD_SCORING_PAGE_URL", "http://127.0.0.1:8501")
    assert links.dagster_run_url("r1") == "https://dagster.example/runs/r1"
    assert links.scoring_page_url() == "http://127.0.0.1:8501"
