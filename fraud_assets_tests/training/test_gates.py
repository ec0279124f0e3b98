import math

import pytest

from fraud_assets import settings
from fraud_assets.resources import metric_bounds
from fraud_assets.settings import SettingError
from fraud_assets.training.gates import MetricBounds, champion_gate, metric_gates

GOOD = {"roc_auc": 0.99, "pr_auc": 0.9, "f1": 0.85, "brier": 0.004}


def test_the_original_pipelines_bounds_are_the_defaults():
    assert MetricBounds() == MetricBounds(
        min_roc_auc=0.8, min_pr_auc=0.8, min_f1=0.8, max_brier=0.05, champion_pr_auc_margin=0.01
    )


def test_good_metrics_pass_every_gate():
    results = metric_gates(GOOD)
    assert [r.gate for r in results] == ["min_roc_auc", "min_pr_auc", "min_f1", "max_brier"]
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    ("metric", "value", "failing_gate", "message"),
    [
        ("roc_auc", 0.79, "min_roc_auc", "roc_auc = 0.7900 < minimum 0.8000: FAIL"),
        ("pr_auc", 0.5, "min_pr_auc", "pr_auc = 0.5000 < minimum 0.8000: FAIL"),
        ("f1", 0.7999, "min_f1", "f1 = 0.7999 < minimum 0.8000: FAIL"),
        ("brier", 0.051, "max_brier", "brier = 0.0510 > maximum 0.0500: FAIL"),
        ("f1", math.nan, "min_f1", "f1 = nan < minimum 0.8000: FAIL"),
    ],
)
def test_each_gate_fails_alone_and_says_why(metric, value, failing_gate, message):
    results = {r.gate: r for r in metric_gates({**GOOD, metric: value})}
    assert [g for g, r in results.items() if not r.passed] == [failing_gate]
    assert results[failing_gate].message == message
    assert results[failing_gate].bound == getattr(MetricBounds(), failing_gate)


def test_a_value_on_the_bound_passes():
    assert all(r.passed for r in metric_gates({"roc_auc": 0.8, "pr_auc": 0.8, "f1": 0.8, "brier": 0.05}))


def test_bounds_are_configurable():
    strict = MetricBounds(min_pr_auc=0.95)
    failed = [r.gate for r in metric_gates(GOOD, strict) if not r.passed]
    assert failed == ["min_pr_auc"]


def test_missing_metric_is_named():
    with pytest.raises(KeyError, match=r"metrics \['brier'\] were not computed"):
        metric_gates({k: v for k, v in GOOD.items() if k != "brier"})


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [
        (0.91, 0.90, True),  # better
        (0.895, 0.90, True),  # worse, within the 0.01 margin
        (0.80, 0.81, True),  # exactly on the margin (0.81 - 0.01 rounds to 0.8000000000000002)
        (0.88, 0.90, False),  # worse by more than the margin
    ],
)
def test_champion_gate_allows_only_the_margin(candidate, champion, passed):
    result = champion_gate(candidate, champion, margin=0.01)
    assert result.passed is passed
    assert f"candidate {candidate:.4f} vs champion {champion:.4f}" in result.message
    assert result.bound == pytest.approx(champion - 0.01)


def test_without_champion_the_candidate_passes_with_a_note():
    result = champion_gate(0.5, None, margin=0.01)
    assert result.passed
    assert "no champion yet" in result.message


def test_resource_reads_overrides_from_the_environment():
    environ = {"FRAUD_MIN_F1": "0.9", "FRAUD_MAX_BRIER": " 0.02 ", "FRAUD_MIN_PR_AUC": ""}
    resource = metric_bounds(settings.load(environ))
    assert resource.bounds() == MetricBounds(min_f1=0.9, max_brier=0.02)
    with pytest.raises(SettingError, match="FRAUD_MIN_ROC_AUC='high': a number from 0 to 1"):
        metric_bounds(settings.load({"FRAUD_MIN_ROC_AUC": "high"}))


def test_the_gates_import_no_dagster():
    """training/ is plain functions: its gates load without Dagster (the resource lives in resources.py)."""
    import subprocess
    import sys

    code = "import sys, fraud_assets.training.gates; assert 'dagster' not in sys.modules, 'dagster imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
