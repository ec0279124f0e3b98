"""The served booster's fast path gives exactly what predict_proba gives, including missing and unseen categories."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from fraud_assets.deployment.booster_scoring import BoosterScorer, ForestWalk
from fraud_assets.deployment.seldon_model import FraudModel
from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS, compute_features
from fraud_assets.model_artifact import write_manifest
from fraud_assets.training.model import FraudClassifier
from fraud_assets_tests.deployment.support import TRANSACTIONS
from fraud_assets_tests.deployment.toy_model import ToyFraudClassifier, training_frame

FEATURES = list(FEATURE_COLUMNS)


@pytest.fixture(scope="module")
def trained():
    features = compute_features(TRANSACTIONS)
    model = FraudClassifier(categorical_features=CATEGORICAL_FEATURES, max_iter=30, early_stopping=False)
    model.fit(features[FEATURES], TRANSACTIONS["fraud"].to_numpy())
    return model, features[FEATURES].to_numpy(dtype=np.float64)


def test_identical_to_predict_proba(trained):
    model, rows = trained
    scorer = BoosterScorer.for_model(model)
    assert scorer is not None and len(scorer.categorical_columns) == len(CATEGORICAL_FEATURES)
    rng = np.random.default_rng(0)
    missing = rows.copy()
    missing[rng.random(missing.shape) < 0.2] = np.nan
    unseen = rows.copy()
    unseen[:, scorer.categorical_columns] += rng.integers(0, 2, size=(len(rows), len(scorer.categorical_columns))) * 97
    unseen[::7, scorer.categorical_columns] = -1.0  # below every known code
    for values in (rows, missing, unseen, rows[:1], unseen[3:4]):
        np.testing.assert_array_equal(scorer.fraud_probability(values), model.predict_proba(values)[:, 1])


@pytest.fixture(scope="module")
def split_on_categories(trained):
    """A model whose trees split on categories too: fraud where the category and the age are of some values, or
    the age is missing (so that missing and unknown ages go left at some nodes, right at others)."""
    _, rows = trained
    rows = rows.copy()
    category, age = (rows[:, FEATURES.index(name)] for name in ("category", "age"))
    age[np.random.default_rng(3).random(len(age)) < 0.15] = np.nan
    labels = (np.isin(category, [0, 3, 5, 8]) ^ np.isin(age, [1, 2]) | np.isnan(age)).astype(int)
    model = FraudClassifier(
        categorical_features=CATEGORICAL_FEATURES, max_iter=20, early_stopping=False, min_samples_leaf=5
    )
    return model.fit(pd.DataFrame(rows, columns=FEATURES), labels), rows


def test_the_walk_of_all_trees_at_once_is_identical_row_by_row_and_in_small_requests(split_on_categories):
    """Requests of up to `ForestWalk.MAX_ROWS` rows take the walk of all trees at once, not sklearn's per tree."""
    model, rows = split_on_categories
    scorer = BoosterScorer.for_model(model)
    rng = np.random.default_rng(1)
    varied = rows.copy()
    varied[rng.random(varied.shape) < 0.2] = np.nan
    varied[1::5, scorer.categorical_columns] += 97  # unseen categories
    varied[2::5, scorer.categorical_columns] = -1.0
    expected = model.predict_proba(varied)[:, 1]
    assert scorer.forest.categorical.size > 0 and scorer.forest.steps > 1
    assert len(set(scorer.forest.missing_left[scorer.forest.categorical])) == 2
    by_row = [scorer.fraud_probability(varied[i : i + 1])[0] for i in range(len(varied))]
    np.testing.assert_array_equal(by_row, expected)
    small = ForestWalk.MAX_ROWS
    np.testing.assert_array_equal(scorer.fraud_probability(varied[:small]), expected[:small])


def test_the_walk_finds_the_leaves_sklearns_trees_find_for_any_encoded_category(split_on_categories):
    """Encoded rows straight into the trees, with categories the trees never saw (a category the encoder knows
    can be missing from the training split the trees were grown on), negative and missing ones."""
    model, rows = split_on_categories
    scorer = BoosterScorer.for_model(model)
    encoded = scorer.encode(rows[:200])
    rng = np.random.default_rng(2)
    codes = encoded[:, : len(scorer.categorical_columns)]  # the encoded categorical columns come first
    codes[:] = rng.integers(-1, 40, size=codes.shape)
    codes[rng.random(codes.shape) < 0.1] = np.nan
    expected = np.column_stack(
        [tree.predict(encoded, scorer.known_cat_bitsets, scorer.f_idx_map, 1) for tree in scorer.predictors]
    )
    np.testing.assert_array_equal(scorer.forest.leaf_values(encoded), expected)


def test_it_uses_the_thread_count_in_force_when_called(trained, monkeypatch):
    """As predict_proba: one OpenMP thread under a limit set after load (a fixed count spun two at load 5)."""
    model, rows = trained
    scorer = BoosterScorer.for_model(model)  # built outside any limit, as a server builds it at load
    first, asked = scorer.predictors[0], []

    def recording_predict(X, known_cat_bitsets, f_idx_map, n_threads):
        asked.append(n_threads)
        return type(first).predict(first, X, known_cat_bitsets, f_idx_map, n_threads)

    monkeypatch.setattr(scorer, "predictors", [SimpleNamespace(predict=recording_predict), *scorer.predictors[1:]])
    with threadpool_limits(limits=1, user_api="openmp"):
        scorer.fraud_probability(rows[: ForestWalk.MAX_ROWS + 1])  # more rows than the walk of all trees takes
    assert asked == [1]


def test_other_models_keep_predict_proba():
    X, y = training_frame()
    assert BoosterScorer.for_model(ToyFraudClassifier().fit(X, y)) is None
    numeric_only = FraudClassifier(max_iter=5, early_stopping=False).fit(X, y)
    assert BoosterScorer.for_model(numeric_only) is None


def test_the_server_scores_feature_vectors_with_it(trained, tmp_path):
    model, rows = trained
    mlflow.sklearn.save_model(
        model, str(tmp_path / "m"), serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
    )
    served = FraudModel(str(tmp_path / "m"), write_manifest(tmp_path / "m"), "fraud-model", "1")
    assert served.booster is not None
    vectors = np.nan_to_num(rows[-50:])  # the feature-vector request takes finite numbers only
    probability, decision = served.score(vectors.tolist(), FEATURES)
    np.testing.assert_array_equal(probability, model.predict_proba(vectors)[:, 1])
    np.testing.assert_array_equal(decision, model.predict(vectors))
