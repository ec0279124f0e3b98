"""The scoring page's helpers, without Streamlit: landed transactions, history, the request and its answer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pytest

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.layout import StorageLayout
from fraud_assets.pages import transactions as tx
from fraud_assets.storage import frame_to_parquet_bytes
from fraud_assets_tests.conftest import make_day


@pytest.fixture
def landed(home):
    layout = StorageLayout(settings.storage())
    for step in (1, 0):
        path = layout.partition_path(TRANSACTION_SLICES, f"step_{step:03d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame_to_parquet_bytes(make_day(step, rows=30)))
    return tx.landed_transactions(tx.slice_files())


def test_landed_transactions_are_numbered_in_canonical_order(landed):
    assert len(landed) == 60 and list(landed.index) == list(range(60))
    ordered = landed.sort_values(tx.CANONICAL_ORDER, kind="stable")
    assert list(ordered.index) == list(range(60))


def test_no_slices_no_transactions(home):
    assert tx.slice_files() == [] and tx.landed_transactions([]).empty


def test_random_pick_respects_the_label(landed):
    rng = np.random.default_rng(0)
    assert all(landed.loc[tx.pick_random(landed, 1, rng), "fraud"] == 1 for _ in range(10))
    assert all(landed.loc[tx.pick_random(landed, 0, rng), "fraud"] == 0 for _ in range(10))
    with pytest.raises(LookupError, match="fraud=1"):
        tx.pick_random(landed[landed["fraud"] == 0], 1, rng)


def test_history_is_what_came_before(landed):
    number = int(landed.index[-1])
    customer = landed.loc[number, "customer"]
    rows, summary = tx.history(landed, "customer", customer, before=number)
    everything = landed[(landed["customer"] == customer) & (landed.index < number)]
    assert summary["transactions"] == len(everything) and len(rows) == min(10, len(everything))
    assert (rows.index < number).all() and (rows["customer"] == customer).all()


def test_raw_transaction_is_json_ready(landed):
    raw = tx.raw_transaction(landed.loc[0])
    assert "fraud" not in raw and set(raw) <= set(tx.RAW_FIELDS)
    assert json.loads(json.dumps(raw)) == raw


class _Endpoint(BaseHTTPRequestHandler):
    answer: tuple[int, dict] = (200, {})
    received: ClassVar[list] = []  # shared on purpose: the test reads what the server thread received

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Endpoint.received = []
    yield f"http://127.0.0.1:{server.server_port}/api/v1.0/predictions"
    server.shutdown()
    server.server_close()


def test_score_reads_probability_decision_model_and_features(endpoint):
    _Endpoint.answer = (
        200,
        {
            "data": {"names": ["fraud_probability", "fraud_decision"], "ndarray": [[0.93, 1]]},
            "meta": {
                "tags": {
                    "model_name": "fraud-detector",
                    "model_version": "3",
                    "threshold": 0.4,
                    "features": [{"amount": 120.0}],
                    "warnings": ["late"],
                }
            },
        },
    )
    result = tx.score(endpoint, {"step": 5, "customer": "C1"})
    assert (result.probability, result.decision, result.threshold) == (0.93, 1, 0.4)
    assert result.model == "fraud-detector version 3" and result.features == {"amount": 120.0}
    assert _Endpoint.received == [tx.request_body({"step": 5, "customer": "C1"})]
    assert _Endpoint.received[0]["meta"]["tags"]["features"] is True


def test_a_refusal_and_no_server_are_told_apart(endpoint):
    _Endpoint.answer = (400, {"status": {"info": "transaction 0: amount is negative"}})
    with pytest.raises(tx.Refused, match="amount is negative"):
        tx.score(endpoint, {})
    _Endpoint.answer = (503, {"status": {"info": "no feature state yet"}})
    with pytest.raises(tx.NotServing, match="503"):
        tx.score(endpoint, {})
    with pytest.raises(tx.NotServing, match="nothing answers"):
        tx.score("http://127.0.0.1:9/api/v1.0/predictions", {}, timeout=2)


def test_endpoint_of_a_status():
    assert tx.endpoint(None) is None
    assert tx.endpoint({"url": "http://127.0.0.1:9000/api/v1.0/predictions"}).endswith("/predictions")
    assert tx.endpoint({"cluster": "http://c", "gateway": "http://g"}) == "http://g"
