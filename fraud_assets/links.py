"""The URLs a person opens from another page: a Dagster run, an MLflow run, artifact or model version,
the scoring page. Plain strings from the settings, so the assets, MLflow tags and the page agree.

MLflow's UI routes after its `#`; None where no MLflow UI is known (a local store nobody serves).
"""

from __future__ import annotations

from urllib.parse import quote

from fraud_assets import settings


def dagster_run_url(run_id: str) -> str:
    return f"{settings.dagster_url()}/runs/{run_id}"


def mlflow_run_url(experiment_id: str, run_id: str) -> str | None:
    ui = settings.mlflow_ui_url()
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}" if ui else None


def mlflow_artifact_url(experiment_id: str, run_id: str, path: str) -> str | None:
    """The run's page opened on one artifact: MLflow shows an HTML artifact rendered, scripts and all."""
    run = mlflow_run_url(experiment_id, run_id)
    return f"{run}/artifacts/{quote(path)}" if run else None


def mlflow_model_version_url(name: str, version: int | str) -> str | None:
    ui = settings.mlflow_ui_url()
    return f"{ui}/#/models/{quote(name)}/versions/{version}" if ui else None


def scoring_page_url() -> str | None:
    return settings.scoring_page_url()
