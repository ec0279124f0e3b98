"""The gate's stat tests, written out without Evidently, against Evidently's own functions and its Report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import get_stattest, jensenshannon_stat_test, wasserstein_stat_test
from evidently.legacy.calculations.stattests.z_stattest import proportions_diff_z_stat_ind, proportions_diff_z_test
from evidently.legacy.core import ColumnType

from fraud_assets.monitoring import rate_ratio, stattests
from fraud_assets.monitoring.drift import DriftTest, Window, judge_windows, report_verdicts

ROWS = 4_000
COLUMNS = ["amount", "steady", "few_values", "code", "category", "with_gaps"]


def frame(seed: int, amount_scale: float = 1.0, fraud_rate: float = 0.02, rare_code: float = 0.01) -> pd.DataFrame:
    """One column per branch: a drifting and a steady number, a number with four distinct values, a numeric
    category code (code 7 is rare, and the current sides lack it), strings, and numbers with NaN and inf."""
    rng = np.random.default_rng(seed)
    with_gaps = rng.normal(5.0, 2.0, size=ROWS)
    with_gaps[rng.random(ROWS) < 0.1] = np.nan
    with_gaps[rng.random(ROWS) < 0.02] = np.inf
    with_gaps[rng.random(ROWS) < 0.02] = -np.inf
    return pd.DataFrame(
        {
            "amount": np.round(rng.gamma(2.0, 18.0, size=ROWS) * amount_scale, 2),
            "steady": rng.beta(2.0, 5.0, size=ROWS),
            "few_values": rng.choice([0.0, 1.0, 2.0, 3.0], p=[0.4, 0.3, 0.2, 0.1], size=ROWS),
            "code": np.where(rng.random(ROWS) < rare_code, 7, rng.integers(0, 7, size=ROWS)).astype("float64"),
            "category": rng.choice(["es_transportation", "es_food", "es_health"], p=[0.8, 0.15, 0.05], size=ROWS),
            "with_gaps": with_gaps,
            "fraud": (rng.random(ROWS) < fraud_rate).astype("int64"),
        }
    )


def clean(values: pd.Series) -> pd.Series:
    return values.replace([np.inf, -np.inf], np.nan).dropna()


def kind_of(column: str) -> stattests.Kind:
    return stattests.CATEGORICAL if column in ("code", "category") else stattests.NUMERICAL


REFERENCE = frame(1)
SIDES = {
    "clean": frame(2, rare_code=0.0),
    "drifted": frame(3, amount_scale=1.4, rare_code=0.0).assign(
        code=lambda f: f["code"].where(f.index % 3 > 0, 0.0),
        few_values=lambda f: f["few_values"].map({0.0: 3.0, 1.0: 2.0, 2.0: 1.0, 3.0: 0.0}),
        category=lambda f: f["category"].where(f.index % 3 > 0, "es_food"),
        with_gaps=lambda f: f["with_gaps"] * 1.5,
    ),
}


@pytest.mark.parametrize("side", sorted(SIDES))
@pytest.mark.parametrize("column", COLUMNS)
def test_each_column_gets_evidentlys_test_and_score(side, column):
    reference, current = clean(REFERENCE[column]), clean(SIDES[side][column])
    kind = kind_of(column)

    ours = stattests.large_sample_test(reference, current, kind)
    theirs = get_stattest(reference, current, ColumnType(kind), None)
    assert ours is not None
    assert (ours.name, ours.display_name, ours.default_threshold) == (
        theirs.name,
        theirs.display_name,
        theirs.default_threshold,
    )
    outcome, expected = ours(reference, current), theirs(reference, current, ColumnType(kind), None)
    assert outcome.score == pytest.approx(expected.drift_score, abs=1e-12, rel=0)
    assert (outcome.drifted, outcome.threshold) == (bool(expected.drifted), expected.actual_threshold)


def test_the_cases_cover_every_branch():
    chosen = {
        column: stattests.large_sample_test(clean(REFERENCE[column]), clean(SIDES["drifted"][column]), kind_of(column))
        for column in COLUMNS
    }
    assert {c: t.name for c, t in chosen.items() if t is not None} == {
        "amount": "wasserstein",
        "steady": "wasserstein",
        "few_values": "jensenshannon",
        "code": "jensenshannon",
        "category": "jensenshannon",
        "with_gaps": "wasserstein",
    }
    verdicts = {c: t(clean(REFERENCE[c]), clean(SIDES["drifted"][c])).drifted for c, t in chosen.items() if t}
    assert verdicts == {c: c != "steady" for c in COLUMNS}
    clean_side = {c: t(clean(REFERENCE[c]), clean(SIDES["clean"][c])).drifted for c, t in chosen.items() if t}
    assert not any(clean_side.values())
    assert set(REFERENCE["code"]) - set(SIDES["clean"]["code"]) == {7.0}


def test_a_small_reference_gets_no_large_sample_test():
    small = REFERENCE["amount"].head(stattests.SMALL_REFERENCE_ROWS)
    assert stattests.large_sample_test(small, SIDES["clean"]["amount"], stattests.NUMERICAL) is None
    assert get_stattest(small, SIDES["clean"]["amount"], ColumnType.Numerical, None).name == "ks"


@pytest.mark.parametrize("column", ["few_values", "code", "category"])
def test_jensen_shannon_is_evidentlys_on_values_missing_from_one_side(column):
    reference, current = REFERENCE[column], SIDES["clean"][column]
    one_sided = current[current != current.iloc[0]]  # a value the current side never has
    for kind in (ColumnType.Categorical, ColumnType.Numerical) if column != "category" else (ColumnType.Categorical,):
        expected = jensenshannon_stat_test(reference, one_sided, kind, None)
        score, drifted = stattests.jensen_shannon(reference, one_sided, 0.1)
        assert score == pytest.approx(expected.drift_score, abs=1e-12, rel=0) and drifted == expected.drifted


def test_wasserstein_is_evidentlys_for_a_constant_reference():
    reference, current = pd.Series(np.full(2_000, 3.0)), clean(SIDES["drifted"]["with_gaps"])
    expected = wasserstein_stat_test(reference, current, ColumnType.Numerical, None)
    assert stattests.wasserstein_normed(reference, current, 0.1) == (expected.drift_score, expected.drifted)


@pytest.mark.parametrize(
    ("reference_frauds", "current_frauds", "drifted"),
    [(60, 130, True), (60, 70, False), (60, 25, True)],
)
def test_the_label_test_uses_evidentlys_z_test(reference_frauds, current_frauds, drifted):
    reference = pd.Series(np.r_[np.ones(reference_frauds), np.zeros(5_000 - reference_frauds)].astype("int64"))
    current = pd.Series(np.r_[np.ones(current_frauds), np.zeros(5_000 - current_frauds)].astype("int64"))

    expected = proportions_diff_z_test(proportions_diff_z_stat_ind(reference, current))
    assert rate_ratio.p_value(reference, current) == pytest.approx(expected, abs=1e-12, rel=0)
    outcome = rate_ratio.RATE_RATIO_TEST(reference, current)
    assert outcome.score == current_frauds / reference_frauds
    assert outcome.drifted is drifted and outcome.threshold == rate_ratio.DEFAULT_MIN_RATIO


@pytest.mark.parametrize(("side", "label_drift"), [("clean", False), ("drifted", True)])
def test_the_gate_and_evidentlys_report_agree_column_by_column(side, label_drift):
    extra_frauds = (REFERENCE.index % 40 == 0) if label_drift else False  # about 2.5 % more: the rate doubles
    current_frame = SIDES[side].assign(fraud=(REFERENCE["fraud"] == 1) | extra_frauds).astype({"fraud": "int64"})
    test = DriftTest(sample_size=3_000, categorical_columns=("code",))
    reference = Window(test.sample(REFERENCE, COLUMNS), ROWS, float(REFERENCE["fraud"].mean()))
    current = Window(test.sample(current_frame, COLUMNS), ROWS, float(current_frame["fraud"].mean()))

    judged = judge_windows(reference, current, COLUMNS, sample_size=3_000, categorical_columns=("code",))
    report = report_verdicts(
        reference.sample, current.sample, COLUMNS, sample_size=3_000, categorical_columns=("code",)
    )

    for ours in judged.columns:
        theirs = report[ours.column]
        assert (ours.method, ours.threshold, ours.drifted) == (theirs.method, theirs.threshold, theirs.drifted)
        assert ours.score == pytest.approx(theirs.score, abs=1e-12, rel=0)
    assert judged.target.drifted is label_drift
    assert (judged.target.threshold, judged.target.drifted) == (
        report["fraud"].threshold,
        report["fraud"].drifted,
    )
    assert judged.target.score == pytest.approx(report["fraud"].score, abs=1e-12, rel=0)
