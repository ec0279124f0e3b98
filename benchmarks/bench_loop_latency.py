"""From a file landing to the new model answering at the endpoint, with 177 days of history.

Runs the real loop: a Dagster daemon (landing sensor + automation sensor) over a fresh home with
days 0-176 landed, waits for the first deployment, then lands days 177, 178 and 179 one after
another and times each from the landed file appearing to the endpoint serving the new version.
Prints the median, the bars (30 s, and a third of the old code's median when measured with
`--against`) and where the time went, read from the instance's event log.

`--root DIR` measures another checkout of this project: its daemon, workspace.yaml, CLI and
simulator run with PYTHONPATH=DIR (the venv is this interpreter's). `--against DIR` measures DIR
first, then `--root`, one after the other on the same machine:

    .venv/bin/python benchmarks/bench_loop_latency.py --against /work/wt-old45

The new days are simulated beforehand into a staging folder and copied in at the start of the
clock, so the latency is the loop's alone, not the simulator's.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from daemon_runs import BIN, new_home, running_daemon, timings

THIS_ROOT = Path(__file__).resolve().parents[1]
BAR_SECONDS = 30.0
HISTORY = range(0, 177)
NEW_DAYS = (177, 178, 179)


def env_for(root: Path, home: Path, port: int) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "FRAUD_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FRAUD_DEPLOY_PORT": str(port),
    }


def serving_version(env: dict) -> str | None:
    out = subprocess.run([str(BIN / "fraud-assets"), "serve", "status"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    try:
        status = json.loads(out.stdout)
    except json.JSONDecodeError:
        return None
    return status["model_version"] if status.get("healthy") else None


def recorded_version(home: Path) -> str | None:
    """The version in the local deployer's serving record: a file read, so waiting costs the loop no CPU."""
    try:
        return json.loads((home / "serving" / "record.json").read_text()).get("model_version")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def land(env: dict, root: Path, steps: range) -> None:
    """Simulated days landed with the checkout's own CLI (its simulator and landing code)."""
    subprocess.run(
        [str(BIN / "fraud-assets"), "land", "--steps", f"{steps.start}-{steps.stop - 1}"],
        env=env,
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def landed_file(home: Path, day: int) -> Path:
    (found,) = home.glob(f"warehouse/**/step_{day:03d}.csv")
    return found


def measure(root: Path, port: int, new_days: tuple[int, ...] = NEW_DAYS) -> list[float]:
    """Latencies of `new_days` for the checkout at `root`, each with its breakdown printed."""
    home = new_home(root, "fraud-loop-")
    staging = home / "staging"
    env = env_for(root, home, port)
    print(f"\n== {root} (home {home})", flush=True)
    land(env, root, HISTORY)
    land(env_for(root, staging, port), root, range(new_days[0], new_days[-1] + 1))
    landing = landed_file(home, HISTORY[-1]).parent
    latencies = []
    with running_daemon(root, home, env):
        started = time.monotonic()
        while recorded_version(home) is None or serving_version(env) is None:
            if time.monotonic() - started > 1500:
                sys.exit(f"no first deployment within 25 minutes; see {home / 'daemon.log'}")
            time.sleep(2)
        first = time.monotonic() - started
        print(f"history of {len(HISTORY)} days deployed after {first:.0f} s (version {serving_version(env)})")
        for day in new_days:
            before = serving_version(env)
            time.sleep(61)  # the retrain policy allows one retrain per minute: do not measure its wait
            source = landed_file(staging, day)
            shutil.copyfile(source, landing / f".{source.name}.part")
            t0 = time.time()
            os.replace(landing / f".{source.name}.part", landing / source.name)
            while True:
                if time.time() - t0 > 900:
                    sys.exit(f"day {day} not deployed within 15 minutes; see {home / 'daemon.log'}")
                if recorded_version(home) not in (before, None):
                    seen = time.time()  # the record is written once the new server answers behind the front
                    if serving_version(env) not in (before, None):  # confirmed by the checkout's own CLI
                        break
                time.sleep(0.2)
            latency = seen - t0
            latencies.append(latency)
            print(f"\nday {day}: landed → version {serving_version(env)} answering in {latency:.1f} s")
            for row in timings(home, t0):
                print(f"  +{row.start:6.1f} s  {row.seconds:6.1f} s  {row.what}")
            sys.stdout.flush()
        print(f"\n{root}: median landing → serving over {len(latencies)} days {statistics.median(latencies):.1f} s")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=THIS_ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--against", type=Path, help="an older checkout measured first, for the third-of-old bar")
    parser.add_argument("--port", type=int, default=9411, help="the endpoint's port during the run")
    parser.add_argument("--new-days", type=int, default=len(NEW_DAYS), help="how many of days 177-179 to time")
    args = parser.parse_args()
    new_days = NEW_DAYS[: args.new_days]
    old = measure(args.against.resolve(), args.port, new_days) if args.against else None
    new = measure(args.root.resolve(), args.port, new_days)
    print(f"\nload average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if old:
        print(f"old {args.against}: median {statistics.median(old):.1f} s ({', '.join(f'{x:.1f}' for x in old)})")
    median = statistics.median(new)
    print(f"new {args.root}: median {median:.1f} s ({', '.join(f'{x:.1f}' for x in new)})")
    print(f"bar {BAR_SECONDS:.0f} s: {'met' if median <= BAR_SECONDS else 'NOT met'}")
    if old:
        third = statistics.median(old) / 3
        print(f"bar a third of the old median, {third:.1f} s: {'met' if median <= third else 'NOT met'}")


if __name__ == "__main__":
    main()
