# One image, two targets:
#   docker build --target code  -t fraud-assets:0.1.0 .        Dagster code location (gRPC on 4000)
#   docker build --target model -t fraud-assets-model:0.1.0 .  Seldon model server (REST 9000, gRPC 5000, metrics 6000)
# Dependencies come from the lock file and are installed before the source is copied, so a code
# change rebuilds only the last layers. Everything runs as the unprivileged user `app` (uid 10001).
FROM python:3.12-slim AS base
# OMP_NUM_THREADS=1: a container sees the node's cores, not its CPU share; the training pod
# raises it to its CPU request (fraud_assets/execution.py).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true OMP_NUM_THREADS=1
RUN useradd --create-home --uid 10001 app \
 && mkdir -p /opt/dagster/dagster_home && chown app /opt/dagster/dagster_home
WORKDIR /app
COPY requirements.lock ./
# The exact pinned set, minus the test tools of pyproject's `dev` extra; --no-deps so nothing is
# resolved at build time.
RUN grep -vE '^(pytest|pytest-timeout|playwright|ruff|mypy)==' requirements.lock > /tmp/runtime.lock \
 && pip install --no-deps -r /tmp/runtime.lock \
 && rm /tmp/runtime.lock
COPY fraud_assets ./fraud_assets
# The package is used from /app (no build backend to fetch); code stays root-owned and read-only.
RUN python -m compileall -q fraud_assets
ENV PYTHONPATH=/app DAGSTER_HOME=/opt/dagster/dagster_home FRAUD_ASSETS_HOME=/home/app/.fraud_assets
USER app

# Dagster code location: serves the definitions over gRPC to the webserver and daemon. No
# ENTRYPOINT: the Helm chart passes the full command as container args.
FROM base AS code
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "fraud_assets.definitions"]

# Seldon model server: the same FraudModel class the local target runs, behind Seldon Core 1.19's
# wrapper. Configure it with Seldon parameters or FRAUD_MODEL_DIR, FRAUD_MODEL_SHA256,
# FRAUD_MODEL_NAME and FRAUD_MODEL_VERSION.
FROM base AS model
EXPOSE 9000 5000 6000
CMD ["seldon-core-microservice", "fraud_assets.deployment.seldon_model.FraudModel", "--service-type", "MODEL"]
