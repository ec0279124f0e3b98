import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import f1_score

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.training.model import FraudClassifier
from fraud_assets.training.thresholds import f1_optimal_threshold
from fraud_assets.training.train import train_model


def test_input_contract_for_serving(trained):
    model = trained.model
    X = trained.windows.X_validation
    assert model.feature_names_in_ == list(FEATURE_COLUMNS)
    expected = model.predict_proba(X)
    assert expected.shape == (len(X), 2)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0)
    # Seldon sends float arrays in feature_names_in_ order; a frame may come in any column order.
    np.testing.assert_array_equal(model.predict_proba(X.to_numpy(dtype=float)), expected)
    np.testing.assert_array_equal(model.predict_proba(X[list(reversed(X.columns))].assign(extra=1)), expected)
    np.testing.assert_array_equal(model.predict(X), (expected[:, 1] >= model.threshold).astype(int))


def test_bad_serving_input_is_refused(trained):
    X = trained.windows.X_validation
    with pytest.raises(ValueError, match=r"lacks feature columns \['gender'\]"):
        trained.model.predict_proba(X.drop(columns="gender"))
    with pytest.raises(ValueError, match=rf"shape \(n, {len(FEATURE_COLUMNS)}\)"):
        trained.model.predict_proba(X.to_numpy()[:, :4])


def test_categoricals_are_split_natively(trained):
    flags = dict(zip(trained.model.feature_names_in_, trained.model.estimator_.is_categorical_, strict=False))
    assert {name for name, categorical in flags.items() if categorical} == set(CATEGORICAL_FEATURES)


def test_fit_is_deterministic_and_clonable(trained):
    windows = trained.windows
    again = clone(trained.model).fit(windows.X_train, windows.y_train, calibration_mask=windows.calibration_mask)
    assert again.threshold == trained.model.threshold
    np.testing.assert_array_equal(
        again.predict_proba(windows.X_validation), trained.model.predict_proba(windows.X_validation)
    )


def test_threshold_maximises_f1_on_calibration_rows(trained):
    windows = trained.windows
    first = FraudClassifier(categorical_features=CATEGORICAL_FEATURES, refit_after_calibration=False)
    first.fit(windows.X_train, windows.y_train, calibration_mask=windows.calibration_mask)
    X_cal = windows.X_train[windows.calibration_mask]
    y_cal = windows.y_train[windows.calibration_mask]
    scores = first.predict_proba(X_cal)[:, 1]
    best = f1_score(y_cal, scores >= first.threshold)
    for other in np.quantile(scores, np.linspace(0.5, 1.0, 41)):
        assert f1_score(y_cal, scores >= other) <= best + 1e-12


def test_f1_optimal_threshold_on_a_worked_example():
    # Cut 0.35 catches both frauds with one false alarm (F1 0.8); 0.8 catches one (F1 0.67).
    assert f1_optimal_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.35
    with pytest.raises(ValueError, match="no fraud rows"):
        f1_optimal_threshold(np.zeros(4), np.linspace(0, 1, 4))


def test_without_calibration_the_default_threshold_applies(trained):
    model = FraudClassifier(categorical_features=CATEGORICAL_FEATURES, default_threshold=0.3, max_iter=20)
    model.fit(trained.windows.X_train, trained.windows.y_train)
    assert model.threshold == 0.3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (X.assign(category=X["category"].astype(str)), y), r"columns \['category'\] are not numeric"),
        (lambda X, y: (X.assign(age=-1), y), "'age' must hold non-negative integer codes"),
        (lambda X, y: (X.assign(gender=1.5), y), "'gender' must hold non-negative integer codes"),
        (lambda X, y: (X.assign(customer_fraud_rate=np.nan), y), r"columns \['customer_fraud_rate'\] have no value"),
        (lambda X, y: (X.assign(amount=np.inf), y), r"columns \['amount'\] contain infinite"),
        (lambda X, y: (X.drop(columns="gender"), y), r"categorical features \['gender'\] are not columns"),
        (lambda X, y: (X, y * 2), "labels must be 0 or 1"),
        (lambda X, y: (X, y * 0), "rows all have label 0; both classes are needed"),
        (lambda X, y: (X.to_numpy(), y), "needs a DataFrame"),
    ],
)
def test_bad_training_input_is_refused(trained, change, message):
    # The latest training rows: every history feature has values there.
    X, y = change(trained.windows.X_train.tail(2000), trained.windows.y_train[-2000:])
    with pytest.raises((ValueError, TypeError), match=message):
        FraudClassifier(categorical_features=CATEGORICAL_FEATURES).fit(X, y)


def test_a_fit_window_without_history_is_refused(frame):
    # With three days the fit window is day 0 alone, where no label history exists yet.
    first_days = frame[frame["step"] < 3]
    with pytest.raises(ValueError, match=r"'customer_fraud_rate'.* have no value in the \d+ fit-window rows"):
        train_model(first_days, FEATURE_COLUMNS, CATEGORICAL_FEATURES)


def test_missing_values_are_allowed(trained):
    X = trained.windows.X_train.copy()
    X.loc[::7, "customer_amount_mean_all"] = np.nan
    X.loc[::11, "gender"] = np.nan
    model = FraudClassifier(categorical_features=CATEGORICAL_FEATURES, max_iter=20).fit(X, trained.windows.y_train)
    assert np.isfinite(model.predict_proba(pd.DataFrame(X))).all()


def test_one_fit_serves_the_booster_its_threshold_was_picked_for(trained):
    # No refit by default: the served scores on the calibration rows are the ones the threshold
    # maximises F1 on, so the threshold belongs to the model that serves.
    model, windows = trained.model, trained.windows
    assert model.refit_after_calibration is False
    X_cal = windows.X_train[windows.calibration_mask]
    y_cal = windows.y_train[windows.calibration_mask]
    assert model.threshold == f1_optimal_threshold(y_cal, model.predict_proba(X_cal)[:, 1])


def test_down_sampling_keeps_every_fraud_row_weighted_and_seeded():
    y = np.array([0, 1] * 50 + [0] * 900)
    rows = np.ones(len(y), dtype=bool)
    rows[:10] = False  # e.g. calibration rows: never fitted on, never sampled in
    model = FraudClassifier(legit_sample_rate=0.2, random_state=4)
    kept, weights = model.sampled_rows(y, rows)
    assert not kept[:10].any()
    assert (kept | ~rows)[y == 1].all()  # every fraud row of `rows` kept
    legit_kept = (kept & (y == 0)).sum()
    assert 0.15 < legit_kept / (rows & (y == 0)).sum() < 0.25
    np.testing.assert_array_equal(weights, np.where(y[kept] == 1, 1.0, 5.0))
    again, _ = clone(model).sampled_rows(y, rows)
    np.testing.assert_array_equal(again, kept)
    other, _ = FraudClassifier(legit_sample_rate=0.2, random_state=5).sampled_rows(y, rows)
    assert not np.array_equal(other, kept)
    assert FraudClassifier().sampled_rows(y, rows) == (rows, None)


def test_a_down_sampled_fit_keeps_the_threshold_on_all_calibration_rows(trained):
    windows = trained.windows
    model = FraudClassifier(categorical_features=CATEGORICAL_FEATURES, legit_sample_rate=0.25)
    model.fit(windows.X_train, windows.y_train, calibration_mask=windows.calibration_mask)
    X_cal = windows.X_train[windows.calibration_mask]
    y_cal = windows.y_train[windows.calibration_mask]
    assert model.threshold == f1_optimal_threshold(y_cal, model.predict_proba(X_cal)[:, 1])
    scores = model.predict_proba(windows.X_validation)[:, 1]
    # Weighted, the probabilities keep the base rate's scale instead of quadrupling it.
    assert abs(scores.mean() - windows.y_train.mean()) < 0.5 * windows.y_train.mean()
    with pytest.raises(ValueError, match=r"legit_sample_rate must be in \(0, 1\]"):
        FraudClassifier(legit_sample_rate=0).fit(windows.X_train, windows.y_train)


def test_float32_features_train_the_same_model_up_to_rounding(trained):
    windows = trained.windows
    narrow = windows.X_train.astype(np.float32)
    model = clone(trained.model).fit(narrow, windows.y_train, calibration_mask=windows.calibration_mask)
    X = windows.X_validation
    assert model.feature_names_in_ == trained.model.feature_names_in_
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], trained.model.predict_proba(X)[:, 1], atol=0.05)
