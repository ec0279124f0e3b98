"""fraud-assets: a Dagster asset graph that keeps a card-payment fraud model trained, checked and served."""

import os

# Defaults for MLflow, set here because every module of the package is imported after this one;
# an explicit setting in the environment wins. MLflow 3 decides on telemetry once, when it is
# imported, from MLFLOW_DISABLE_TELEMETRY or DO_NOT_TRACK (only the string "true" counts).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Per-file download progress bars flood Dagster's captured logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
