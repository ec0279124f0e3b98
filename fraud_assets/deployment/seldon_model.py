"""The fraud model behind Seldon Core's Python wrapper (seldon-core 1.19), for every target.

The same class runs in the local `seldon-core-microservice` process and in the Kubernetes image,
so what the tests exercise here is what serves in the cluster.

Raw transactions (REST): the Kaggle columns instead of the feature vector, features computed from
the online state (`raw_requests`, `online_scoring`); the response is the same, with the state's
position in the tags.

Protocol (REST and gRPC):
    request   {"data": {"names": [feature, ...], "ndarray": [[value, ...], ...]}}
              names in any order; they are matched to the model's `feature_names_in_`.
              ("tensor": {"shape": [rows, features], "values": [...]} is accepted too: it is
              SeldonClient's default encoding.)
    response  {"data": {"names": ["fraud_probability", "fraud_decision"], "ndarray": [[p, d], ...]},
               "meta": {"tags": {model name, version, sha256, threshold}}}
A request that breaks the protocol gets HTTP 400 with the broken rule in `status.info` (1.19 maps
SeldonMicroserviceException(status_code=400) to HTTP 400, with `status.code` -1 in the body); an
unknown route gets 404. Left alone, Seldon 1.19 answers many of these with 500: its catch-all
`Exception` handler also catches werkzeug's 404/415, its body decoding lets some errors through
(JSON nested too deeply, a form field's integer beyond Python's 4300-digit limit, bad UTF-8 in a
multipart file), and ragged arrays or integers beyond the float range fail inside its own parsing.
So the body is decoded before the wrapper's views run and the rows are parsed here (`predict_raw`),
both in `model_error_handler`, a blueprint the wrapper registers, which also gives HTTP errors
their own handler.

Configuration: Seldon parameters (`model_dir`, `expected_sha256`, `model_name`, `model_version`)
or the environment variables in `ENV`. `model_dir` is a registered model directory, or an MLflow
artifact URI downloaded at start (how a pod gets it); `expected_sha256` is its manifest's registered
SHA-256, and its pickle is only deserialised when every file of the directory matches that manifest.
"""

from __future__ import annotations

import gc
import logging
import math
import numbers
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from flask import Blueprint, jsonify, request
from seldon_core.flask_utils import SeldonMicroserviceException, get_request
from seldon_core.user_model import SeldonNotImplementedError, SeldonResponse
from werkzeug.exceptions import HTTPException

from fraud_assets import settings
from fraud_assets.deployment import raw_requests
from fraud_assets.deployment.booster_scoring import BoosterScorer
from fraud_assets.deployment.online_scoring import OnlineScorer, online_tags
from fraud_assets.deployment.state_store import NoState
from fraud_assets.features.definitions import FEATURE_COLUMNS
from fraud_assets.model_artifact import MODEL_FILE, load_verified
from fraud_assets.training.model import FraudClassifier

logger = logging.getLogger(__name__)

MODEL_CLASS = f"{__name__}.FraudModel"  # what seldon-core-microservice is told to serve
OUTPUT_NAMES = ("fraud_probability", "fraud_decision")
DEFAULT_MAX_ROWS = 10_000
ENV = {
    "model_dir": "FRAUD_MODEL_DIR",
    "expected_sha256": "FRAUD_MODEL_SHA256",
    "model_name": "FRAUD_MODEL_NAME",
    "model_version": "FRAUD_MODEL_VERSION",
}
BAD_REQUEST = "MICROSERVICE_BAD_DATA"
# the wrapper's views that decode the request body (seldon_core/wrapper.py, get_rest_microservice)
DECODING_VIEWS = frozenset({"Predict", "SendFeedback", "TransformInput", "TransformOutput", "Route", "Aggregate"})


class BadRequest(ValueError):
    """A prediction request that breaks the protocol; the message names the rule."""


@dataclass(frozen=True)
class ServingConfig:
    model_dir: str  # a local directory or an MLflow artifact URI (s3://, runs:/, models:/ ...)
    expected_sha256: str
    model_name: str
    model_version: str
    max_rows: int = DEFAULT_MAX_ROWS

    @classmethod
    def resolve(cls, max_rows: int = DEFAULT_MAX_ROWS, **given: str | None) -> ServingConfig:
        """Seldon parameters win over the environment; every value is required."""
        values, current = {}, settings.load()
        for key, env_var in ENV.items():
            value = given.get(key) or getattr(current, settings.VARIABLES[env_var].name) or ""
            if not str(value).strip():
                raise ValueError(f"serving config: {key!r} is missing (Seldon parameter {key} or env {env_var})")
            values[key] = str(value).strip()
        sha = values["expected_sha256"].lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"serving config: expected_sha256 must be 64 hex digits, got {sha!r}")
        if max_rows < 1:
            raise ValueError(f"serving config: max_rows must be >= 1, got {max_rows}")
        return cls(values["model_dir"], sha, values["model_name"], values["model_version"], int(max_rows))


def local_model_dir(model_dir: str) -> Path:
    """The artifact as a local directory: a plain path as it is, any URI (s3://, runs:/,
    models:/, file://) downloaded by MLflow into a fresh temporary directory. That is how a pod
    gets its model, and the SHA-256 check then covers the download too."""
    if "://" not in model_dir and not model_dir.startswith(("runs:/", "models:/")):
        return Path(model_dir)
    import tempfile

    import mlflow.artifacts

    target = tempfile.mkdtemp(prefix="fraud-model-")
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_dir, dst_path=target))


def load_verified_model(model_dir: str | os.PathLike, expected_sha256: str) -> Any:
    """The classifier of a model directory whose every file matches the manifest with the registered
    SHA-256 (`model_artifact.load_verified`), holding the attributes the server relies on."""
    model = load_verified(model_dir, expected_sha256)
    check_model_contract(model, Path(model_dir) / MODEL_FILE)
    return model


def check_model_contract(model: Any, where: object) -> None:
    """The attributes the server relies on, checked at load time rather than on the first request."""
    if not callable(getattr(model, "predict_proba", None)):
        raise TypeError(f"{where}: model has no predict_proba")
    names = getattr(model, "feature_names_in_", None)
    names = [] if names is None else list(names)
    if not names or len(set(names)) != len(names):
        raise TypeError(f"{where}: model.feature_names_in_ must be a non-empty list of distinct names")
    threshold = getattr(model, "threshold", None)
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise TypeError(f"{where}: model.threshold must be a number in [0, 1], got {threshold!r}")


def feature_frame(
    rows: Any, names: Any, feature_names: Sequence[str], max_rows: int = DEFAULT_MAX_ROWS
) -> pd.DataFrame:
    """Request rows (named in any order) as a float frame in the model's column order.

    Raises BadRequest naming the row, the feature and the rule, so a client can fix its call.
    """
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise BadRequest("data.names must be a list of feature names (strings)")
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated:
        raise BadRequest(f"data.names repeats {duplicated}")
    unknown = sorted(set(names) - set(feature_names))
    if unknown:
        raise BadRequest(f"data.names has unknown features {unknown}; the model expects {list(feature_names)}")
    missing = [f for f in feature_names if f not in names]
    if missing:
        raise BadRequest(f"data.names misses features {missing}; the model expects {list(feature_names)}")

    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if not isinstance(rows, list) or not rows:
        raise BadRequest("data.ndarray must be a non-empty list of rows")
    if len(rows) > max_rows:
        raise BadRequest(f"data.ndarray has {len(rows)} rows; at most {max_rows} per request")
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise BadRequest(f"data.ndarray row {i} must be a list of {width} numbers, got {type(row).__name__}")
        if len(row) != width:
            raise BadRequest(f"data.ndarray row {i} has {len(row)} values for {width} names")
        for name, value in zip(names, row, strict=False):
            if type(value) not in (int, float):  # bool is an int subclass: rejected on purpose
                raise BadRequest(
                    f"data.ndarray row {i}, feature {name!r}: expected a number, got {type(value).__name__} {value!r}"
                )
            try:
                finite = math.isfinite(value)
            except OverflowError:  # JSON integers have any number of digits; float64 stops near 1.8e308
                raise BadRequest(
                    f"data.ndarray row {i}, feature {name!r}: an integer beyond the float64 range "
                    "is not a finite number"
                ) from None
            if not finite:
                raise BadRequest(f"data.ndarray row {i}, feature {name!r}: {value} is not a finite number")

    values = np.asarray(rows, dtype=np.float64)
    order = [list(names).index(f) for f in feature_names]
    return pd.DataFrame(values[:, order], columns=list(feature_names))


def request_rows(request: dict) -> tuple[list, list]:
    """(rows, names) of a Seldon JSON request in the ndarray or the tensor encoding."""
    data = request.get("data")
    if not isinstance(data, dict) or "names" not in data or not ("ndarray" in data or "tensor" in data):
        raise BadRequest(
            'expected {"data": {"names": [...], "ndarray": [[...], ...]}} (or "tensor" instead of "ndarray")'
        )
    if "ndarray" in data:
        return data["ndarray"], data["names"]
    tensor, names = data["tensor"], data["names"]
    shape = tensor.get("shape") if isinstance(tensor, dict) else None
    values = tensor.get("values") if isinstance(tensor, dict) else None
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n > 0 for n in shape)):
        raise BadRequest(f"data.tensor.shape must be [rows, features], got {shape!r}")
    if not isinstance(values, list) or len(values) != shape[0] * shape[1]:
        raise BadRequest(f"data.tensor.values must hold {shape[0]} x {shape[1]} numbers")
    if isinstance(names, list) and shape[1] != len(names):
        raise BadRequest(f"data.tensor.shape has {shape[1]} features for {len(names)} names")
    return [values[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])], names


def _http_error(error: HTTPException):
    """JSON body in Seldon's error shape with the real HTTP code (404, 405, ...), not a 500."""
    code = error.code or 500
    info = error.description or error.name
    if code == 415:  # a POST without a JSON body: a bad request like any other
        code, info, reason = 400, "the request body must be JSON (Content-Type: application/json)", BAD_REQUEST
    else:
        reason = error.name.upper().replace(" ", "_")
    response = jsonify({"status": {"status": 1, "info": info, "code": code, "reason": reason}})
    response.status_code = code
    return response


def _decode_before_the_view() -> None:
    """Decode the body as the view is about to (`get_request`), turning the errors it lets through into
    400s. The view then decodes again: a JSON body from werkzeug's cache, form fields and files anew."""
    if request.endpoint not in DECODING_VIEWS:
        return
    try:
        get_request()
    except RecursionError:
        raise SeldonMicroserviceException(
            "the request is not valid JSON: it nests deeper than the parser allows", status_code=400, reason=BAD_REQUEST
        ) from None
    except UnicodeDecodeError as e:
        raise SeldonMicroserviceException(
            f"the request is not valid UTF-8: {e}", status_code=400, reason=BAD_REQUEST
        ) from None
    except ValueError as e:  # json.JSONDecodeError, or an integer beyond Python's 4300-digit limit
        raise SeldonMicroserviceException(
            f"the request is not valid JSON: {e}", status_code=400, reason=BAD_REQUEST
        ) from None
    finally:
        for upload in request.files.values():
            upload.stream.seek(0)


def error_blueprint() -> Blueprint:
    """App-wide hooks: the body decoded before any view, and handlers more specific than the wrapper's
    `Exception` handler, so Flask picks them."""
    blueprint = Blueprint("fraud_model_errors", __name__)
    blueprint.before_app_request(_decode_before_the_view)
    blueprint.app_errorhandler(HTTPException)(_http_error)
    return blueprint


class FraudModel:
    """Seldon user model: scores card payments with the registered fraud classifier.

    The model is verified and unpickled in `__init__`, which the wrapper runs in its parent
    process before any port is bound: a tampered artifact stops the process (non-zero exit) and
    nothing ever answers with it. `load` runs in each worker and warms the model up, so no OpenMP
    pool is created before the fork and the first request is not the slow one.
    """

    model_error_handler = error_blueprint()
    class_names: ClassVar[list[str]] = list(OUTPUT_NAMES)

    def __init__(
        self,
        model_dir: str | None = None,
        expected_sha256: str | None = None,
        model_name: str | None = None,
        model_version: str | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
    ):
        self.config = ServingConfig.resolve(
            max_rows,
            model_dir=model_dir,
            expected_sha256=expected_sha256,
            model_name=model_name,
            model_version=model_version,
        )
        self.model = load_verified_model(local_model_dir(self.config.model_dir), self.config.expected_sha256)
        self.feature_names = [str(n) for n in self.model.feature_names_in_]
        # where the model's features sit among the computed ones (None: it takes some not computed from raw rows)
        self.computed_positions = (
            [FEATURE_COLUMNS.index(n) for n in self.feature_names]
            if set(self.feature_names) <= set(FEATURE_COLUMNS)
            else None
        )
        # FraudClassifier takes a float array in `feature_names_in_` order (no frame to build and select from);
        # any other model with the contract gets a frame
        self.takes_arrays = isinstance(self.model, FraudClassifier)
        self.booster = BoosterScorer.for_model(self.model)  # None: predict_proba as it is
        self.threshold = float(self.model.threshold)
        self.ready = False
        self.online: OnlineScorer | None = None
        logger.info(
            "verified %s version %s (sha256 %s)",
            self.config.model_name,
            self.config.model_version,
            self.config.expected_sha256,
        )

    def load(self) -> None:
        self._warm_up()
        # The worker holds ~330,000 long-lived objects (sklearn, pandas, MLflow, Flask): a full collection
        # of them took 250 ms, a pause that alone would set a run's p99. Frozen, collections skip them.
        gc.collect()
        gc.freeze()
        self.ready = True

    def _warm_up(self) -> np.ndarray:
        """One prediction on a zero row: proves the model answers and pays first-call costs."""
        return self._probabilities(pd.DataFrame([[0.0] * len(self.feature_names)], columns=self.feature_names))

    def _probabilities(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Fraud probabilities of rows in the model's feature order (a frame, or an array if `takes_arrays`)."""
        if self.booster is not None:
            return self.booster.fraud_probability(
                frame.to_numpy(np.float64) if isinstance(frame, pd.DataFrame) else frame
            )
        proba = np.asarray(self.model.predict_proba(frame), dtype=np.float64)
        if proba.shape != (len(frame), 2):
            raise RuntimeError(f"model.predict_proba returned shape {proba.shape}, expected {(len(frame), 2)}")
        return proba[:, 1]

    def score(self, rows: Any, names: Any) -> tuple[np.ndarray, np.ndarray]:
        """(fraud probability, decision at the model's threshold) per row."""
        frame = feature_frame(rows, names, self.feature_names, self.config.max_rows)
        probability = self._probabilities(frame)
        return probability, (probability >= self.threshold).astype(np.int64)

    def _request_metrics(self, decisions: np.ndarray) -> list[dict]:
        return [
            {"type": "COUNTER", "key": "fraud_rows_scored_total", "value": len(decisions)},
            {"type": "COUNTER", "key": "fraud_rows_flagged_total", "value": int(decisions.sum())},
        ]

    def predict(self, X: Any, features_names: Sequence[str] | None = None, **kwargs: Any) -> SeldonResponse:
        """The wrapper's path for gRPC (and REST if predict_raw is bypassed)."""
        try:
            probability, decision = self.score(X, list(features_names or []))
        except BadRequest as e:
            raise SeldonMicroserviceException(str(e), status_code=400, reason=BAD_REQUEST) from None
        return SeldonResponse(np.column_stack([probability, decision]), None, self._request_metrics(decision))

    def predict_raw(self, request: Any) -> dict:
        """REST: parse the JSON body here so every malformed request is a 400 with a reason."""
        if not isinstance(request, dict):
            raise SeldonNotImplementedError("gRPC messages take the wrapper's own path to predict()")
        if raw_requests.is_raw(request):
            return self.predict_raw_transactions(request)
        try:
            rows, names = request_rows(request)
            probability, decision = self.score(rows, names)
        except BadRequest as e:
            raise SeldonMicroserviceException(str(e), status_code=400, reason=BAD_REQUEST) from None
        return {
            "data": {
                "names": list(OUTPUT_NAMES),
                "ndarray": [[float(p), int(d)] for p, d in zip(probability, decision, strict=False)],
            },
            "meta": {"tags": self.tags(), "metrics": self._request_metrics(decision) + self.metrics()},
        }

    def predict_raw_transactions(self, request: dict) -> dict:
        """Raw transactions (see `raw_requests`): features from the online state, then the model."""
        try:
            parsed = raw_requests.parse(request, self.config.max_rows)
            if self.computed_positions is None:
                missing = [name for name in self.feature_names if name not in FEATURE_COLUMNS]
                raise raw_requests.BadRawRequest(
                    f"this model takes features {missing} that are not computed "
                    "from raw transactions; send its feature vector instead"
                )
        except raw_requests.BadRawRequest as e:
            raise SeldonMicroserviceException(str(e), status_code=400, reason=BAD_REQUEST) from None
        if self.online is None:
            self.online = OnlineScorer()  # per worker, after the fork: connections must not cross it
        try:
            online = self.online.features(parsed.transactions)
        except NoState as e:
            raise SeldonMicroserviceException(str(e), status_code=503, reason="NO_FEATURE_STATE") from None
        values = online.table[self.computed_positions].T  # the model's columns, in its order
        probability = self._probabilities(
            values if self.takes_arrays else pd.DataFrame(values, columns=self.feature_names)
        )
        decision = (probability >= self.threshold).astype(np.int64)
        tags = {**self.tags(), **online_tags(parsed, online)}
        return {
            "data": {
                "names": list(OUTPUT_NAMES),
                "ndarray": [[float(p), int(d)] for p, d in zip(probability, decision, strict=True)],
            },
            "meta": {"tags": tags, "metrics": self._request_metrics(decision) + self.metrics()},
        }

    def health_status(self) -> dict:
        if not self.ready:
            raise SeldonMicroserviceException("model not warmed up yet", status_code=503, reason="MODEL_NOT_READY")
        probability = self._warm_up()
        return {
            "status": "ok",
            "model_name": self.config.model_name,
            "model_version": self.config.model_version,
            "warm_up_probability": float(probability[0]),
        }

    def init_metadata(self) -> dict:
        return {
            "name": self.config.model_name,
            "versions": [self.config.model_version],
            "platform": "sklearn",
            "inputs": [
                {"messagetype": "ndarray", "schema": {"names": self.feature_names, "shape": [len(self.feature_names)]}}
            ],
            "outputs": [
                {"messagetype": "ndarray", "schema": {"names": list(OUTPUT_NAMES), "shape": [len(OUTPUT_NAMES)]}}
            ],
            "custom": {"sha256": self.config.expected_sha256, "threshold": repr(self.threshold)},
        }

    def tags(self) -> dict:
        return {
            "model_name": self.config.model_name,
            "model_version": self.config.model_version,
            "model_sha256": self.config.expected_sha256,
            "threshold": self.threshold,
        }

    def metrics(self) -> list[dict]:
        return [{"type": "GAUGE", "key": "fraud_model_threshold", "value": self.threshold}]
