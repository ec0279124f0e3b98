"""Batched metrics end where Seldon's own per-request updates end, only later."""

from __future__ import annotations

import time

from seldon_core.metrics import SeldonMetrics

from fraud_assets.deployment import batched_metrics
from fraud_assets.deployment.batched_metrics import BatchedSeldonMetrics


def requests_metrics(i: int) -> list[dict]:
    """What a request's response carries, fresh dicts each time (Seldon adds a tag to them)."""
    return [
        {"type": "COUNTER", "key": "fraud_rows_scored_total", "value": 1 + i % 3},
        {"type": "COUNTER", "key": "fraud_rows_flagged_total", "value": i % 2},
        {"type": "GAUGE", "key": "fraud_model_threshold", "value": 0.25 + i / 100},
        {"type": "TIMER", "key": "scoring_ms", "value": 1.5 * i, "tags": {"path": "raw"}},
    ]


def test_flushed_metrics_equal_seldons_own():
    own, batched = SeldonMetrics(), BatchedSeldonMetrics()
    for i in range(25):
        method = "predict" if i % 5 else "feedback"
        own.update(requests_metrics(i), method)
        batched.update(requests_metrics(i), method)
    assert dict(batched.data) == {}  # nothing shared yet
    batched.flush()
    assert dict(batched.data) == dict(own.data)
    assert batched.generate_metrics() == own.generate_metrics()


def test_a_worker_flushes_on_its_own(monkeypatch):
    monkeypatch.setattr(batched_metrics, "FLUSH_SECONDS", 0.05)
    batched = BatchedSeldonMetrics()
    batched.update(requests_metrics(1), "predict")
    deadline = time.monotonic() + 5
    while not dict(batched.data) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "fraud_rows_scored_total" in batched.generate_metrics()[0]
