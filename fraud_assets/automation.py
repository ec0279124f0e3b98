"""When assets refresh by themselves: declarative automation conditions used across the graph.

Known pitfall: a blocking check stops downstream steps in its own run, but a plain `eager()`
downstream asset is still requested by automation after a failed check. Every automated asset
below a check therefore also requires `all_deps_blocking_checks_passed()`.
"""

from dagster import AssetKey, AssetSelection, AutomationCondition

from fraud_assets import settings


def refresh_when_upstream_passes() -> AutomationCondition:
    """Eager, but never past a failed blocking check upstream."""
    return AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()


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
