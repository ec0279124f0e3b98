"""From a file landing to the new model answering at the endpoint, with 177+ days of history.

Runs the real loop: a Dagster daemon (landing sensor + automation sensor) over a fresh home with
days 0-176 landed, waits for the first deployment, then lands days 177, 178 and 179 one after
another and times each from the file landing to the endpoint serving the new version. Prints
the median (the bar: 120 s) and where the time went, read from the instance's event log.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORY = range(0, 177)
NEW_DAYS = (177, 178, 179)


def env_for(home: Path) -> dict:
    return {
        **os.environ,
        "FRAUD_ASSETS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FRAUD_DEPLOY_PORT": "9411",
    }


def serving_version(env) -> str | None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "fraud-assets"), "serve", "status"], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        return None
    import json

    status = json.loads(out.stdout)
    return status["model_version"] if status.get("healthy") else None


def breakdown(home: Path, since: float) -> list[tuple[str, float, float]]:
    """(what, start, seconds) for each run and step after `since`, from the event log."""
    from dagster import DagsterEventType, DagsterInstance

    rows = []
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        for record in instance.get_run_records():
            if record.create_timestamp.timestamp() < since:
                continue
            run = record.dagster_run
            started = record.start_time or record.create_timestamp.timestamp()
            rows.append(
                (
                    f"run {run.run_id[:8]} queued→started ({','.join(sorted(k.to_user_string() for k in run.asset_selection or []))})",
                    record.create_timestamp.timestamp() - since,
                    started - record.create_timestamp.timestamp(),
                )
            )
            starts = {}
            for entry in instance.all_logs(
                run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
            ):
                if entry.dagster_event.event_type == DagsterEventType.STEP_START:
                    starts[entry.step_key] = entry.timestamp
                elif entry.step_key in starts:
                    rows.append(
                        (
                            f"  step {entry.step_key}",
                            starts[entry.step_key] - since,
                            entry.timestamp - starts[entry.step_key],
                        )
                    )
    return sorted(rows, key=lambda r: r[1])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    home = Path(tempfile.mkdtemp(prefix="fraud-loop-"))
    env = env_for(home)
    os.environ.update({k: env[k] for k in ("FRAUD_ASSETS_HOME", "DAGSTER_HOME", "FRAUD_DEPLOY_PORT")})
    from fraud_assets.data.warehouse import Warehouse
    from fraud_assets.simulation.landing import land_steps

    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    warehouse = Warehouse()
    land_steps(warehouse, HISTORY)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=(home / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    latencies = []
    try:
        started = time.monotonic()
        while serving_version(env) is None:
            if time.monotonic() - started > 1200:
                sys.exit(f"no first deployment within 20 minutes; see {home / 'daemon.log'}")
            time.sleep(2)
        print(
            f"history of {len(HISTORY)} days deployed after {time.monotonic() - started:.0f} s (version {serving_version(env)})"
        )
        for day in NEW_DAYS:
            before = serving_version(env)
            time.sleep(61)  # the retrain policy allows one retrain per minute: do not measure its wait
            t0 = time.time()
            land_steps(warehouse, [day])
            while serving_version(env) in (before, None):
                if time.time() - t0 > 900:
                    sys.exit(f"day {day} not deployed within 15 minutes; see {home / 'daemon.log'}")
                time.sleep(0.5)
            latency = time.time() - t0
            latencies.append(latency)
            print(f"\nday {day}: landed → version {serving_version(env)} answering in {latency:.1f} s")
            for what, at, seconds in breakdown(home, t0):
                print(f"  +{at:6.1f} s  {seconds:6.1f} s  {what}")
        print(
            f"\nmedian landing → serving latency over {len(latencies)} days: {statistics.median(latencies):.1f} s (bar 120 s)"
        )
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
        subprocess.run([str(Path(sys.executable).parent / "fraud-assets"), "serve", "stop"], env=env, check=False)


if __name__ == "__main__":
    main()
