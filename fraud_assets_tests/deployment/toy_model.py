"""A small model with the training contract (predict_proba, feature_names_in_, threshold),
saved the way training saves it: mlflow.sklearn with cloudpickle, pickled by value so the
server never imports test code."""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier

from fraud_assets.model_artifact import write_manifest

FEATURES = ["amount", "category_code", "age_code", "gender_code", "customer_tx_count", "merchant_fraud_rate"]


class ToyFraudClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, threshold: float = 0.5, fail_on_predict: bool = False):
        self.threshold = threshold
        self.fail_on_predict = fail_on_predict

    def fit(self, X: pd.DataFrame, y):
        self.feature_names_in_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.booster_ = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.fail_on_predict:
            raise RuntimeError("toy model told to fail")
        return self.booster_.predict_proba(X.loc[:, self.feature_names_in_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)


def training_frame(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Fraud rises with amount, so a row's probability depends on the feature order it is given."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.random((rows, len(FEATURES))) * [500, 15, 7, 3, 50, 1], columns=FEATURES)
    y = (X["amount"] + rng.normal(0, 50, rows) > 350).astype(int).to_numpy()
    return X, y


def save_toy_model(
    path: Path, threshold: float = 0.5, fail_on_predict: bool = False, seed: int = 0
) -> tuple[Path, str]:
    """(model dir, SHA-256 of its manifest) for a freshly trained toy model."""
    X, y = training_frame(seed=seed)
    model = ToyFraudClassifier(threshold=threshold).fit(X, y)
    model.fail_on_predict = fail_on_predict
    return _save(model, path)


def save_feature_model(path: Path, features: pd.DataFrame, labels, threshold: float = 0.5) -> tuple[Path, str]:
    """A model over the real feature columns (what raw-transaction scoring feeds), saved like the toy."""
    model = ToyFraudClassifier(threshold=threshold).fit(features, np.asarray(labels))
    return _save(model, path)


def _save(model: ToyFraudClassifier, path: Path) -> tuple[Path, str]:
    """Saved as training saves (cloudpickle, this module pickled by value), with its manifest."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        # explicit requirements: inferring them would re-import the model in a subprocess (seconds)
        mlflow.sklearn.save_model(
            model, str(path), serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    return path, write_manifest(path)
