# User-code image for Dagster on Kubernetes, and the Seldon model image (target `model`).
# Dependencies are installed from the lock file before the source is copied, so a code change
# rebuilds only the last layers.
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MLFLOW_ENABLE_TELEMETRY=false DO_NOT_TRACK=1 OMP_NUM_THREADS=1
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md dagster.yaml workspace.yaml ./
COPY fraud_assets ./fraud_assets
RUN pip install --no-deps . && chown -R app /app
USER app

# Dagster code location: serves the definitions over gRPC to the webserver and daemon.
FROM base AS code
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "fraud_assets.definitions"]

# Seldon model server: the same package's model class behind seldon-core-microservice.
FROM base AS model
EXPOSE 9000 9500 6000
ENV MODEL_NAME=fraud_assets.deployment.seldon_model.FraudModel SERVICE_TYPE=MODEL
CMD ["sh", "-c", "exec seldon-core-microservice $MODEL_NAME --service-type $SERVICE_TYPE"]
