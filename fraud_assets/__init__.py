"""fraud-assets: a Dagster asset graph that keeps a card-payment fraud model trained, checked and served."""

import os

# Telemetry off unless the user decided otherwise. MLflow 3 reads MLFLOW_DISABLE_TELEMETRY (and
# DO_NOT_TRACK only when it is "true"), and only at import, so this runs before anything imports it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
