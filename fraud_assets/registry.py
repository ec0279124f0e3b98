"""MLflow tracking and model registry: log a trained model with its evaluation, register it as a
new version with lineage tags and the SHA-256 of its folder's manifest (`model_artifact`), load a
version only after checking the whole folder against it, move the `champion` alias, and link to runs. Shared by training, release, monitoring and lineage.

Embedded default: a SQLite store at `$FRAUD_ASSETS_HOME/mlflow/mlflow.db` with artifacts under
`$FRAUD_ASSETS_HOME/mlflow/artifacts` (MLflow 3 deprecates the plain-folder store, and its SQL
store would otherwise put artifacts under ./mlruns of whatever directory the process runs in).
MLFLOW_TRACKING_URI switches to a tracking server without code changes.

MLflow is imported inside the functions that use it (why: `fraud_assets.definitions`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cloudpickle
import numpy as np
import pandas as pd

import fraud_assets.training
from fraud_assets import links, model_artifact, settings

if TYPE_CHECKING:
    import mlflow
    from mlflow.tracking import MlflowClient

    from fraud_assets.training.evaluation import ModelDiagnostics, ModelEvaluation

DEFAULT_MODEL_NAME = "fraud-detector"
DEFAULT_EXPERIMENT = "fraud-detector"
DRIFT_EXPERIMENT = "fraud-detector-drift"
DRIFT_REPORT_ARTIFACT = "drift_report.html"
CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous-champion"
MODEL_ARTIFACT = "model"
MODEL_FILE = model_artifact.MODEL_FILE
MANIFEST_SHA256_TAG = "manifest_sha256"
DAGSTER_RUN_TAG = "dagster_run_id"
DAGSTER_RUN_URL_TAG = "dagster_run_url"
NOTE_TAG = "mlflow.note.content"  # the run's description, which MLflow's UI renders as Markdown
ASSET_KEY_TAG = "dagster_asset_key"
SLICES_TAG = "training_slices"
SLICE_COUNT_TAG = "training_slice_count"
GATES_PASSED_TAG = "gates_passed_at_deploy"  # what cleared it (e.g. the Dagster run) when it was deployed
RUN_TAG_LIMIT = 5000  # MLflow caps run tag values at 8000 characters


@dataclass(frozen=True)
class RegisteredModelVersion:
    name: str
    version: int
    run_id: str
    model_uri: str  # models:/<name>/<version>
    manifest_sha256: str  # SHA-256 of the model folder's manifest.json (see model_artifact)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else the SQLite store under the home (folders created)."""
    if uri := settings.load().mlflow_tracking_uri:
        return uri
    root = settings.home() / "mlflow"
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def run_url(run_id: str) -> str | None:
    """The run's page in the MLflow UI, None when no UI is known (see `links`)."""
    if settings.mlflow_ui_url() is None:
        return None
    return links.mlflow_run_url(_client(tracking_uri()).get_run(run_id).info.experiment_id, run_id)


def run_link(run_id: str) -> str:
    """Where a person finds the run: its page in the MLflow UI, or how to browse a local store."""
    if url := run_url(run_id):
        return url
    uri = tracking_uri()
    return f"{uri} (run {run_id}; browse with `mlflow ui --backend-store-uri {uri}`)"


def artifact_root(uri: str | None = None) -> str | None:
    """Where new experiments keep artifacts: FRAUD_MLFLOW_ARTIFACTS_URL, else the home's folder for
    a local store; None for a tracking server, which stores them where it was started to (a client
    writing to its own disk would leave them where neither the server nor a pod can read them)."""
    if url := settings.load().mlflow_artifacts_url:
        return url
    if (uri or tracking_uri()).startswith(("http://", "https://")):
        return None
    return (settings.home() / "mlflow" / "artifacts").as_uri()


def ensure_experiment(name: str = DEFAULT_EXPERIMENT, uri: str | None = None) -> str:
    """Create the experiment with its artifacts under `artifact_root()` unless it exists; call it
    before anything that would create it implicitly (dagster-mlflow's resource does), or its
    artifacts land under the working directory. Being the first call a run makes to the store,
    it names the store when that fails (MLflow's own message names only an API endpoint)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    uri = uri or _current_uri()
    client = _client(uri)
    try:
        experiment = client.get_experiment_by_name(name)
    except MlflowException as error:
        raise MlflowException(
            f"MLflow tracking store {uri}: looking up experiment {name!r} failed: {error.message}",
            error_code=ErrorCode.Value(error.error_code),
        ) from error
    if experiment is not None:
        return experiment.experiment_id
    root = artifact_root(uri)
    return client.create_experiment(name, artifact_location=f"{root.rstrip('/')}/{name}" if root else None)


def lineage_tags(dagster_run_id: str | None, asset_key: str | None, slice_ids: Sequence[str]) -> dict[str, str]:
    """Tags tying a run and model version to the Dagster run, asset and training slices."""
    tags = {SLICES_TAG: json.dumps(sorted(slice_ids)), SLICE_COUNT_TAG: str(len(slice_ids))}
    if dagster_run_id:
        tags[DAGSTER_RUN_TAG] = dagster_run_id
        tags[DAGSTER_RUN_URL_TAG] = links.dagster_run_url(dagster_run_id)
    if asset_key:
        tags[ASSET_KEY_TAG] = asset_key
    return tags


def dagster_note(dagster_run_id: str) -> str:
    """The run description: a link back to the Dagster run that made it."""
    return f"Made by Dagster run [{dagster_run_id[:8]}]({links.dagster_run_url(dagster_run_id)})."


def log_drift_report(
    html: str, metrics: Mapping[str, float], tags: Mapping[str, str], dagster_run_id: str | None = None
) -> tuple[str, str]:
    """A finished run in the drift experiment holding one Evidently report as an HTML artifact, so
    the MLflow UI shows it rendered; (experiment id, run id). MlflowClient, not the fluent API: a
    run the caller has open stays untouched."""
    uri = tracking_uri()
    client = _client(uri)
    experiment_id = ensure_experiment(DRIFT_EXPERIMENT, uri)
    run_tags = dict(tags)
    if dagster_run_id:
        run_tags |= {
            DAGSTER_RUN_TAG: dagster_run_id,
            DAGSTER_RUN_URL_TAG: links.dagster_run_url(dagster_run_id),
            NOTE_TAG: dagster_note(dagster_run_id),
        }
    run = client.create_run(experiment_id, tags=run_tags, run_name="drift-report")
    try:
        client.log_text(run.info.run_id, html, DRIFT_REPORT_ARTIFACT)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, float(value))
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id)
    return experiment_id, run.info.run_id


def log_and_register(
    model,
    evaluation: ModelEvaluation,
    params: Mapping[str, object],
    tags: Mapping[str, str],
    input_example: pd.DataFrame,
    name: str = DEFAULT_MODEL_NAME,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
) -> RegisteredModelVersion:
    """Log params, metrics, the evaluation table and the model to the active MLflow run (or a new
    one, ended here), then register the model as a new version of `name` tagged with `tags` and
    the SHA-256 of its manifest.

    The model folder is written here and its manifest computed from those bytes before the upload,
    so nothing changed in the artifact store after that can match the registered hash."""
    import mlflow
    from mlflow.models import infer_signature

    with _active_or_new_run(experiment, run_name) as run:
        mlflow.log_params(dict(params))
        mlflow.log_metrics({**evaluation.metrics, "threshold": evaluation.threshold, **_confusion(evaluation)})
        mlflow.set_tags(_run_tags(tags))
        _log_evaluation(evaluation)
        input_example = input_example.loc[:, list(model.feature_names_in_)].astype(np.float64)
        with tempfile.TemporaryDirectory(prefix="fraud-model-") as tmp:
            local = Path(tmp) / MODEL_ARTIFACT
            with _classes_pickled_by_value(), _pins_not_rechecked():
                # cloudpickle, not MLflow's default skops: skops refuses to load types it was not
                # told to trust (our classifier, HGB internals). And by value, not by reference as
                # pickle stores importable classes: model.pkl then carries FraudClassifier's code and
                # needs only `model_requirements()`, so a server (or a rollback to an old version)
                # does not depend on which version of this project is installed where it runs.
                mlflow.sklearn.save_model(
                    model,
                    str(local),
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                    signature=infer_signature(input_example, model.predict(input_example)),
                    input_example=input_example,
                    # Inferring them loads the model in a subprocess and pins whatever it imported
                    # (seconds per run, and not what unpickling needs); these are exactly that.
                    pip_requirements=model_requirements(),
                )
            manifest_hash = model_artifact.write_manifest(local)
            mlflow.log_artifacts(str(local), MODEL_ARTIFACT)
        registered = mlflow.register_model(
            f"runs:/{run.info.run_id}/{MODEL_ARTIFACT}", name, tags={**tags, MANIFEST_SHA256_TAG: manifest_hash}
        )
        mlflow.set_tag(MANIFEST_SHA256_TAG, manifest_hash)
        mlflow.set_tag("registered_model_version", f"{name}/{registered.version}")
        return RegisteredModelVersion(
            name=name,
            version=int(registered.version),
            run_id=run.info.run_id,
            model_uri=f"models:/{name}/{registered.version}",
            manifest_sha256=manifest_hash,
        )


def log_diagnostics(run_id: str, diagnostics: ModelDiagnostics, uri: str | None = None) -> None:
    """Add importances and curves to a model's run after it was registered (the run may have
    ended): they are computed off the path to deployment."""
    client = _client(uri)
    client.log_text(run_id, diagnostics.importance_markdown(), "evaluation/feature_importance.md")
    client.log_text(run_id, diagnostics.feature_importance.to_csv(index=False), "evaluation/feature_importance.csv")
    with tempfile.TemporaryDirectory(prefix="fraud-eval-") as tmp:
        curves = Path(tmp) / "curves.png"
        curves.write_bytes(diagnostics.curves_png)
        client.log_artifact(run_id, str(curves), "evaluation")


def model_requirements() -> list[str]:
    """Exactly what unpickling model.pkl needs, pinned to the versions it was written with."""
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ]


def manifest_sha256(name: str, version: int | str, uri: str | None = None) -> str:
    """The registered SHA-256 of a version's manifest; a version without one is refused."""
    expected = version_tags(name, version, uri).get(MANIFEST_SHA256_TAG)
    if not expected:
        raise model_artifact.ModelIntegrityError(
            f"model {name} version {version}: no '{MANIFEST_SHA256_TAG}' tag (registered without a manifest); "
            "refusing an unverifiable artifact"
        )
    return expected


def download_version(name: str, version: int | str, dst: str | Path, uri: str | None = None) -> Path:
    """A version's model folder, downloaded into a fresh folder and verified against the registered
    manifest, then put at `dst` (replacing what was there); nothing is unpickled. A folder that
    fails verification is removed and `dst` left as it was. A `dst` that already verifies is kept as it
    is (a server staged from it may be reading it)."""
    import mlflow

    expected = manifest_sha256(name, version, uri)
    dst = Path(dst)
    if (kept := _verified_copy(dst, expected)) is not None:
        return kept
    dst.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri(name, version, uri), dst_path=str(fresh))
        )
        model_artifact.verify(local, expected)
        if dst.exists():
            shutil.rmtree(dst)
        fresh.rename(dst)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return dst / local.relative_to(fresh)


def _verified_copy(dst: Path, expected: str) -> Path | None:
    """The model folder under `dst` if it matches the manifest digest `expected` (None otherwise)."""
    for folder in (dst, *(p.parent for p in dst.glob(f"*/{model_artifact.MANIFEST_FILE}"))):
        with suppress(model_artifact.ModelIntegrityError, OSError):
            model_artifact.verify(folder, expected)
            return folder
    return None


def verify_version(name: str, version: int | str, uri: str | None = None) -> None:
    """Check a version's folder in the artifact store against its manifest, unpickling nothing."""
    with tempfile.TemporaryDirectory(prefix="fraud-model-") as tmp:
        download_version(name, version, Path(tmp) / MODEL_ARTIFACT, uri)


def load_version(name: str, version: int | str, uri: str | None = None):
    """The classifier of a registered version, loaded only from a folder that matches its manifest."""
    import mlflow

    expected = manifest_sha256(name, version, uri)
    with tempfile.TemporaryDirectory(prefix="fraud-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri(name, version, uri), dst_path=tmp)
        return model_artifact.load_verified(local, expected)


def model_version(name: str, version: int | str, uri: str | None = None):
    """The registry's record of a version (run id, tags, aliases)."""
    return _client(uri).get_model_version(name, str(version))


def artifact_uri(name: str, version: int | str, uri: str | None = None) -> str:
    """Where the version's model folder lives in the artifact store (what a remote server downloads)."""
    return _client(uri).get_model_version_download_uri(name, str(version))


def version_tags(name: str, version: int | str, uri: str | None = None) -> dict[str, str]:
    return dict(_client(uri).get_model_version(name, str(version)).tags)


def training_slices(name: str, version: int | str, uri: str | None = None) -> list[str]:
    """The partition keys of the slices a version read: its training and validation windows (the drift reference)."""
    return json.loads(version_tags(name, version, uri).get(SLICES_TAG, "[]"))


def model_version_url(name: str, version: int | str) -> str | None:
    """The version's page in the MLflow UI, None when no UI is known."""
    return links.mlflow_model_version_url(name, version)


def record_gates_passed(name: str, version: int | str, cleared_by: str, uri: str | None = None) -> None:
    """Mark a version as having passed every deployment gate when it was deployed (what a rollback checks)."""
    _client(uri).set_model_version_tag(name, str(version), GATES_PASSED_TAG, cleared_by or "unknown")


def gates_passed(name: str, version: int | str, uri: str | None = None) -> bool:
    return bool(version_tags(name, version, uri).get(GATES_PASSED_TAG))


def get_alias_version(name: str, alias: str, uri: str | None = None) -> int | None:
    """The version an alias points at, or None when the alias or the model does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        aliases = _client(uri).get_registered_model(name).aliases
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    return int(aliases[alias]) if alias in aliases else None


def set_champion(name: str, version: int | str, uri: str | None = None) -> int | None:
    """Point `champion` at `version`, keeping the one it replaces as `previous-champion` for
    rollback; returns that previous version (None if there was none or it is the same)."""
    client = _client(uri)
    client.get_model_version(name, str(version))  # fails clearly on an unknown version
    previous = get_alias_version(name, CHAMPION, uri)
    if previous is not None and previous != int(version):
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(previous))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    return previous if previous != int(version) else None


def _client(uri: str | None) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    uri = uri or _current_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _current_uri() -> str:
    """The active run's store if a run is open (e.g. dagster-mlflow's), else `tracking_uri()`."""
    import mlflow

    return mlflow.get_tracking_uri() if mlflow.active_run() else tracking_uri()


@contextmanager
def _active_or_new_run(experiment: str, run_name: str | None) -> Iterator[mlflow.ActiveRun]:
    """Reuse the caller's run (dagster-mlflow ends it when the Dagster run finishes); otherwise
    start one here and end it here, marking it FAILED if logging raises."""
    import mlflow

    if (run := mlflow.active_run()) is not None:
        yield run
        return
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with mlflow.start_run(experiment_id=ensure_experiment(experiment, uri), run_name=run_name) as run:
        yield run


@contextmanager
def _classes_pickled_by_value() -> Iterator[None]:
    cloudpickle.register_pickle_by_value(fraud_assets.training)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(fraud_assets.training)


@contextmanager
def _pins_not_rechecked() -> Iterator[None]:
    """`model_requirements()` pins the versions this very process runs (and MLflow adds its own), so MLflow's check
    that the environment satisfies them cannot fail; it first maps every installed distribution to its modules,
    1-3 s of each training run. MLflow has no switch for it (MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK skips another)."""
    from unittest import mock

    from mlflow.utils import environment

    with mock.patch.object(environment, "warn_dependency_requirement_mismatches", lambda requirements: None):
        yield


def _run_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Run tags are capped at 8000 characters; a long slice list is summarised there (the model
    version tag keeps it whole)."""
    run_tags = dict(tags)
    if DAGSTER_RUN_TAG in run_tags:
        run_tags[NOTE_TAG] = dagster_note(run_tags[DAGSTER_RUN_TAG])
    slices = run_tags.get(SLICES_TAG, "")
    if len(slices) > RUN_TAG_LIMIT:
        listed = json.loads(slices)
        run_tags[SLICES_TAG] = f"{listed[0]} .. {listed[-1]} ({len(listed)} slices; full list on the model version)"
    return run_tags


def _confusion(evaluation: ModelEvaluation) -> dict[str, int]:
    (tn, fp), (fn, tp) = evaluation.confusion
    return {"true_negatives": tn, "false_positives": fp, "false_negatives": fn, "true_positives": tp}


def _log_evaluation(evaluation: ModelEvaluation) -> None:
    import mlflow

    mlflow.log_text(evaluation.to_markdown(), "evaluation/evaluation.md")
