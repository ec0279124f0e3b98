"""Feature replay over a store of slices and states: the stored state is used when it fits, the
history is replayed when it does not, and either way the features equal the full recompute."""

from __future__ import annotations

import pandas as pd

from fraud_assets.features import FEATURE_COLUMNS, FeatureConfig, FeatureState, compute_features
from fraud_assets.features.inputs import slice_digest
from fraud_assets.features.replay import features_for_slices, starting_state
from fraud_assets_tests.features.data import STEPS, small_transactions


class MemoryStore:
    def __init__(self, slices: dict[str, pd.DataFrame]):
        self.slices, self.states, self.reads = dict(slices), {}, []

    def slice_exists(self, partition):
        return partition in self.slices

    def read_slice(self, partition):
        self.reads.append(partition)
        return self.slices[partition]

    def slice_digest(self, partition):
        return slice_digest(self.slices[partition])

    def read_state(self, partition):
        return self.states.get(partition)

    def write_state(self, partition, data):
        self.states[partition] = data


def by_key(transactions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {f"step_{s:03d}": day.reset_index(drop=True) for s, day in transactions.groupby("step")}


def test_runs_continue_from_the_stored_state_and_equal_the_full_recompute():
    transactions, config = small_transactions(seed=5), FeatureConfig()
    days = by_key(transactions)
    store, keys = MemoryStore(days), list(days)
    first = features_for_slices({k: days[k] for k in keys[:4]}, [], config, store)
    second = features_for_slices({k: days[k] for k in keys[4:]}, keys, config, store)
    assert first.replayed == [] and second.replayed == []
    rows = pd.concat([run.slices[k].rows for run in (first, second) for k in run.slices], ignore_index=True)
    full = compute_features(transactions.reset_index(drop=True), config)
    pd.testing.assert_frame_equal(rows[list(FEATURE_COLUMNS)], full[list(FEATURE_COLUMNS)], check_exact=True)
    assert list(rows.columns[:4]) == ["step", "customer", "merchant", "fraud"]


def test_missing_or_unfit_states_are_replayed_from_the_newest_usable_one():
    config = FeatureConfig()
    days = by_key(small_transactions(seed=6))
    keys = list(days)
    store = MemoryStore(days)
    features_for_slices({k: days[k] for k in keys[:-1]}, [], config, store)
    del store.states[keys[-2]]
    store.states[keys[-3]] = FeatureState.empty(FeatureConfig(label_delay_steps=2)).to_bytes()
    state, replayed = starting_state(keys, STEPS[-1], config, store)
    assert replayed == keys[-3:-1]
    assert state.last_step == STEPS[-2] and state.label_delay_steps == 1
    nothing_stored = MemoryStore({})
    assert starting_state(keys, STEPS[-1], config, nothing_stored)[1] == []


def test_a_stored_state_built_before_a_late_day_is_not_reused():
    """The state stored after day 4, computed before day 3 landed, does not fold in day 3: day 5 must not start
    from it, and a range that skips a stored day replays that day instead of leaving it out."""
    config = FeatureConfig()
    days = by_key(small_transactions(seed=7))
    keys = list(days)
    without_late = [k for k in keys if k != keys[3]]
    store = MemoryStore({k: days[k] for k in without_late})
    features_for_slices({k: days[k] for k in without_late[:5]}, without_late, config, store)
    store.slices[keys[3]] = days[keys[3]]  # the late day is stored; its features are not computed yet

    _state, replayed = starting_state(keys, STEPS[5], config, store)
    assert replayed == keys[3:5], "the states of days 3 and 4 were stored without the late day"
    run = features_for_slices({k: days[k] for k in (keys[2], keys[5])}, keys, config, store)
    assert run.replayed == keys[3:5]
    full = compute_features(pd.concat([days[k] for k in keys[:6]], ignore_index=True), config)
    rows = run.slices[keys[5]].rows[list(FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(rows, full.iloc[-len(rows) :].reset_index(drop=True), check_exact=True)


def test_a_day_after_a_fitting_stored_state_reads_no_earlier_slice():
    """Its cost is the day's, not the history's: the earlier days are checked by their kept digests."""
    config = FeatureConfig()
    days = by_key(small_transactions(seed=7))
    store, keys = MemoryStore(days), list(days)
    features_for_slices({k: days[k] for k in keys[:-1]}, keys[:-1], config, store)
    store.reads.clear()
    last = features_for_slices({keys[-1]: days[keys[-1]]}, keys, config, store)
    assert last.replayed == [] and store.reads == []
