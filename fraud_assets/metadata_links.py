"""Links as Dagster metadata: a clickable URL where a UI serves the page, the text hint otherwise.

The URLs come from `links` and `registry`; this is the one place they become MetadataValues.
"""

from __future__ import annotations

from dagster import MetadataValue

from fraud_assets import links, registry


def mlflow_links(run_id: str, name: str, version: int | str) -> dict:
    """`mlflow_run` and `mlflow_model_version`: their MLflow UI pages, or how to browse the store."""
    version_url = registry.model_version_url(name, version)
    run_url = registry.run_url(run_id)
    return {
        "mlflow_run": MetadataValue.url(run_url) if run_url else registry.run_link(run_id),
        "mlflow_model_version": MetadataValue.url(version_url) if version_url else f"{name} version {version}",
    }


def scoring_page() -> dict:
    """`scoring_page` when a page is known (`fraud-assets dev` starts one)."""
    url = links.scoring_page_url()
    return {"scoring_page": MetadataValue.url(url)} if url else {}


def drift_report(experiment_id: str, run_id: str) -> dict:
    """`drift_report_page` (the HTML rendered in the MLflow UI) and the drift run's page."""
    page = links.mlflow_artifact_url(experiment_id, run_id, registry.DRIFT_REPORT_ARTIFACT)
    run = links.mlflow_run_url(experiment_id, run_id)
    if page is None or run is None:
        return {"drift_mlflow_run": registry.run_link(run_id)}
    return {"drift_report_page": MetadataValue.url(page), "drift_mlflow_run": MetadataValue.url(run)}
