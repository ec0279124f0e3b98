"""What a person sees in the Dagster UI, MLflow's UI and the scoring page, in a real headless Chromium
against `fraud-assets dev`.

The story, in manual mode (FRAUD_AUTOMATION=off): 30 days land, the landing sensor ingests them;
the person opens the asset lineage, sees the seven assets, and asks for what is behind with
"Materialize unsynced" (features for the missing partitions, then model, drift, evaluation,
deployment and diagnostics) rather than "Materialize all", which would re-read and re-validate 30
files the sensor has just ingested. Once the model is deployed they read the gates on
model_evaluation's Checks tab and the endpoint on model_deployment, and follow its links: the MLflow
run (its metrics, and its link back to the Dagster run) and the scoring page, where they score a
historical fraud and a historical legitimate transaction. The 30 days are the champion's training
days, so drift_report had nothing to compare yet: two more days land meanwhile, their features,
drift_report and drift_report_html run, and the drift report opens from drift_report_html's metadata,
rendered by MLflow.
Ctrl-C then stops everything `make run` started but the model server. One server and one graph
serve every check; screenshots of every step go to test-artifacts/ui/.
"""

import re

import pytest
from dagster import AssetKey
from playwright.sync_api import expect

from fraud_assets.asset_keys import DRIFT_REPORT, DRIFT_REPORT_HTML, TRANSACTION_FEATURES
from fraud_assets.data.warehouse import Warehouse, partition_key_for
from fraud_assets.pages import transactions
from fraud_assets.resources import model_deployer
from fraud_assets.simulation.landing import land_steps

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/browser-deps (Debian's chromium)"
)

LANDED_DAYS = range(0, 30)  # ~80k rows: enough for a model that passes the default gates
NEW_DAYS = range(30, 32)  # after the champion's training days: enough rows for Evidently to judge drift
MATERIALIZED = {
    "transaction_slices",
    "transaction_features",
    "fraud_model",
    "drift_report",
    "model_evaluation",
    "model_deployment",
    "model_diagnostics",
    "drift_report_html",
}
ASSETS = MATERIALIZED | {"drift_reference"}  # recorded only when a person accepts a drift
BEHIND_THE_SENSOR = MATERIALIZED - {"transaction_slices"}
# "Materialize all (7)…" once a graph holds an asset that cannot be materialized (drift_reference).
MATERIALIZE_ALL = re.compile(r"Materialize all( \(\d+\))?…")
DOWNSTREAM = BEHIND_THE_SENSOR - {"transaction_features"}  # unpartitioned: one run after the features
MODEL_GATES = ("min_roc_auc", "min_pr_auc", "min_f1", "max_brier", "not_worse_than_champion")


def expand_all_groups(page) -> None:
    """The global lineage starts with groups collapsed; its context menu expands them (the UI
    remembers that, so on a later visit the menu offers to collapse them instead)."""
    page.locator("svg foreignObject").first.wait_for()  # the graph is laid out: its menu works
    page.mouse.click(page.viewport_size["width"] - 200, page.viewport_size["height"] - 100, button="right")
    toggle = page.get_by_role("menuitem", name=re.compile(r"(Expand|Collapse) all groups"))
    if "Expand" in toggle.inner_text():
        toggle.click()
    else:
        page.keyboard.press("Escape")


def asset_names_in_graph(page) -> set[str]:
    """Names on the graph's asset nodes; a name cut in the middle ("transact…_features") is read
    from the tooltip the node shows on hover, as a person would."""
    nodes = page.locator("[class*='AssetNode_assetName']")  # CSS-module class, hash suffix varies
    names = set()
    for node in nodes.all():
        name = node.text_content().strip()
        if "…" in name:
            node.hover()
            name = page.get_by_role("tooltip").inner_text().strip()
            page.mouse.move(0, 0)
        names.add(name)
    return names


def launch_unsynced_backfill(page, screenshots) -> str:
    """Materialize unsynced → the five assets behind → missing partitions → launch; the backfill id."""
    materialize_all = page.get_by_role("button", name=MATERIALIZE_ALL)
    materialize_all.locator("xpath=following::button[1]").click()  # the split button's menu half
    page.get_by_role("menuitem", name="Materialize unsynced").click()
    unsynced = page.get_by_role("dialog").filter(has_text="Materialize unsynced assets")
    materialize_behind = unsynced.get_by_role("button", name=f"Materialize {len(BEHIND_THE_SENSOR)} assets")
    expect(materialize_behind).to_be_visible()  # the list fills in as the UI works out staleness
    for name in BEHIND_THE_SENSOR:
        expect(unsynced.get_by_text(name, exact=True).first).to_be_visible()
    expect(unsynced.get_by_text("transaction_slices", exact=True)).to_have_count(0)  # the sensor's work counts
    screenshots.take(page, "unsynced-assets")
    materialize_behind.click()

    launch = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    launch.get_by_role("button", name="Missing", exact=True).click()
    expect(launch.get_by_text(f"{len(LANDED_DAYS)} partitions", exact=True).first).to_be_visible()
    screenshots.take(page, "partition-dialog")
    launch.get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text(re.compile(r"^Created backfill \w+$"))
    return toast.inner_text().split()[-1]


def open_link(page, link):
    """Follow a metadata link (Dagster opens them in a new tab); the new tab."""
    with page.context.expect_page() as opened:
        link.click()
    new = opened.value
    new.set_default_timeout(60_000)
    new.wait_for_load_state()
    return new


def scored_examples(url: str) -> dict[int, int]:
    """A landed fraud the model flags and a landed legitimate one it passes: {label: transaction number}.
    Frauds with the largest amounts first (BankSim's frauds are the expensive ones)."""
    landed = transactions.landed_transactions(transactions.slice_files())
    frauds = landed[landed["fraud"] == 1].sort_values("amount", ascending=False).index[:50]
    legitimate = landed[landed["fraud"] == 0].index[:50]
    found = {}
    for label, numbers in ((1, frauds), (0, legitimate)):
        for number in numbers:
            result = transactions.score(url, transactions.raw_transaction(landed.loc[number]))
            if result.decision == label:
                found[label] = int(number)
                break
    assert set(found) == {0, 1}, f"no landed transaction the model gets right for some label: {found}"
    return found


def score_on_the_page(page, number: int) -> None:
    field = page.get_by_label(re.compile(r"^transaction number"))
    field.fill(str(number))
    field.press("Enter")
    page.get_by_role("button", name="Score").click()


def finished(run):
    """The run once it has finished, else None (a wait_for predicate)."""
    return run if run is not None and run.is_finished else None


def deployed(dev, backfill_id: str):
    """The backfill's downstream run once it has materialized model_deployment, else None (a wait_for predicate)."""
    run = dev.backfill_run(backfill_id, "model_deployment")
    return run if run is not None and dev.materialized_by("model_deployment", run.run_id) else None


def check_status(page, check: str):
    """The status line under a check's name in the Checks tab list ("Succeeded", "Failed", ...)."""
    return page.locator(f"div[title='{check}'] + span")


@pytest.mark.timeout(1200)
def test_materialize_from_the_ui_then_see_the_gates_and_the_deployment(dagster_dev, page, screenshots):
    land_steps(Warehouse(), LANDED_DAYS)
    dagster_dev.start()
    dagster_dev.wait_for(dagster_dev.serving_ui, 300, "the webserver, MLflow and the page")
    dagster_dev.wait_for(
        lambda: len(dagster_dev.materialized_partitions("transaction_slices")) == len(LANDED_DAYS),
        150,
        f"the landing sensor to ingest {len(LANDED_DAYS)} slices",
    )

    # The lineage shows the whole graph, ingested slices and all.
    page.goto(f"{dagster_dev.url}/asset-groups")
    expect(page.get_by_role("button", name=MATERIALIZE_ALL)).to_be_visible()
    expect(page.get_by_text("fetching statuses")).to_have_count(0)
    screenshots.take(page, "lineage-groups")
    expand_all_groups(page)
    expect(page.locator("[class*='AssetNode_assetName']")).to_have_count(len(ASSETS))
    assert asset_names_in_graph(page) == ASSETS
    screenshots.take(page, "lineage-assets")

    backfill_id = launch_unsynced_backfill(page, screenshots)
    page.get_by_role("link", name="View", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/runs/b/{backfill_id}"))
    expect(page.get_by_text("Partition selection")).to_be_visible()
    screenshots.take(page, "backfill-launched")

    # The backfill runs the 30 feature partitions, then the downstream assets in one run. The person reads on once
    # the model is deployed, while model_diagnostics still works out its importances and curves.
    deploying_run = dagster_dev.wait_for(
        lambda: deployed(dagster_dev, backfill_id), 600, f"backfill {backfill_id} to deploy"
    )
    assert deploying_run.asset_selection == {AssetKey(name) for name in DOWNSTREAM}

    # The gates: every blocking check on model_evaluation passed, min_f1 with its figures.
    page.goto(f"{dagster_dev.url}/assets/model_evaluation?view=checks")
    expect(page.get_by_text(f"Checks ({len(MODEL_GATES)})")).to_be_visible()
    for gate in MODEL_GATES:
        expect(check_status(page, gate)).to_have_text("Succeeded")
    page.locator("div[title='min_f1']").click()
    expect(page.get_by_text(re.compile(r"^f1 = 0\.\d{4} >= minimum 0\.\d{4}: pass$")).first).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    screenshots.take(page, "model-evaluation-checks")

    # The deployment: materialized, with the endpoint that really serves in its metadata.
    serving = model_deployer().status()
    assert serving and serving["healthy"], serving
    assert serving["url"] == f"http://127.0.0.1:{dagster_dev.deploy_port}/api/v1.0/predictions"
    page.goto(f"{dagster_dev.url}/assets/model_deployment")
    expect(page.locator(f"a[href^='/runs/{deploying_run.run_id}']").first).to_be_visible()  # latest materialization
    expect(page.get_by_role("link", name=serving["url"])).to_be_visible()
    expect(page.get_by_text(f"{serving['model_name']} version {serving['model_version']}", exact=True)).to_be_visible()
    screenshots.take(page, "model-deployment")

    # Two days land after the champion's training days; the sensor ingests them while the person reads MLflow.
    new_keys = [partition_key_for(path.name) for path in land_steps(Warehouse(), NEW_DAYS)]

    # The deployment links to the MLflow run: its metrics, and a link back to the Dagster run.
    run_link = page.locator(f"a[href^='{dagster_dev.mlflow_url}/#/experiments/'][href*='/runs/']").first
    mlflow_page = open_link(page, run_link)
    expect(mlflow_page.get_by_text("pr_auc", exact=True).first).to_be_visible()
    expect(mlflow_page.get_by_text("roc_auc", exact=True).first).to_be_visible()
    # fraud_model ran in the deploying run: the MLflow run's description links back to it
    expect(mlflow_page.locator(f"a[href='{dagster_dev.url}/runs/{deploying_run.run_id}']").first).to_be_visible()
    screenshots.take(mlflow_page, "mlflow-run")
    mlflow_page.close()
    expect(
        page.locator(
            f"a[href='{dagster_dev.mlflow_url}/#/models/{serving['model_name']}/versions/{serving['model_version']}']"
        ).first
    ).to_be_visible()

    # The new days' features, drift_report and its HTML report run while the person scores on the page.
    all_days = len(LANDED_DAYS) + len(NEW_DAYS)
    dagster_dev.wait_for(
        lambda: (
            len(dagster_dev.materialized_partitions("transaction_slices")) == all_days and dagster_dev.slices_idle()
        ),
        150,
        f"the landing sensor to ingest {len(NEW_DAYS)} more slices",
    )
    drift_run_id = dagster_dev.launch_run(
        [key.to_user_string() for key in (TRANSACTION_FEATURES, DRIFT_REPORT, DRIFT_REPORT_HTML)],
        (new_keys[0], new_keys[-1]),
    )

    # The scoring page, from the deployment's metadata: a fraud and a legitimate transaction.
    examples = scored_examples(serving["url"])
    scoring = open_link(page, page.locator(f"a[href^='{dagster_dev.page_url}']").first)
    expect(scoring.get_by_role("heading", name="Score a transaction")).to_be_visible()
    serving_version = f"{serving['model_name']} version {serving['model_version']}"
    for label, decision in ((1, "FRAUD"), (0, "legitimate")):
        score_on_the_page(scoring, examples[label])
        expect(scoring.get_by_text(f"Decision: {decision}").first).to_be_visible()
        expect(scoring.get_by_text(re.compile(f"scored by {serving_version}$")).first).to_be_visible()
        expect(scoring.get_by_text(re.compile(r"^The customer's history")).first).to_be_visible()
        screenshots.take(scoring, f"scoring-page-{decision.lower()}")
    scoring.close()

    # The deploying run, finished with model_diagnostics: every step succeeded.
    dagster_dev.wait_for(
        lambda: finished(dagster_dev.backfill_run(backfill_id, "model_deployment")),
        600,
        f"backfill {backfill_id} to finish",
    )
    page.goto(f"{dagster_dev.url}/runs/{deploying_run.run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"Succeeded ({len(DOWNSTREAM)})", exact=True)).to_be_visible()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()  # the event log has loaded
    screenshots.take(page, "deploying-run")

    # The drift report opens from drift_report_html's metadata, rendered by MLflow.
    dagster_dev.wait_for(lambda: dagster_dev.finished_run(drift_run_id), 300, f"run {drift_run_id} to report drift")
    page.goto(f"{dagster_dev.url}/assets/drift_report_html")
    report_page = open_link(page, page.locator("a[href*='/artifacts/drift_report.html']").first)
    report = report_page.frame_locator("iframe.mlflow-html-iframe")
    expect(report.get_by_text(re.compile(r"^Drift in column '")).first).to_be_visible()  # an Evidently widget
    screenshots.take(report_page, "drift-report")
    report_page.close()

    # Back on the lineage, every node but drift_reference (no drift accepted) is green, the new days included.
    page.goto(f"{dagster_dev.url}/asset-groups")
    expand_all_groups(page)
    expect(page.locator("[style*='--minimal-bg: var(--color-background-green)']")).to_have_count(len(MATERIALIZED))
    screenshots.take(page, "lineage-after")

    # Ctrl-C stops everything `make run` started; the model server keeps serving, as it says.
    said = dagster_dev.interrupt()
    assert "the model server keeps serving" in said, said
    assert dagster_dev.leftovers(model_server=False) == []
    assert model_deployer().status()["healthy"]
    dagster_dev.stop()
    assert dagster_dev.leftovers() == []
