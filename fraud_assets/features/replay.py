"""Features for a run of slices, continued from the feature state stored after the slice before them.

Each computed slice stores the state after it (running sums, last-N amounts, label counts), so
the next day costs what the day costs, not what the history costs. When no usable state is
stored just before a run, the earlier stored slices are replayed from the newest usable state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from fraud_assets.data.validation import step_from_name
from fraud_assets.features.compute import compute_features_incremental
from fraud_assets.features.definitions import FeatureConfig
from fraud_assets.features.state import FeatureState

# Kept beside the features so downstream assets can split by step, score and trace rows.
CARRIED_COLUMNS = ("step", "customer", "merchant", "fraud")


class SliceStore(Protocol):
    """Stored slices by partition key, and the feature state stored after each."""

    def slice_exists(self, partition: str) -> bool: ...

    def read_slice(self, partition: str) -> pd.DataFrame: ...

    def read_state(self, partition: str) -> bytes | None: ...

    def write_state(self, partition: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class SliceFeatures:
    rows: pd.DataFrame  # CARRIED_COLUMNS, then FEATURE_COLUMNS
    history_rows: int  # transactions the state has seen up to and including this slice


@dataclass(frozen=True)
class FeatureRun:
    slices: dict[str, SliceFeatures]  # in step order
    replayed: list[str]  # earlier slices replayed because no usable state was stored just before the run


def starting_state(
    earlier: Iterable[str], first_step: int, config: FeatureConfig, store: SliceStore
) -> tuple[FeatureState, list[str]]:
    """The state just before `first_step`, rolled forward from the newest stored state that is usable.

    `earlier` are the partition keys known so far; those of stored slices before `first_step`
    count. Returns the state and the keys of the slices it had to replay (empty in the steady state).
    """
    stored = []
    for key in earlier:
        step = step_from_name(key)
        if step is not None and step < first_step and store.slice_exists(key):
            stored.append((step, key))
    stored.sort()
    state, start = FeatureState.empty(config), 0
    for i in range(len(stored) - 1, -1, -1):
        data = store.read_state(stored[i][1])
        if data is not None:
            candidate = FeatureState.from_bytes(data)
            if candidate.label_delay_steps == config.label_delay_steps and candidate.last_step == stored[i][0]:
                state, start = candidate, i + 1
                break
    replayed = [key for _, key in stored[start:]]
    for key in replayed:
        _, state = compute_features_incremental(store.read_slice(key), state, config)
    return state, replayed


def features_for_slices(
    slices: Mapping[str, pd.DataFrame], known_partitions: Iterable[str], config: FeatureConfig, store: SliceStore
) -> FeatureRun:
    """Each slice's features in step order, from the state before the first; the state after each
    slice is stored as soon as it is computed."""
    by_step = sorted(slices.items(), key=lambda kv: int(kv[1]["step"].min()))
    state, replayed = starting_state(known_partitions, int(by_step[0][1]["step"].min()), config, store)
    out: dict[str, SliceFeatures] = {}
    for key, frame in by_step:
        features, state = compute_features_incremental(frame, state, config)
        rows = pd.concat([frame.loc[:, list(CARRIED_COLUMNS)], features], axis=1)
        store.write_state(key, state.to_bytes())
        out[key] = SliceFeatures(rows=rows, history_rows=state.transactions_seen)
    return FeatureRun(slices=out, replayed=replayed)
