"""Input rules, sampling and the result's helpers, on small hand-made frames (no simulator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.monitoring.drift import (
    EVIDENTLY_SMALL_REFERENCE_ROWS,
    MIN_ROWS_PER_SIDE,
    DriftTest,
    compute_drift,
    deterministic_sample,
    judge_windows,
    per_slice_summary,
    rank_slice,
    report_verdicts,
    sample_ranked,
    sample_slices,
)

FEATURES = ["amount", "merchant_share", "category"]


def make_frame(rows: int, seed: int, amount_scale: float = 1.0, fraud_rate: float = 0.012) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "step": np.sort(rng.integers(0, 30, size=rows)),
            "amount": np.round(rng.gamma(2.0, 18.0, size=rows) * amount_scale, 2),
            "merchant_share": rng.beta(2.0, 5.0, size=rows),
            "category": rng.choice(["es_transportation", "es_food", "es_health"], p=[0.85, 0.1, 0.05], size=rows),
            "fraud": (rng.random(rows) < fraud_rate).astype("int64"),
        }
    )


def test_scaled_amount_and_doubled_fraud_are_named_in_the_verdicts(tmp_path):
    result = compute_drift(make_frame(20_000, 1), make_frame(20_000, 2, 1.5, 0.024), FEATURES, sample_size=10_000)

    assert [c.column for c in result.drifted_columns] == ["amount"]
    assert result.n_drifted == 1 and result.share_drifted == pytest.approx(1 / 3)
    assert result.passed_data_drift(0.5) and not result.passed_data_drift(1 / 3)
    assert not result.passed_target_drift()
    assert result.target.current_rate > 1.6 * result.target.reference_rate
    assert "amount (Wasserstein" in result.data_drift_message()
    assert "Target drift on 'fraud'" in result.target.message()
    markdown = result.to_markdown()
    assert "| amount | Wasserstein distance (normed) |" in markdown and "| yes |" in markdown
    saved = result.save_html(tmp_path / "reports" / "drift.html")
    page = saved.read_text(encoding="utf-8")
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert "Value Drift for column amount" in page and "Value Drift for column fraud" in page


def test_same_process_twice_passes_both_checks():
    result = compute_drift(make_frame(20_000, 1), make_frame(20_000, 2), FEATURES, sample_size=10_000, html=False)

    assert result.n_drifted == 0 and result.passed_data_drift()
    assert result.passed_target_drift(), result.target.message()
    assert result.html == ""
    with pytest.raises(ValueError, match="no HTML"):
        result.save_html("unused.html")


def test_sample_depends_on_content_and_seed_not_on_row_order():
    frame = make_frame(30_000, 3)
    shuffled = frame.sample(frac=1.0, random_state=7)

    first = deterministic_sample(frame, 5_000, seed=0)
    assert len(first) == 5_000
    assert first.index.is_monotonic_increasing
    assert set(deterministic_sample(shuffled, 5_000, seed=0).index) == set(first.index)
    assert set(deterministic_sample(frame, 5_000, seed=1).index) != set(first.index)
    assert deterministic_sample(frame, 40_000) is frame


def test_a_prefix_of_each_ranking_gives_the_sample_of_the_whole_slices():
    slices = {f"step_{s:03d}": make_frame(8_000 + 1_000 * s, s, fraud_rate=0.03) for s in range(1, 9)}
    whole = {k: rank_slice(frame, "fraud", seed=4) for k, frame in slices.items()}
    prefixes = {k: ranked.prefix(1 / 8) for k, ranked in whole.items()}
    rows = sum(len(frame) for frame in slices.values())  # 100,000: a prefix of an eighth serves 12,500 rows

    assert all(len(p.frame) < len(w.frame) / 7 for p, w in zip(prefixes.values(), whole.values(), strict=True))
    for size in (500, 3_001, rows // 8):
        expected = sample_slices(slices, size, seed=4, stratify="fraud")
        assert sample_ranked(prefixes, size).equals(expected), size
        assert sample_ranked(whole, size).equals(expected), size
    too_big = rows // 4  # quotas beyond the prefixes: those slices are read whole, or refused
    with pytest.raises(ValueError, match="only part of it is ranked"):
        sample_ranked(prefixes, too_big)
    asked = []
    completed = sample_ranked(prefixes, too_big, whole=lambda k: asked.append(k) or whole[k])
    assert completed.equals(sample_slices(slices, too_big, seed=4, stratify="fraud"))
    assert asked == sorted(slices)


def test_a_sample_of_slices_is_drawn_slice_by_slice_by_content_and_seed():
    slices = {
        f"step_{s:03d}": make_frame(rows, s, fraud_rate=0.03) for s, rows in ((1, 4_000), (2, 12_000), (3, 8_000))
    }
    whole = pd.concat(slices.values(), ignore_index=True)

    sample = sample_slices(slices, 6_000, seed=0, stratify="fraud")
    assert len(sample) == 6_000
    assert sample["fraud"].sum() == round(whole["fraud"].sum() * 6_000 / len(whole))  # the label's share kept
    shares = sample["step"].groupby([np.repeat([1, 2, 3], [1_000, 3_000, 2_000])]).size()
    assert shares.tolist() == [1_000, 3_000, 2_000]  # each slice's share of the rows
    shuffled = {k: slices[k].sample(frac=1.0, random_state=9) for k in reversed(slices)}
    in_any_order = sample_slices(shuffled, 6_000, seed=0, stratify="fraud")
    assert (
        in_any_order.sort_values([*in_any_order.columns])
        .reset_index(drop=True)
        .equals(sample.sort_values([*sample.columns]).reset_index(drop=True))
    )
    assert not sample_slices(slices, 6_000, seed=1, stratify="fraud").equals(sample)
    one = {"step_001": slices["step_001"]}  # one slice: deterministic_sample's rows
    expected = deterministic_sample(slices["step_001"], 1_500, seed=0, stratify="fraud").reset_index(drop=True)
    assert sample_slices(one, 1_500, seed=0, stratify="fraud").equals(expected)
    assert len(sample_slices(slices, 50_000)) == len(whole)


def test_the_gate_verdicts_are_evidently_reports_verdicts_on_the_same_samples():
    """judge_windows calls Evidently's stat tests directly instead of running a Report (which draws plots)."""
    test = DriftTest(sample_size=5_000)
    reference = test.window("reference", {"a": make_frame(8_000, 1), "b": make_frame(9_000, 2)}, FEATURES)
    current = test.window("current", {"c": make_frame(7_000, 3, 1.3, 0.03)}, FEATURES)

    judged = judge_windows(reference, current, FEATURES, sample_size=5_000)
    report = report_verdicts(reference.sample, current.sample, FEATURES, sample_size=5_000)

    assert judged.columns == tuple(report[c] for c in FEATURES)
    assert (judged.target.score, judged.target.threshold, judged.target.drifted) == (
        report["fraud"].score,
        report["fraud"].threshold,
        report["fraud"].drifted,
    )
    assert [c.column for c in judged.drifted_columns] == ["amount"] and judged.target.drifted


def test_same_windows_in_any_order_give_the_same_result():
    reference, current = make_frame(20_000, 4), make_frame(15_000, 5, 1.2, 0.02)
    once = compute_drift(reference, current, FEATURES, sample_size=5_000, html=False)
    twice = compute_drift(reference, current, FEATURES, sample_size=5_000, html=False)
    shuffled = compute_drift(
        reference.sample(frac=1.0, random_state=1),
        current.sample(frac=1.0, random_state=2),
        FEATURES,
        sample_size=5_000,
        html=False,
    )

    assert once == twice
    # Same rows in another order: same verdicts; scores may differ in the last bits of float sums.
    assert [(c.column, c.method, c.drifted) for c in shuffled.columns] == [
        (c.column, c.method, c.drifted) for c in once.columns
    ]
    assert [c.score for c in shuffled.columns] == pytest.approx([c.score for c in once.columns], rel=1e-9)
    assert shuffled.target.score == pytest.approx(once.target.score, rel=1e-9)


@pytest.mark.parametrize("side", ["reference", "current"])
def test_a_side_at_the_small_sample_size_is_refused(side):
    frames = {"reference": make_frame(5_000, 1), "current": make_frame(5_000, 2)}
    frames[side] = frames[side].head(EVIDENTLY_SMALL_REFERENCE_ROWS)
    with pytest.raises(ValueError, match=rf"{side} frame has 1000 rows.*at least {MIN_ROWS_PER_SIDE}"):
        compute_drift(frames["reference"], frames["current"], FEATURES)


def test_a_sample_size_at_the_small_sample_size_is_refused():
    with pytest.raises(ValueError, match="sample_size 1000 is too small"):
        compute_drift(make_frame(5_000, 1), make_frame(5_000, 2), FEATURES, sample_size=1_000)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([], "feature_columns is empty"),
        ("amount", "must be a list"),
        (["amount", "amount"], r"names \['amount'\] more than once"),
        (["amount", "fraud"], "must not include the label 'fraud'"),
        (["amount", "step"], r"must not include \['step'\]"),
        (["amount", "velocity"], r"current frame lacks columns \['velocity'\]"),
    ],
)
def test_bad_feature_columns_are_named(columns, message):
    reference = make_frame(2_000, 1).assign(velocity=1.0)
    with pytest.raises(ValueError, match=message):
        compute_drift(reference, make_frame(2_000, 2), columns)


def test_a_label_outside_zero_and_one_is_refused():
    current = make_frame(2_000, 2)
    current.loc[5, "fraud"] = 2
    with pytest.raises(ValueError, match=r"current frame: label 'fraud' must be 0 or 1, found \[2\] in 1 rows"):
        compute_drift(make_frame(2_000, 1), current, FEATURES)


def test_slice_summary_flags_the_changed_day_and_skips_a_short_one():
    reference = make_frame(20_000, 1)
    slices = {
        "day-1": make_frame(3_000, 11),
        "day-2": make_frame(3_000, 12, amount_scale=1.5, fraud_rate=0.06),
        "day-3": make_frame(800, 13),
    }
    summary = per_slice_summary(reference, slices, FEATURES, sample_size=10_000).set_index("slice")

    assert list(summary.index) == ["day-1", "day-2", "day-3"]
    assert summary.loc["day-1", "share_drifted"] == 0 and not summary.loc["day-1", "target_drift"]
    assert summary.loc["day-2", "drifted_columns"] == "amount" and summary.loc["day-2", "target_drift"]
    assert summary.loc["day-2", "fraud_rate"] > 0.04
    assert np.isnan(summary.loc["day-3", "share_drifted"]) and summary.loc["day-3", "target_drift"] is None
    assert "800 rows" in summary.loc["day-3", "note"]


def test_a_feature_empty_on_one_side_counts_as_drifted_and_empty_on_both_does_not():
    reference = make_frame(3_000, 1).assign(stopped=1.0, never=np.nan)
    current = make_frame(3_000, 2).assign(stopped=np.nan, never=np.nan)
    result = compute_drift(reference, current, [*FEATURES, "stopped", "never"], html=False)

    by_column = {c.column: c for c in result.columns}
    assert by_column["stopped"].drifted and by_column["stopped"].method == "all missing in current"
    assert not by_column["never"].drifted and by_column["never"].method == "all missing in reference and current"
    assert result.n_drifted == 1 and result.share_drifted == pytest.approx(1 / 5)
    assert "stopped (all missing in current)" in result.data_drift_message()


def test_numeric_codes_named_categorical_get_a_category_test():
    reference, current = make_frame(3_000, 1), make_frame(3_000, 2)
    for seed, frame in enumerate((reference, current)):
        # More than five distinct codes: Evidently tests five or fewer numbers as categories anyway.
        frame["category"] = np.random.default_rng(seed).integers(0, 15, size=len(frame)).astype("float64")

    as_codes = compute_drift(reference, current, FEATURES, categorical_columns=("category",), html=False)
    as_numbers = compute_drift(reference, current, FEATURES, categorical_columns=(), html=False)

    assert {c.column: c.method for c in as_codes.columns}["category"] == "Jensen-Shannon distance"
    assert {c.column: c.method for c in as_numbers.columns}["category"] == "Wasserstein distance (normed)"
