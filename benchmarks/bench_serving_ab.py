"""Serving of two checkouts side by side in one run: which one serves faster, on the same machine, same minutes.

The model server of each checkout is deployed in turn behind the same stable URL (the server process
runs with PYTHONPATH=<checkout>; the venv is this interpreter's), and each deploy takes a round of
feature-vector requests and a round of raw-transaction requests with 4 clients; the checkouts
alternate for --repeat cycles (an even number: each goes first as often), and so does which kind of
request a deploy takes first, so a machine that slows down or speeds up meanwhile weighs on both.
The model, the data and the requests are bench_serving.py's (with more scored days); the online state (SQLite by default,
Redis with --redis) carries over from deploy to deploy, and raw requests continue in canonical order.

    .venv/bin/python benchmarks/bench_serving_ab.py --against /path/to/older/checkout [--redis] [--repeat 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

import bench_serving as serving

from fraud_assets.deployment import local

THIS_ROOT = Path(__file__).resolve().parents[1]


def deploy_from(root: Path, bundle, config: local.LocalSettings) -> None:
    """Deploy `bundle` with the server process importing the project from `root`."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(root)
    try:
        local.deploy(bundle, config)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (first in odd cycles)")
    parser.add_argument("--root", type=Path, default=THIS_ROOT, help="this checkout (default: the one running)")
    parser.add_argument("--redis", action="store_true", help="the online state in a redis-server on loopback")
    parser.add_argument("--repeat", type=int, default=4, help="cycles of one deploy of each checkout")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=9300)
    args = parser.parse_args()
    roots = {"against": args.against.resolve(), "root": args.root.resolve()}

    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, contextlib.ExitStack() as stack:
        os.environ["FRAUD_ASSETS_HOME"] = tmp
        os.environ.pop("FRAUD_STATE_STORE_URL", None)
        if args.redis:
            (Path(tmp) / "redis").mkdir()
            os.environ["FRAUD_STATE_STORE_URL"] = stack.enter_context(serving.redis_server(Path(tmp) / "redis"))
        # enough days that raw requests never wrap around to transactions already scored (late: cheaper)
        data = serving.Data(scored_days=4 * args.repeat)
        bundle = serving.save(serving.train(data, None), Path(tmp), "1")
        serving.store_features_partition(data.state)
        config = local.LocalSettings(port=args.port, workers=args.workers)
        vector, raw = serving.cycling(data.vector_bodies), serving.cycling(data.raw_bodies)
        results: dict[tuple[str, str], list[dict]] = {}
        try:
            for cycle in range(args.repeat):
                # against, root, then root, against: the second deploy of a cycle served ~5 % faster in
                # every kind of request, so each checkout takes each place equally often
                for name, root in serving.alternated(tuple(roots.items()), cycle):
                    deploy_from(root, bundle, config)
                    for _ in range(8):  # untimed: each worker opens the store
                        serving.post(args.port, raw())
                    kinds = (("feature vector", vector), ("raw transaction", raw))
                    for kind, next_body in serving.alternated(kinds, cycle):  # as bench_serving's rounds
                        result = serving.load(args.port, 4, args.seconds, next_body)
                        results.setdefault((name, kind), []).append(result)
                        print(
                            f"  cycle {cycle + 1} {name:7s} {kind:15s} {result['rate']:6.0f} req/s  "
                            f"{serving.percentiles(result['timings'])}  failed {len(result['failures'])}",
                            flush=True,
                        )
        finally:
            local.stop()

    store = "Redis" if args.redis else "SQLite"
    print(f"online state: {store}; {args.workers} workers; 4 clients through the stable URL; {args.repeat} cycles")
    for name, root in roots.items():
        rates = {
            kind: statistics.fmean(r["rate"] for r in results[(name, kind)])
            for kind in ("feature vector", "raw transaction")
        }
        for kind, rate in rates.items():
            timings = [t for r in results[(name, kind)] for t in r["timings"]]
            failed = sum(len(r["failures"]) for r in results[(name, kind)])
            print(f"{name:7s} {kind:15s} {rate:6.0f} req/s  {serving.percentiles(timings)}  failed {failed}  ({root})")
        print(f"{name:7s} raw / feature vector throughput {rates['raw transaction'] / rates['feature vector']:.2f}")
    for kind in ("feature vector", "raw transaction"):
        ratio = statistics.fmean(r["rate"] for r in results[("root", kind)]) / statistics.fmean(
            r["rate"] for r in results[("against", kind)]
        )
        print(f"root / against, {kind}: {ratio:.2f} x the requests a second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
