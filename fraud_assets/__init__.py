"""fraud-assets: a Dagster asset graph that keeps a card-payment fraud model trained, checked and served."""

import os

# Defaults for libraries, set here because every module of the package is imported after this one;
# an explicit setting in the environment wins. MLflow 3 decides on telemetry once, when it is
# imported, from MLFLOW_DISABLE_TELEMETRY or DO_NOT_TRACK (only the string "true" counts).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Per-file download progress bars flood Dagster's captured logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Dagster's automation daemon reads every update of a tick up to the event id it captured at the start, with a
# short wait for writes in flight: `fraud_assets.automation` tells a landing run's updates from others' by the
# same events that made them new. Processes started from this one (`make run`'s daemon) inherit it.
os.environ.setdefault("DAGSTER_AUTOMATION_TICK_SETTLE_SECONDS", "0.5")
# OpenMP threads that wait at a barrier sleep instead of spinning (libgomp spins first by default): spinning, the
# model's two fit threads were slower than one beside another busy process (figures in `training/model.py`). Read
# when the OpenMP runtime loads, which is after this: scikit-learn loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
