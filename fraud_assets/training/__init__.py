"""The model half: step-ordered split, classifier, threshold, evaluation and gates, and the
candidate they make (trained, registered through `fraud_assets.registry`, judged against the gates).

Dagster-free plain functions; the assets in `fraud_assets.assets` wire them together.
"""

import os

# MLflow 3.17 decides on telemetry once, when it is imported, from MLFLOW_DISABLE_TELEMETRY or
# DO_NOT_TRACK (only the string "true" counts; MLFLOW_ENABLE_TELEMETRY is not read). Defaults
# only: an explicit setting in the environment wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Per-file download progress bars flood Dagster's captured logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
