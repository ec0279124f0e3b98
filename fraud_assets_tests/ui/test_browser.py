"""What a person sees in the Dagster UI, in a real headless Chromium against `fraud-assets dev`.

The story, in manual mode (FRAUD_AUTOMATION=off): 30 days land, the landing sensor ingests them;
the person opens the asset lineage, sees the six assets, and asks for what is behind with
"Materialize unsynced" (features for the missing partitions, then model, drift, evaluation and
deployment) rather than "Materialize all", which would re-read and re-validate 30 files the sensor
has just ingested. Then they read the gates on model_evaluation's Checks tab and the endpoint on
model_deployment. Screenshots of every step go to test-artifacts/ui/.
"""

import re

import pytest
from dagster import AssetKey
from playwright.sync_api import expect

from fraud_assets.data.warehouse import Warehouse
from fraud_assets.resources import model_deployer
from fraud_assets.simulation.landing import land_steps

from .conftest import CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: run scripts/browser-deps (Debian's chromium)")

LANDED_DAYS = range(0, 30)  # ~80k rows: enough for a model that passes the default gates
ASSETS = {"transaction_slices", "transaction_features", "fraud_model", "drift_report", "model_evaluation", "model_deployment"}
BEHIND_THE_SENSOR = ASSETS - {"transaction_slices"}
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
    materialize_all = page.get_by_role("button", name="Materialize all…")
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


def finished(run):
    """The run once it has finished, else None (a wait_for predicate)."""
    return run if run is not None and run.is_finished else None


def check_status(page, check: str):
    """The status line under a check's name in the Checks tab list ("Succeeded", "Failed", ...)."""
    return page.locator(f"div[title='{check}'] + span")


@pytest.mark.timeout(480)
def test_materialize_from_the_ui_then_see_the_gates_and_the_deployment(dagster_dev, page, screenshots):
    land_steps(Warehouse(), LANDED_DAYS)
    dagster_dev.start()
    dagster_dev.wait_for(dagster_dev.serving_ui, 120, "the webserver")
    dagster_dev.wait_for(lambda: len(dagster_dev.materialized_partitions("transaction_slices")) == len(LANDED_DAYS),
                         150, f"the landing sensor to ingest {len(LANDED_DAYS)} slices")

    # The lineage shows the whole graph, ingested slices and all.
    page.goto(f"{dagster_dev.url}/asset-groups")
    expect(page.get_by_role("button", name="Materialize all…")).to_be_visible()
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

    # The backfill runs the 30 feature partitions, then the four downstream assets in one run.
    deploying_run = dagster_dev.wait_for(lambda: finished(dagster_dev.backfill_run(backfill_id, "model_deployment")),
                                         300, f"backfill {backfill_id} to deploy")
    assert deploying_run.asset_selection == {AssetKey(name) for name in DOWNSTREAM}
    page.goto(f"{dagster_dev.url}/runs/{deploying_run.run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"Succeeded ({len(DOWNSTREAM)})", exact=True)).to_be_visible()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()  # the event log has loaded
    screenshots.take(page, "deploying-run")

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

    # Back on the lineage, every node is green (materialized).
    page.goto(f"{dagster_dev.url}/asset-groups")
    expand_all_groups(page)
    expect(page.locator("[style*='--minimal-bg: var(--color-background-green)']")).to_have_count(len(ASSETS))
    screenshots.take(page, "lineage-after")

    dagster_dev.stop()
    assert dagster_dev.leftovers() == []
