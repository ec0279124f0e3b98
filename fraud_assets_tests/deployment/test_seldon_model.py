"""FraudModel in process: integrity, the request contract, and what Seldon's wrapper expects of it."""

from __future__ import annotations

import io
import json
import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.metadata import validate_model_metadata
from seldon_core.metrics import SeldonMetrics
from seldon_core.wrapper import get_rest_microservice

from fraud_assets.deployment.seldon_model import (
    OUTPUT_NAMES,
    BadRequest,
    FraudModel,
    feature_frame,
    load_verified_model,
)
from fraud_assets.model_artifact import ModelIntegrityError
from fraud_assets_tests.deployment.toy_model import FEATURES


@pytest.fixture
def served(toy_models):
    model_dir, sha = toy_models["v1"]
    model = FraudModel(str(model_dir), sha, "fraud-model", "1")
    model.load()
    return model


def test_refuses_an_artifact_whose_sha256_differs(toy_models, tmp_path):
    model_dir, sha = toy_models["v1"]
    tampered = shutil.copytree(model_dir, tmp_path / "tampered")
    (tampered / "model.pkl").write_bytes((tampered / "model.pkl").read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match=r"differs from the registered .*refusing to load"):
        FraudModel(str(tampered), sha, "fraud-model", "1")
    assert load_verified_model(model_dir, sha.upper()).threshold == 0.5  # the untouched copy loads


def test_config_names_the_missing_setting(monkeypatch, toy_models):
    monkeypatch.delenv("FRAUD_MODEL_SHA256", raising=False)
    with pytest.raises(ValueError, match=r"expected_sha256.*FRAUD_MODEL_SHA256"):
        FraudModel(str(toy_models["v1"][0]), None, "fraud-model", "1")


def test_config_from_environment(monkeypatch, toy_models):
    model_dir, sha = toy_models["v2"]
    for var, value in {
        "FRAUD_MODEL_DIR": str(model_dir),
        "FRAUD_MODEL_SHA256": sha,
        "FRAUD_MODEL_NAME": "env-model",
        "FRAUD_MODEL_VERSION": "7",
    }.items():
        monkeypatch.setenv(var, value)
    model = FraudModel()
    assert (model.config.model_name, model.config.model_version, model.threshold) == ("env-model", "7", 0.3)


def test_predicts_with_features_in_any_order(served, toy_models):
    rows = np.random.default_rng(3).random((5, len(FEATURES))) * [500, 15, 7, 3, 50, 1]
    rows[:, 0] = [20.0, 480.0, 90.0, 450.0, 150.0]  # amount drives the toy model: some rows flagged, some not
    shuffled = [FEATURES[i] for i in (3, 0, 5, 1, 4, 2)]
    request = {"data": {"names": shuffled, "ndarray": pd.DataFrame(rows, columns=FEATURES)[shuffled].values.tolist()}}

    response = served.predict_raw(request)

    expected = served.model.predict_proba(pd.DataFrame(rows, columns=FEATURES))[:, 1]
    probabilities = [row[0] for row in response["data"]["ndarray"]]
    decisions = [row[1] for row in response["data"]["ndarray"]]
    assert response["data"]["names"] == list(OUTPUT_NAMES)
    np.testing.assert_allclose(probabilities, expected)
    assert decisions == [int(p >= 0.5) for p in expected] and 0 < sum(decisions) < 5
    assert response["meta"]["tags"]["model_version"] == "1"


def test_tensor_encoding_gives_the_same_answer(served):
    row = [300.0, 2, 3, 1, 10, 0.2]
    by_ndarray = served.predict_raw({"data": {"names": FEATURES, "ndarray": [row]}})
    by_tensor = served.predict_raw({"data": {"names": FEATURES, "tensor": {"shape": [1, 6], "values": row}}})
    assert by_tensor["data"] == by_ndarray["data"]


@pytest.mark.parametrize(
    "names, rows, rule",
    [
        ([*FEATURES, "extra"], [[1.0] * 7], "unknown features \\['extra'\\]"),
        (FEATURES[1:], [[1.0] * 5], "misses features \\['amount'\\]"),
        ([*FEATURES[:5], "amount"], [[1.0] * 6], "repeats \\['amount'\\]"),
        (FEATURES, [[1.0] * 5], "row 0 has 5 values for 6 names"),
        (FEATURES, [[1.0] * 6, [1.0] * 7], "row 1 has 7 values"),
        (FEATURES, [[1.0] * 5 + ["0.3"]], "row 0, feature 'merchant_fraud_rate': expected a number, got str"),
        (FEATURES, [[True] + [1.0] * 5], "feature 'amount': expected a number, got bool"),
        (FEATURES, [[float("nan")] + [1.0] * 5], "feature 'amount': nan is not a finite number"),
        (FEATURES, [[1.0] * 5 + [float("inf")]], "inf is not a finite number"),
        (FEATURES, [[10**309] + [1.0] * 5], "feature 'amount': an integer beyond the float64 range is not a finite"),
        (FEATURES, [[1.0] * 5 + [-int("9" * 309)]], "'merchant_fraud_rate': an integer beyond the float64 range"),
        (FEATURES, [], "non-empty list of rows"),
        (FEATURES, [1.0] * 6, "row 0 must be a list"),
        ("amount", [[1.0]], "list of feature names"),
    ],
)
def test_bad_rows_name_the_rule(names, rows, rule):
    with pytest.raises(BadRequest, match=rule):
        feature_frame(rows, names, FEATURES)


def test_batch_size_is_bounded():
    with pytest.raises(BadRequest, match="3 rows; at most 2"):
        feature_frame([[1.0] * 6] * 3, FEATURES, FEATURES, max_rows=2)


def test_bad_requests_become_seldon_400s(served):
    with pytest.raises(SeldonMicroserviceException) as raised:
        served.predict_raw({"data": {"names": FEATURES, "ndarray": [[1.0] * 5]}})
    assert raised.value.status_code == 400 and "5 values for 6 names" in raised.value.message
    with pytest.raises(SeldonMicroserviceException) as raised:
        served.predict(np.array([["a"] * 6]), FEATURES)
    assert raised.value.status_code == 400


@pytest.fixture
def client(served):
    """The wrapper's own Flask app around the model, as each gunicorn worker runs it."""
    return get_rest_microservice(served, SeldonMetrics()).test_client()


def predictions_body(first_value: str) -> str:
    return json.dumps({"data": {"names": FEATURES, "ndarray": [[0] * 6]}}).replace("[[0,", f"[[{first_value},", 1)


@pytest.mark.parametrize(
    "send, rule",
    [
        (dict(data=predictions_body("1" + "0" * 309), content_type="application/json"), "beyond the float64 range"),
        (dict(data=predictions_body("1" * 5000), content_type="application/json"), "Can't find JSON"),
        (dict(data="[" * 5000 + "]" * 5000, content_type="application/json"), "nests deeper than the parser allows"),
        (dict(data={"json": predictions_body("1" + "0" * 309)}), "beyond the float64 range"),
        (dict(data={"json": predictions_body("1" * 5000)}), "not valid JSON: Exceeds the limit (4300 digits)"),
        (dict(data={"json": "[" * 5000 + "]" * 5000}), "nests deeper than the parser allows"),
        (dict(query_string={"json": "[" * 5000 + "]" * 5000}), "nests deeper than the parser allows"),
        (dict(data={"data": "[" * 5000}, content_type="multipart/form-data"), "nests deeper than the parser allows"),
        (dict(data={"data": "1" * 5000}, content_type="multipart/form-data"), "Exceeds the limit (4300 digits)"),
        (dict(data={"strData": (io.BytesIO(b"\xff"), "f")}, content_type="multipart/form-data"), "not valid UTF-8"),
    ],
)
def test_every_malformed_body_is_a_400_through_the_wrapper(client, send, rule):
    answer = client.post("/api/v1.0/predictions" if "content_type" in send else "/predict", **send)
    assert answer.status_code == 400 and rule in answer.get_json()["status"]["info"]


def test_decoding_before_the_view_leaves_the_request_as_it_was(client):
    """The view decodes again after the early check: a multipart file must still be read from its start."""
    answer = client.post(
        "/transform-input", data={"strData": (io.BytesIO(b"some text"), "f")}, content_type="multipart/form-data"
    )
    assert answer.status_code == 200 and answer.get_json()["strData"] == "some text"
    assert client.get("/health/status").status_code == 200  # views that decode nothing are left alone


def test_metadata_passes_seldons_validation(served):
    metadata = validate_model_metadata(served.init_metadata())
    assert metadata["inputs"][0]["schema"]["names"] == FEATURES
    assert metadata["custom"]["sha256"] == served.config.expected_sha256


def test_health_needs_a_warm_model(toy_models):
    model = FraudModel(str(toy_models["v1"][0]), toy_models["v1"][1], "fraud-model", "1")
    with pytest.raises(SeldonMicroserviceException) as raised:
        model.health_status()
    assert raised.value.status_code == 503
    model.load()
    assert model.health_status()["status"] == "ok"


def test_downloads_an_artifact_uri_then_verifies_it(toy_models, tmp_path, monkeypatch):
    """How a pod gets its model: MLflow downloads it, then it is checked like a local one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    store = shutil.copytree(toy_models["v1"][0], tmp_path / "artifact-store" / "model")

    model = FraudModel(store.as_uri(), toy_models["v1"][1], "fraud-model", "1")

    assert model.feature_names == FEATURES
    assert [p.name for p in tmp_path.glob("fraud-model-*/*")] == ["model"]  # a download, not the store itself
    with pytest.raises(ModelIntegrityError):
        FraudModel(store.as_uri(), toy_models["v2"][1], "fraud-model", "1")
