import time
from types import SimpleNamespace

import numpy as np
import pytest

from fraud_assets.training.evaluation import METRIC_LABELS, METRIC_NAMES, diagnose, evaluate, scores_pr_auc


@pytest.fixture(scope="module")
def evaluation(trained):
    return evaluate(trained.model, trained.windows.X_validation, trained.windows.y_validation)


@pytest.fixture(scope="module")
def diagnostics(trained):
    # The whole validation window (under the default sample size): a 2,000-row sample ranks the
    # top features by noise on this 12-day set.
    return diagnose(trained.model, trained.windows.X_validation, trained.windows.y_validation)


def test_metrics_are_sane_on_simulated_data(trained, evaluation):
    m = evaluation.metrics
    assert set(m) == set(METRIC_NAMES)
    assert m["roc_auc"] > 0.9
    # PR AUC must beat the fraud base rate by far; Brier must beat always predicting the base rate.
    base_rate = trained.windows.y_validation.mean()
    assert m["pr_auc"] > 5 * base_rate
    assert m["brier"] < base_rate * (1 - base_rate)
    assert m["accuracy"] > 1 - base_rate
    assert evaluation.threshold == trained.model.threshold


def test_decision_metrics_agree_with_the_confusion_matrix(trained, evaluation):
    (tn, fp), (fn, tp) = evaluation.confusion
    assert tn + fp + fn + tp == evaluation.rows == len(trained.windows.y_validation)
    assert tp + fn == evaluation.fraud_rows
    assert evaluation.metrics["precision"] == pytest.approx(tp / (tp + fp))
    assert evaluation.metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert evaluation.metrics["accuracy"] == pytest.approx((tp + tn) / evaluation.rows)
    assert evaluation.metrics["pr_auc"] == pytest.approx(
        scores_pr_auc(trained.windows.y_validation, trained.model.predict_proba(trained.windows.X_validation)[:, 1])
    )


def test_decision_metrics_equal_sklearns_at_the_threshold_including_when_nothing_is_flagged(trained, evaluation):
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    X, y = trained.windows.X_validation, trained.windows.y_validation
    for threshold, expected in ((trained.model.threshold, evaluation), (1.1, None)):  # 1.1: no row is flagged
        model = SimpleNamespace(threshold=threshold, predict_proba=trained.model.predict_proba)
        judged = expected or evaluate(model, X, y)
        decisions = trained.model.predict_proba(X)[:, 1] >= threshold
        for name, metric in (
            ("precision", precision_score),
            ("recall", recall_score),
            ("f1", f1_score),
            ("accuracy", lambda y, d, **kw: accuracy_score(y, d)),
        ):
            assert judged.metrics[name] == pytest.approx(metric(y, decisions, zero_division=0), abs=1e-12), name


def test_importances_cover_every_feature_and_are_seeded(trained, diagnostics):
    table = diagnostics.feature_importance
    assert sorted(table["feature"]) == sorted(trained.model.feature_names_in_)
    assert table["importance_mean"].is_monotonic_decreasing
    # The simulator puts fraud at fraud-prone merchants and on large amounts.
    assert {"merchant_fraud_rate", "amount"} <= set(table["feature"].head(3))
    again = diagnose(trained.model, trained.windows.X_validation, trained.windows.y_validation)
    assert again.feature_importance.equals(table)


def test_curves_render_as_png(diagnostics):
    assert diagnostics.curves_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(diagnostics.curves_png) > 10_000


def test_markdown_tables_show_every_figure(evaluation, diagnostics):
    text = evaluation.to_markdown()
    for name in METRIC_NAMES:
        assert f"| {METRIC_LABELS[name]} | {evaluation.metrics[name]:.4f} |" in text
    (tn, fp), (fn, tp) = evaluation.confusion
    assert f"| legit | {tn} | {fp} |" in text and f"| fraud | {fn} | {tp} |" in text
    assert len(diagnostics.importance_markdown(top=2).splitlines()) == 4


def test_a_window_without_fraud_is_refused(trained):
    X = trained.windows.X_validation.head(50)
    with pytest.raises(ValueError, match="holds one class only"):
        evaluate(trained.model, X, np.zeros(50))
    with pytest.raises(ValueError, match="holds one class only"):
        diagnose(trained.model, X, np.zeros(50))


def test_the_gates_part_is_fast(trained):
    # What the gates read must not wait for importances or curves: those are `diagnose`'s.
    X, y = trained.windows.X_validation, trained.windows.y_validation
    started = time.perf_counter()
    evaluate(trained.model, X, y)
    assert time.perf_counter() - started < 1.0
