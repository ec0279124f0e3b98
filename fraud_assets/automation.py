"""When assets refresh by themselves: declarative automation conditions used across the graph.

Known pitfall: a blocking check stops downstream steps in its own run, but a plain `eager()`
downstream asset is still requested by automation after a failed check. Every automated asset
below a check therefore also requires `all_deps_blocking_checks_passed()`.

A new day's path, slice to serving, is one run of the landing sensor (tagged `LANDING_RUN_TAG`); automation is
the fallback for everything else. So on that path an update made by a landing run is no reason to refresh:
that run carries its own downstream. This is decided from the new updates' own runs, never by comparing a
materialization with a run's status: a tick reads those at different moments, and one that saw a landing
run ended but not yet all it stored requested its features again (eager's `newly_missing`; eight of 177).
"""

from dagster import AssetKey, AssetSelection, AutomationCondition

from fraud_assets import settings

LANDING_RUN_TAG = "fraud_assets/landing"  # on the landing sensor's runs for new files


def updated_outside_landing_runs() -> AutomationCondition:
    """Dagster's `any_deps_updated`, but a dependency's new updates (since the last tick) count only when not every
    one of them was made by a landing run."""
    return AutomationCondition.any_deps_match(
        (
            AutomationCondition.newly_updated()
            & ~AutomationCondition.executed_with_root_target()
            & ~AutomationCondition.all_new_updates_have_run_tags(tag_keys={LANDING_RUN_TAG})
        ).with_label("newly_updated_outside_landing_runs")
        | AutomationCondition.will_be_requested()
    ).with_label("any_deps_updated_outside_landing_runs")


def refresh_off_the_landing_path(condition: AutomationCondition) -> AutomationCondition:
    """`condition` (eager-based) triggered only by updates no landing run made, and never for being missing: every
    partition is added by the landing sensor together with its run, and that run, not automation, fills it."""
    return condition.replace("any_deps_updated", updated_outside_landing_runs()).replace(
        AutomationCondition.newly_missing() | updated_outside_landing_runs(), updated_outside_landing_runs()
    )


def refresh_when_upstream_passes() -> AutomationCondition:
    """Eager, but never past a failed blocking check upstream, and off the landing path."""
    return refresh_off_the_landing_path(
        AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
    )


def refresh_when_upstream_passes_without(decision: AssetKey) -> AutomationCondition:
    """`refresh_when_upstream_passes`, for an asset with an upstream that is a recorded decision (a spec, never
    materialized by automation): its absence is no missing input, while a new decision still refreshes the asset.
    Plain `eager()` counted the never-recorded `drift_reference` as missing, so automation never requested
    `drift_report`, and nothing deployed, until a person accepted a drift."""
    return refresh_when_upstream_passes().replace(
        "any_deps_missing", AutomationCondition.any_deps_missing().ignore(AssetSelection.assets(decision))
    )


def retrain_policy(cron: str | None = None) -> AutomationCondition:
    """Retrain when new slices arrived since the last model, at most once per cron interval.

    Days that land while a model is training, or within one interval of the last retrain, are
    taken together by the next one: ten files landing together give one retrain, not ten. The
    interval is `FRAUD_RETRAIN_CRON` (default: once a minute at most).
    """
    cron = cron or settings.load().retrain_cron
    recently_retrained = AutomationCondition.newly_requested().since(AutomationCondition.cron_tick_passed(cron))
    return (refresh_when_upstream_passes() & ~recently_retrained).with_label(
        f"retrain on new slices, at most once per '{cron}'"
    )
