"""Raw transactions in process: FraudModel computes features from the online state; bad input is a 400."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from seldon_core.flask_utils import SeldonMicroserviceException

from fraud_assets.deployment.seldon_model import FraudModel
from fraud_assets.deployment.state_backends import open_store
from fraud_assets.features import FEATURE_COLUMNS, compute_features
from fraud_assets_tests.deployment.support import RAW, TRANSACTIONS, store_state
from fraud_assets_tests.features.online_support import assert_same_features, requests


@pytest.fixture
def served(home, feature_model):
    store_state(7)
    model = FraudModel(str(feature_model[0]), feature_model[1], "fraud-model", "3")
    model.load()
    yield model
    if model.online is not None:
        model.online.close()


def kaggle_quoted(frame: pd.DataFrame) -> list[list]:
    quoted = frame[RAW].astype(object).copy()
    for column in ("customer", "age", "gender", "zipcodeOri", "merchant", "zipMerchant", "category"):
        quoted[column] = "'" + quoted[column].astype(str) + "'"
    return quoted.values.tolist()


def test_a_day_of_raw_transactions_gets_the_offline_features_and_probabilities(served):
    day = TRANSACTIONS[TRANSACTIONS["step"] == 8]
    scored, probabilities = [], []
    for i, request in enumerate(requests(day)):
        if i % 2:  # both encodings, quoted as in the Kaggle file or plain
            payload = {"data": {"names": RAW[::-1], "ndarray": [row[::-1] for row in kaggle_quoted(request)]}}
        else:
            payload = {"jsonData": {"transactions": request[RAW].to_dict("records")}}
        body = served.predict_raw({**payload, "meta": {"tags": {"features": True}}})
        tags = body["meta"]["tags"]
        assert (tags["model_version"], tags["landed_step"], tags["open_step"]) == ("3", 7, 8)
        scored.append(pd.DataFrame(tags["features"], index=request.index, dtype=float))
        probabilities += [p for p, _ in body["data"]["ndarray"]]
    offline = compute_features(TRANSACTIONS[TRANSACTIONS["step"] <= 8]).loc[pd.concat(scored).index]
    assert_same_features(pd.concat(scored)[list(FEATURE_COLUMNS)], offline)
    expected = served.model.predict_proba(offline[served.feature_names])[:, 1]
    assert max(abs(a - b) for a, b in zip(probabilities, expected, strict=True)) <= 1e-12


def one(**changes) -> dict:
    row = TRANSACTIONS[TRANSACTIONS["step"] == 8].iloc[0][RAW].to_dict()
    return {"jsonData": {"transactions": [{**row, **changes}]}, "meta": {"tags": {"features": True}}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer": None}, "field 'customer' must be a string"),
        ({"amount": -1.0}, "field 'amount' must not be negative"),
        ({"amount": "12,50"}, "field 'amount' must be a number"),
        ({"amount": math.inf}, "field 'amount' must be finite"),
        ({"amount": "nan"}, "field 'amount' must be finite"),
        ({"step": "tuesday"}, "field 'step' must be a whole number of days"),
        ({"step": 8.5}, "field 'step' must be a whole number of days"),
        ({"step": -1}, "field 'step' must be a whole number of days"),
    ],
)
def test_bad_fields_get_400_naming_field_and_rule_and_change_nothing(served, changes, message):
    served.predict_raw(one())  # the scorer exists and the state has moved once
    store = served.online.store
    before = store.position(), store.records("customer", [one()["jsonData"]["transactions"][0]["customer"]])
    with pytest.raises(SeldonMicroserviceException) as refused:
        served.predict_raw(one(**changes))
    assert refused.value.status_code == 400 and message in refused.value.message
    assert (store.position(), store.records("customer", [one()["jsonData"]["transactions"][0]["customer"]])) == before


def test_a_missing_field_is_named(served):
    request = one()
    del request["jsonData"]["transactions"][0]["merchant"]
    with pytest.raises(SeldonMicroserviceException) as refused:
        served.predict_raw(request)
    assert refused.value.status_code == 400 and "field 'merchant' is missing" in refused.value.message


def test_zip_codes_are_optional(served):
    request = one()
    for field in ("zipcodeOri", "zipMerchant"):
        del request["jsonData"]["transactions"][0][field]
    assert served.predict_raw(request)["data"]["names"] == ["fraud_probability", "fraud_decision"]


def test_unknown_codes_are_nan_with_a_warning_and_a_new_customer_is_a_first_transaction(served):
    body = served.predict_raw(one(customer="C_never_seen", category="es_unheard_of", age="9", gender="X"))
    tags = body["meta"]["tags"]
    features = tags["features"][0]
    assert features["category"] is None and features["age"] is None and features["gender"] is None
    assert features["customer_transaction_number"] == 1.0 and features["customer_amount_std_all"] is None
    assert any("es_unheard_of" in w for w in tags["warnings"]) and len(tags["warnings"]) == 3


def test_a_late_transaction_is_scored_with_a_warning_and_leaves_the_state_alone(served):
    body = served.predict_raw(one(step=5))
    assert "late" in body["meta"]["tags"]["warnings"][0] and body["meta"]["tags"]["open_step"] is None
    assert served.online.store.position().open_step is None


def test_without_a_stored_state_the_raw_path_answers_503(home, feature_model):
    model = FraudModel(str(feature_model[0]), feature_model[1], "fraud-model", "3")
    model.load()
    with pytest.raises(SeldonMicroserviceException) as refused:
        model.predict_raw(one())
    assert refused.value.status_code == 503 and "no features partition" in refused.value.message


def test_a_new_model_version_carries_the_state_over(served, feature_model):
    served.predict_raw(one())
    again = FraudModel(str(feature_model[0]), feature_model[1], "fraud-model", "4")
    again.load()
    body = again.predict_raw(one(amount=1.5))
    assert body["meta"]["tags"]["model_version"] == "4" and body["meta"]["tags"]["open_step"] == 8
    customer = one()["jsonData"]["transactions"][0]["customer"]
    before = TRANSACTIONS[(TRANSACTIONS["step"] <= 7) & (TRANSACTIONS["customer"] == customer)]
    assert open_store().records("customer", [customer])[customer]["count"] == len(before) + 2
