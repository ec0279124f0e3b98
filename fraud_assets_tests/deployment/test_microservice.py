"""The loopback entry point: debug mode refused in every spelling Seldon accepts, Flask kept on loopback.

A normal start through this entry point is what test_local.py's servers do.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from flask import Flask
from seldon_core import gunicorn_utils, wrapper
from seldon_core import microservice as seldon
from seldon_core.metrics import SeldonMetrics

from fraud_assets.deployment import microservice
from fraud_assets.deployment.batched_metrics import BatchedSeldonMetrics
from fraud_assets.deployment.seldon_model import MODEL_CLASS

DEBUG_ARGS = [["--debug"], ["--debug=1"], ["--debug=0"], ["--debug", "false"], ["--deb"], ["--debu"]]
DEBUG_ENV = ["1", "t", "T", "true", "TRUE", "True"]
NOT_DEBUG_ENV = ["", "0", "false", "f", "y", "yes", "on"]  # Seldon's getenv_as_bool: only 1, true and t


@pytest.fixture
def seldon_started(monkeypatch):
    """Seldon's main replaced by a recorder; whatever the entry point rebinds is put back afterwards."""
    started = []
    monkeypatch.setattr(seldon, "main", lambda: started.append(True))
    monkeypatch.delenv(seldon.DEBUG_ENV, raising=False)
    for module, name in [
        (gunicorn_utils.StandaloneApplication, "load_config"),
        (seldon, "_run_grpc_server"),
        (seldon, "_reserve_grpc_port"),
        (seldon, "SeldonMetrics"),
        (wrapper, "get_rest_microservice"),
        (wrapper, "get_metrics_microservice"),
    ]:
        monkeypatch.setattr(module, name, getattr(module, name))
    return started


def start(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["fraud_assets.deployment.microservice", MODEL_CLASS, *args])
    microservice.main()


@pytest.mark.parametrize("args", DEBUG_ARGS, ids=" ".join)
def test_every_debug_flag_seldon_accepts_is_refused(monkeypatch, seldon_started, args):
    with pytest.raises(SystemExit, match=r"debug mode .* not allowed"):
        start(monkeypatch, *args)
    assert seldon_started == []


@pytest.mark.parametrize("value", DEBUG_ENV)
def test_every_true_seldon_debug_is_refused(monkeypatch, seldon_started, value):
    monkeypatch.setenv(seldon.DEBUG_ENV, value)
    with pytest.raises(SystemExit, match=r"debug mode .* not allowed"):
        start(monkeypatch)
    assert seldon_started == []


@pytest.mark.parametrize("value", NOT_DEBUG_ENV)
def test_seldon_debug_that_seldon_reads_as_false_starts_normally(monkeypatch, seldon_started, value):
    monkeypatch.setenv(seldon.DEBUG_ENV, value)
    start(monkeypatch, "--http-port", "9000")
    assert seldon_started == [True]


def test_the_wrapper_gets_batched_metrics(monkeypatch, seldon_started):
    start(monkeypatch, "--http-port", "9000")
    assert seldon.SeldonMetrics is BatchedSeldonMetrics


def test_refusal_exits_before_anything_starts():
    finished = subprocess.run(
        [sys.executable, "-m", "fraud_assets.deployment.microservice", MODEL_CLASS, "--deb"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1 and "debug mode" in finished.stderr and "not allowed" in finished.stderr


def test_flask_debug_servers_would_listen_on_the_host_only(monkeypatch, seldon_started):
    """Were debug to get past the check, Seldon's Flask servers (REST and metrics) still bind the host."""
    listening = []
    monkeypatch.setattr(Flask, "run", lambda app, host=None, port=None, **options: listening.append((host, port)))
    monkeypatch.setattr(
        sys,
        "argv",
        ["seldon-core-microservice", MODEL_CLASS, "--debug", "--http-port", "9101", "--metrics-port", "9102"],
    )
    args, _ = seldon.parse_args()
    microservice.bind_servers_to("127.0.0.1")

    seldon._make_rest_server_debug(object(), SeldonMetrics(), args, jaeger_extra_tags=[])()
    seldon._make_rest_metrics_server(SeldonMetrics(), args)()

    assert listening == [("127.0.0.1", 9101), ("127.0.0.1", 9102)]
