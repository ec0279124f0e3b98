"""`fraud-assets`: the command line for people, the Makefile and the demo.

Each subcommand is a thin layer over a plain function of the package, so what the CLI does
is exactly what the assets and the sensor do.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from fraud_assets.baseline import TOTAL_STEPS
from fraud_assets.instance import PROJECT_ROOT, prepare_dagster_home
from fraud_assets.simulation.simulator import DEFAULT_SEED, MAX_SCALE


def _parse_steps(text: str) -> range:
    a, _, b = text.partition("-")
    start, end = int(a), int(b or a)
    if end < start:
        raise argparse.ArgumentTypeError(f"step range {text!r} ends before it starts")
    return range(start, end + 1)


SCALE_HELP = "K times BankSim: K times the customers and the merchants' volume, the same shape per customer"


def _scale(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SCALE:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number 1-{MAX_SCALE}")
    return int(text)


def _destination(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("name a folder or URL")
    return text


def _drift_from(args):
    if args.drift_from is None:
        return None
    from fraud_assets.simulation.simulator import Drift

    return Drift(
        start_step=args.drift_from,
        amount_scale=args.amount_scale,
        fraud_rate_multiplier=args.fraud_rate_multiplier,
        category_shift=args.category_shift,
    )


def _add_drift_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("drift (for testing the drift gates)")
    g.add_argument("--drift-from", type=int, metavar="STEP", help="apply the drift options from this step on")
    g.add_argument("--amount-scale", type=float, default=1.0, help="multiply amounts (e.g. 1.5)")
    g.add_argument("--fraud-rate-multiplier", type=float, default=1.0, help="multiply the fraud rate (e.g. 2)")
    g.add_argument(
        "--category-shift",
        type=float,
        default=0.0,
        help="move this share of transportation volume to the other categories (0-1)",
    )


def _warehouse():
    from fraud_assets.data.warehouse import Warehouse

    return Warehouse()


def cmd_simulate(args) -> int:
    from fraud_assets.simulation.landing import write_days

    paths = write_days(args.out, args.steps, seed=args.seed, drift=_drift_from(args), scale=args.scale)
    print(f"wrote {len(paths)} daily files to {args.out}" + (f" at {args.scale}x BankSim" if args.scale > 1 else ""))
    return 0


def cmd_land(args) -> int:
    from fraud_assets.simulation import landing

    wh = _warehouse()
    if args.baseline:
        paths = landing.land_baseline_if_empty(wh)
        if not paths:
            print(f"landing folder {wh.landing()} already has data: baseline not landed again")
    elif args.steps is not None:
        paths = landing.land_steps(wh, args.steps, drift=_drift_from(args))
    else:
        paths = landing.land_next_days(wh, args.days, drift=_drift_from(args))
    for p in paths:
        print(f"landed {p}")
    return 0


def cmd_import_csv(args) -> int:
    paths = _warehouse().import_csv(args.file)
    print(f"split {args.file} into {len(paths)} landed files in {_warehouse().landing()}")
    return 0


def _load_for_profile(path: str):
    import pandas as pd
    from upath import UPath

    from fraud_assets.data.validation import InvalidSliceError, load_slice

    root = UPath(path)
    if not root.exists():
        raise SystemExit(f"{path}: no such file or folder")
    files = sorted(p for p in root.iterdir() if p.name.endswith(".csv")) if root.is_dir() else [root]
    if not files:
        raise SystemExit(f"{path}: no .csv files to profile")
    frames = []
    for f in files:
        try:  # a folder holds one file per day; a single file may be the whole Kaggle CSV
            frames.append(load_slice(f.read_bytes(), str(f), one_day=root.is_dir()).frame)
        except InvalidSliceError as exc:
            raise SystemExit(str(exc)) from exc
    return pd.concat(frames, ignore_index=True)


def cmd_profile(args) -> int:
    from fraud_assets.simulation.profile import compare, comparison_to_json, profile_of, render_comparison

    rows = compare(profile_of(_load_for_profile(args.path)), scale=args.scale)
    if args.json:
        print(json.dumps(comparison_to_json(rows), indent=2, default=str))
    else:
        print(render_comparison(rows))
    return 0


def cmd_validate(args) -> int:
    from upath import UPath

    from fraud_assets.data.validation import step_from_name, validate_bytes

    bad = 0
    for name in args.files:
        path = UPath(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"{name}: cannot read: {exc}", file=sys.stderr)
            bad += 1
            continue
        result = validate_bytes(data, source=name, expected_step=step_from_name(path.name))
        if result.ok:
            note = f" (warnings: {len(result.warnings)})" if result.warnings else ""
            print(f"{name}: ok, {result.rows} rows{note}")
            if result.warnings:
                print(result.warning_text())
        else:
            bad += 1
            print(result.error_text(), file=sys.stderr)
    return 1 if bad else 0


def cmd_dev(args) -> int:
    from fraud_assets import dev, registry, settings
    from fraud_assets.simulation.landing import land_baseline_if_empty

    dagster_home = prepare_dagster_home()
    # Create the MLflow store and experiment once, before two runs could race to create its tables.
    registry.ensure_experiment()
    landed = land_baseline_if_empty(_warehouse())
    if landed:
        print(f"landed the baseline: {len(landed)} landed files in {_warehouse().landing()}")
    print(f"DAGSTER_HOME={dagster_home}")
    uri = registry.tracking_uri()
    start_mlflow = not uri.startswith(("http://", "https://"))  # a tracking server is its own UI
    ports = dev.Ports(dagster=args.port, mlflow=args.mlflow_port, page=args.page_port)
    services = dev.services(
        args.host, ports, PROJECT_ROOT / "workspace.yaml", uri, registry.artifact_root(uri), start_mlflow
    )
    urls = {s.name: s.url for s in services}
    # What the runs and the page link to: the pages started here.
    env = settings.child_environment(
        {
            "FRAUD_DAGSTER_URL": urls["Dagster"],
            "FRAUD_SCORING_PAGE_URL": urls["scoring page"],
            **({"FRAUD_MLFLOW_UI_URL": urls["MLflow"]} if start_mlflow else {}),
        }
    )
    return dev.run(services, env, _model_server_note)


def _model_server_note() -> str:
    from fraud_assets.resources import model_deployer

    serving = model_deployer().status()
    if not serving:
        return "no model server is running."
    return (
        f"the model server keeps serving {serving.get('model_name')} version {serving.get('model_version')} at "
        f"{serving.get('url') or serving.get('endpoint')} (stop it with `fraud-assets serve stop`)."
    )


def cmd_serve(args) -> int:
    from fraud_assets.resources import model_deployer

    deployer = model_deployer()
    if args.action == "stop":
        stopped = deployer.stop()
        print("stopped: " + json.dumps(stopped, default=str) if stopped else "nothing was serving")
        return 0
    status = deployer.status()
    if not status:
        print("nothing is serving")
        return 1
    print(json.dumps(status, indent=2, default=str))
    return 0


def cmd_rollback(args) -> int:
    from fraud_assets import release
    from fraud_assets.model_artifact import ModelIntegrityError
    from fraud_assets.resources import model_deployer

    try:
        done = release.rollback(model_deployer(), args.model, args.version)
    except (LookupError, release.GatesNotPassed, ModelIntegrityError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{args.model} version {done.version} serves at {done.result.endpoint} (replaced version {done.replaced})")
    return 0


def cmd_demo(args) -> int:
    from fraud_assets import settings
    from fraud_assets.demo import render, run_demo

    home = settings.home()
    if home.exists() and any(home.iterdir()):
        if not args.fresh:
            print(
                f"{home} is not empty; the demo starts from an empty FRAUD_ASSETS_HOME "
                "(use --fresh to wipe it, or point FRAUD_ASSETS_HOME elsewhere)",
                file=sys.stderr,
            )
            return 2
        from fraud_assets.resources import model_deployer

        model_deployer().stop()
        shutil.rmtree(home)
    summary = run_demo(keep_serving=args.keep_serving)
    print(render(summary))
    print(f"\nsummary: {home / 'demo_summary.json'}")
    if args.keep_serving:
        print(f"the endpoint stays up: {summary['endpoint']} (stop it with: fraud-assets serve stop)")
    return 0 if summary["ok"] else 1


def cmd_lineage(args) -> int:
    from dagster import DagsterInstance

    from fraud_assets.lineage import render, serving_lineage
    from fraud_assets.resources import model_deployer

    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        try:
            lineage = serving_lineage(instance, model_deployer().status())
        except LookupError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    print(json.dumps(lineage, indent=2, default=str) if args.json else render(lineage))
    return 0 if lineage["artifact"]["verified"] else 1


def cmd_drift(args) -> int:
    from dagster import DagsterInstance

    from fraud_assets.assets.monitoring import accept_drift, record_drift_acceptance

    prepare_dagster_home()
    config = {"reason": args.reason, **({"accepted_by": args.by} if args.by else {})}
    with DagsterInstance.get() as instance:
        # The same job the UI's Launchpad runs, recorded in the same instance.
        run = accept_drift.execute_in_process(
            instance=instance,
            run_config={"ops": {record_drift_acceptance.name: {"config": config}}},
            raise_on_error=False,
        )
    if not run.success:
        failure = next((e.event_specific_data.error for e in run.all_events if e.is_step_failure), None)
        print(f"drift not accepted: {failure.message.strip() if failure else 'the run failed'}", file=sys.stderr)
        return 1
    print(run.output_for_node(record_drift_acceptance.name))
    print("the next drift report compares newer slices with this reference")
    return 0


def cmd_score(args) -> int:
    from fraud_assets.deployment import local
    from fraud_assets.deployment.score_client import ScoreError, score_file

    url = args.url or (local.status() or {}).get("url") or local.LocalSettings().url
    try:
        scored = score_file(args.file, url)
    except ScoreError as exc:
        raise SystemExit(str(exc)) from exc
    columns = [
        c
        for c in ("step", "customer", "merchant", "amount", "fraud_probability", "fraud_decision")
        if c in scored.columns
    ]
    if args.out:
        scored.loc[:, columns].to_csv(args.out, index=False)
        print(
            f"scored {len(scored):,} transactions at {url}: {int(scored['fraud_decision'].sum())} flagged; "
            f"written to {args.out}"
        )
    else:
        scored.loc[:, columns].to_csv(sys.stdout, index=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud-assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write simulated BankSim days, one Kaggle-format file per day")
    p.add_argument(
        "--out", required=True, type=_destination, help="folder or fsspec URL to write step_NNN.csv files into"
    )
    p.add_argument(
        "--steps",
        type=_parse_steps,
        default=range(0, TOTAL_STEPS),
        help=f"A-B, inclusive (default 0-{TOTAL_STEPS - 1})",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--scale", type=_scale, default=1, help=SCALE_HELP)
    _add_drift_options(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("land", help="land simulated days in the warehouse's landing location (a new day arrives)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--days", type=int, default=1, help="land the next N days (default 1)")
    g.add_argument("--steps", type=_parse_steps, help="land this step range, A-B")
    g.add_argument("--baseline", action="store_true", help="land the baseline (first 60%% of steps) if empty")
    _add_drift_options(p)
    p.set_defaults(func=cmd_land)

    p = sub.add_parser(
        "import-csv", help="split a real BankSim CSV into landed files (one per day) in the landing location"
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_import_csv)

    p = sub.add_parser("profile", help="profile a file or folder of slices side by side with real BankSim")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--scale", type=_scale, default=1, help="compare with a bank K times BankSim's size (counts x K)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("validate", help="check files against the slice rules; non-zero exit if any is bad")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("serve", help="what serves where (status), or stop the local model server")
    p.add_argument("action", choices=["status", "stop"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("score", help="post a Kaggle-format file's transactions to the endpoint as raw transactions")
    p.add_argument("file", help="a CSV in the Kaggle BankSim format (the fraud column is not needed)")
    p.add_argument("--url", help="prediction URL (default: the local deployment's stable URL)")
    p.add_argument(
        "--out", help="write step, customer, merchant, amount, probability and decision here (default: standard output)"
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("drift", help="accept the current drift: the drift reference moves to include the drifted days")
    p.add_argument("action", choices=["accept"])
    p.add_argument(
        "--reason", required=True, help="why the drift is the new normal (recorded, shown in the UI and lineage)"
    )
    p.add_argument("--by", help="who accepts it (default: the OS user)")
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser(
        "rollback",
        help="redeploy the previous champion (or --version N), if it passed its gates "
        "when deployed, and move the alias back",
    )
    p.add_argument("--model", default="fraud-detector")
    p.add_argument("--version", type=int, help="deploy this registered version instead of the previous champion")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("lineage", help="the chain from the serving model back to the landed files it was trained on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser("demo", help="headless end-to-end demo: baseline, three clean days, a drifted day")
    p.add_argument("--keep-serving", action="store_true", help="leave the endpoint up afterwards")
    p.add_argument("--fresh", action="store_true", help="wipe a non-empty FRAUD_ASSETS_HOME first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dev", help="land the baseline if needed; start dagster dev, MLflow's UI and the scoring page")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    p.add_argument("--mlflow-port", type=int, default=5000, help="MLflow's UI (not started for a tracking server)")
    p.add_argument("--page-port", type=int, default=8501, help="the scoring page")
    p.set_defaults(func=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
