"""Raw transactions through the stable URL of a real local deployment (2 workers sharing the state):
offline parity for a day, a landed day rebasing the state, then the next day still at parity."""

from __future__ import annotations

import itertools
import time

import pandas as pd

from fraud_assets import cli
from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.deployment import local
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.deployment.local import LocalSettings, post_json
from fraud_assets.deployment.online_scoring import RECHECK_SECONDS
from fraud_assets.deployment.score_client import batches
from fraud_assets.deployment.seldon_model import load_verified_model
from fraud_assets.features import FEATURE_COLUMNS, compute_features
from fraud_assets_tests.deployment.support import RAW, TRANSACTIONS, free_port, store_state
from fraud_assets_tests.features.online_support import assert_same_features, requests


def score_day(url: str, step: int) -> tuple[pd.DataFrame, list[float], list[dict]]:
    """A day's raw transactions in canonical order; (features, probabilities, tags) as answered."""
    frames, probabilities, tags = [], [], []
    for request in requests(TRANSACTIONS[TRANSACTIONS["step"] == step]):
        payload = {"jsonData": {"transactions": request[RAW].to_dict("records")}, "meta": {"tags": {"features": True}}}
        status, body = post_json(url, payload)
        assert status == 200, body
        frames.append(pd.DataFrame(body["meta"]["tags"]["features"], index=request.index, dtype=float))
        probabilities += [p for p, _ in body["data"]["ndarray"]]
        tags.append(body["meta"]["tags"])
    return pd.concat(frames)[list(FEATURE_COLUMNS)], probabilities, tags


def assert_offline_parity(model, scored: pd.DataFrame, probabilities: list[float], up_to_step: int) -> None:
    offline = compute_features(TRANSACTIONS[TRANSACTIONS["step"] <= up_to_step]).loc[scored.index]
    assert_same_features(scored, offline)
    expected = model.predict_proba(offline[model.feature_names_in_])[:, 1]
    assert max(abs(a - b) for a, b in zip(probabilities, expected, strict=True)) <= 1e-12


def test_raw_scoring_through_the_stable_url_matches_offline_across_a_landed_day(home, feature_model):
    model_dir, sha = feature_model
    store_state(7)
    bundle = ModelBundle(str(model_dir), sha, "fraud-model", "1", 0.5, FEATURE_COLUMNS)
    result = local.deploy(bundle, LocalSettings(port=free_port(), workers=2, start_timeout_s=60))
    try:
        model = load_verified_model(model_dir, sha)
        scored, probabilities, tags = score_day(result.endpoint, 8)
        assert_offline_parity(model, scored, probabilities, 8)
        assert (tags[-1]["landed_step"], tags[-1]["open_step"]) == (7, 8)

        store_state(8)  # day 8 landed and its features were materialized
        time.sleep(RECHECK_SECONDS + 0.5)
        scored, probabilities, tags = score_day(result.endpoint, 9)
        assert_offline_parity(model, scored, probabilities, 9)
        assert (tags[0]["landed_step"], tags[-1]["open_step"]) == (8, 9)
    finally:
        local.stop()


def test_batches_keep_canonical_order_and_exact_duplicates_together():
    day = TRANSACTIONS[TRANSACTIONS["step"].isin([8, 9])].astype({"step": str, "amount": str})
    cut = batches(day, size=7)
    joined = pd.concat(cut)
    assert sorted(joined.index) == sorted(day.index) and all(len(b) >= 7 for b in cut[:-1])
    keys = ["step", "customer", "merchant", "category", "amount"]
    for before, after in itertools.pairwise(cut):
        assert tuple(before[keys].iloc[-1]) != tuple(after[keys].iloc[0])


def test_the_score_command_posts_a_kaggle_file(home, feature_model, tmp_path):
    model_dir, sha = feature_model
    store_state(7)
    day = TRANSACTIONS[TRANSACTIONS["step"] == 8]
    (tmp_path / "day.csv").write_bytes(to_kaggle_csv(day.sample(frac=1.0, random_state=0)))
    bundle = ModelBundle(str(model_dir), sha, "fraud-model", "1", 0.5, FEATURE_COLUMNS)
    local.deploy(bundle, LocalSettings(port=free_port(), workers=1, start_timeout_s=60))
    try:
        assert cli.main(["score", str(tmp_path / "day.csv"), "--out", str(tmp_path / "scored.csv")]) == 0
    finally:
        local.stop()
    scored = pd.read_csv(tmp_path / "scored.csv")
    offline = compute_features(TRANSACTIONS[TRANSACTIONS["step"] <= 8]).loc[day.index]
    expected = load_verified_model(model_dir, sha).predict_proba(offline[list(FEATURE_COLUMNS)])[:, 1]
    by_row = dict(zip(zip(day["customer"], day["merchant"], day["amount"], strict=True), expected, strict=True))
    answered = zip(scored["customer"], scored["merchant"], scored["amount"], scored["fraud_probability"], strict=True)
    assert all(abs(by_row[(c, m, a)] - p) <= 1e-12 for c, m, a, p in answered)
    assert set(scored["fraud_decision"]) <= {0, 1} and len(scored) == len(day)
