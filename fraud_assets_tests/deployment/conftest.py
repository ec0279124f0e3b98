"""Toy models saved the way training saves them, shared by the deployment tests."""

from __future__ import annotations

import pytest

from fraud_assets.features import compute_features
from fraud_assets_tests.deployment.support import TRANSACTIONS
from fraud_assets_tests.deployment.toy_model import save_feature_model, save_toy_model


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory):
    """{name: (model dir, sha256)}: two good versions and one whose predict_proba raises."""
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": save_toy_model(root / "v1", threshold=0.5, seed=0),
        "v2": save_toy_model(root / "v2", threshold=0.3, seed=1),
        "broken": save_toy_model(root / "broken", fail_on_predict=True),
    }


@pytest.fixture(scope="session")
def feature_model(tmp_path_factory):
    """(model dir, sha256) of a model over the real feature columns, for raw-transaction scoring."""
    features = compute_features(TRANSACTIONS)
    return save_feature_model(tmp_path_factory.mktemp("feature-model") / "m", features, TRANSACTIONS["fraud"])
