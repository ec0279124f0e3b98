"""Serving speed: single-row latency and throughput of the local Seldon target, next to the
model's own predict_proba in this process, and a redeploy under load.

The model is the project's FraudClassifier with training's defaults on 15 synthetic numeric
features (--trees 300 gives the slowest model training can produce). Requests are
single rows over fresh HTTP connections (Seldon's sync gunicorn workers close each one).

Bar: through the stable URL, p99 <= 15 ms and >= 400 requests/s with 4 clients.

    .venv/bin/python benchmarks/bench_serving.py [--workers 2] [--seconds 6] [--trees N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from fraud_assets.deployment import local
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.deployment.seldon_model import FraudModel
from fraud_assets.model_artifact import write_manifest
from fraud_assets.training.model import FraudClassifier

FEATURES = [f"f{i:02d}" for i in range(12)] + ["category_code", "age_code", "gender_code"]
P99_BAR_MS, THROUGHPUT_BAR = 15.0, 400.0
JSON_HEADERS = {"Content-Type": "application/json"}


def train(trees: int | None, seed: int = 0) -> FraudClassifier:
    """Training's defaults (early stopping picks the tree count), or exactly `trees` trees."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(5_000, len(FEATURES))), columns=FEATURES)
    X[["category_code", "age_code", "gender_code"]] = rng.integers(0, [15, 7, 3], size=(len(X), 3))
    y = (X["f00"] + 0.5 * X["f01"] * X["f02"] + rng.normal(0, 1.0, len(X)) > 2.0).astype(int)
    fixed = {"max_iter": trees, "early_stopping": False} if trees else {}
    return FraudClassifier(categorical_features=["category_code", "age_code", "gender_code"], **fixed).fit(X, y)


def save(model: FraudClassifier, root: Path, version: str) -> ModelBundle:
    path = root / f"model-v{version}"
    mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    return ModelBundle(str(path), write_manifest(path), "fraud-model", version, model.threshold, tuple(FEATURES))


def percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"p50 {statistics.median(ms):5.2f} ms  p99 {ms[int(len(ms) * 0.99) - 1]:5.2f} ms  (n={len(ms)})"


def in_process(bundle: ModelBundle, calls: int = 2000) -> None:
    """One OpenMP thread, as in the server: with the default (one per core) a single-row
    predict_proba spin-waits for the other threads, and p99 reached 1.7 s on a busy machine."""
    served = FraudModel(bundle.model_dir, bundle.sha256, bundle.name, bundle.version)
    served.load()
    row = pd.DataFrame([np.zeros(len(FEATURES))], columns=FEATURES)
    request = {"data": {"names": FEATURES, "ndarray": [[0.0] * len(FEATURES)]}}
    with threadpool_limits(limits=1, user_api="openmp"):
        _time_calls(served, row, request, calls)


def _time_calls(served: FraudModel, row: pd.DataFrame, request: dict, calls: int) -> None:
    for label, call in (("model.predict_proba (DataFrame)", lambda: served.model.predict_proba(row)),
                        ("FraudModel.predict_raw (validate + score)", lambda: served.predict_raw(request))):
        timings = []
        for _ in range(calls):
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
        print(f"  in process  {label:44s} {percentiles(timings)}")


def load(port: int, clients: int, seconds: float, rows: list[list[float]],
         until: threading.Event | None = None) -> dict:
    """Closed-loop load: `clients` threads, each one request at a time, for `seconds` (or until
    `until` is set, `seconds` still bounding it)."""
    bodies = [json.dumps({"data": {"names": FEATURES, "ndarray": [row]}}) for row in rows]
    timings, failures, versions = [], [], []
    deadline = time.perf_counter() + seconds
    until = until or threading.Event()

    def client(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline and not until.is_set():
            start = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("POST", local.PREDICT_PATH, bodies[i % len(bodies)], JSON_HEADERS)
                response = connection.getresponse()
                body = response.read()
                connection.close()
                if response.status != 200:
                    failures.append(response.status)
                else:
                    versions.append(json.loads(body)["meta"]["tags"]["model_version"])
            except OSError as e:
                failures.append(repr(e))
            timings.append(time.perf_counter() - start)
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"timings": timings, "failures": failures, "versions": versions, "rate": len(timings) / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--trees", type=int, default=None, help="exact tree count (default: early stopping decides)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        os.environ["FRAUD_ASSETS_HOME"] = tmp
        started = time.perf_counter()
        model = train(args.trees)
        v1, v2 = save(model, Path(tmp), "1"), save(model, Path(tmp), "2")
        print(f"trained a {model.estimator_.n_iter_}-tree model in {time.perf_counter() - started:.1f} s; "
              f"cores: {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        rows = np.random.default_rng(2).normal(size=(256, len(FEATURES))).round(3).tolist()
        in_process(v1)

        config = local.LocalSettings(port=args.port, workers=args.workers)
        started = time.perf_counter()
        local.deploy(v1, config)
        print(f"deployed v1 with {args.workers} workers in {time.perf_counter() - started:.1f} s")
        try:
            record = local.status()
            verdict = True
            for label, port in (("direct", record["server"]["http_port"]), ("stable URL", args.port)):
                for clients in (1, 4):
                    result = load(port, clients, args.seconds, rows)
                    print(f"  REST {label:10s} {clients} client(s): {result['rate']:6.0f} req/s  "
                          f"{percentiles(result['timings'])}  failed {len(result['failures'])}")
                    if label == "stable URL" and clients == 4:
                        p99 = sorted(result["timings"])[int(len(result["timings"]) * 0.99) - 1] * 1000
                        verdict = p99 <= P99_BAR_MS and result["rate"] >= THROUGHPUT_BAR and not result["failures"]

            during, deployed = {}, threading.Event()
            swap = threading.Thread(target=lambda: during.update(load(args.port, 4, 120, rows, until=deployed)))
            swap.start()
            time.sleep(1.0)
            started = time.perf_counter()
            local.deploy(v2, config)
            took = time.perf_counter() - started
            time.sleep(1.0)
            deployed.set()
            swap.join()
            seen = sorted(set(during["versions"]))
            print(f"  redeploy v1 -> v2 under 4 clients: took {took:.1f} s, {len(during['timings'])} requests, "
                  f"failed {len(during['failures'])}, versions answered {seen}, {percentiles(during['timings'])}")
            verdict = verdict and not during["failures"]
        finally:
            local.stop()
    print(f"bar (stable URL, 4 clients: p99 <= {P99_BAR_MS:.0f} ms, >= {THROUGHPUT_BAR:.0f} req/s, no failed request): "
          f"{'MET' if verdict else 'NOT MET'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
