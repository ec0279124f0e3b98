"""The simulator at full BankSim size: how long it takes and how close it comes to the real file.

Prints the time of a full 180-day run (cold: with building the customer population; warm), of
writing it in the Kaggle format, and the whole fidelity table of `fraud-assets profile`, every
figure with its verdict. The bar: the full run in under 10 s, no failing figure. With `--scale K` the
bank is K times BankSim's size and the profile's counts are multiplied by K (the time bar is then K x 10 s).

    .venv/bin/python benchmarks/bench_simulator.py [--seed N] [--scale K] [--only-failures]
"""

import argparse
import time

from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.simulation.profile import compare, profile_of, render_comparison, summary
from fraud_assets.simulation.simulator import DEFAULT_SEED, simulate


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=int, default=1, help="K times BankSim's size")
    parser.add_argument("--only-failures", action="store_true", help="print only the failing figures")
    args = parser.parse_args()

    frame, cold = timed(simulate, seed=args.seed, scale=args.scale)
    _, warm = timed(simulate, seed=args.seed, scale=args.scale)
    data, csv_time = timed(to_kaggle_csv, frame)
    profile, profile_time = timed(profile_of, frame)
    rows = compare(profile, scale=args.scale)

    print(render_comparison(rows, only_failures=args.only_failures))
    print()
    print(
        f"seed {args.seed}: {len(frame):,} rows, {frame['fraud'].sum():,} frauds, "
        f"{frame['customer'].nunique():,} customers"
    )
    print(
        f"full run (steps 0-179) at {args.scale}x: {cold:.2f} s cold (incl. population), {warm:.2f} s warm  "
        f"[bar: < {10 * args.scale} s]"
    )
    print(f"to_kaggle_csv: {csv_time:.2f} s for {len(data) / 1e6:.1f} MB; profile_of: {profile_time:.2f} s")
    counts = summary(rows)
    print(f"fidelity: {len(rows)} figures, {counts['pass']} pass, {counts['fail']} fail, {counts['info']} info")


if __name__ == "__main__":
    main()
