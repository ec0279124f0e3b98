"""Features for a run of slices, continued from the feature state stored after the slice before them.

Each computed slice stores the state after it (running sums, last-N amounts, label counts), so
the next day costs what the day costs, not what the history costs. A stored state is usable only when
it folds in exactly the slices stored now before it (`features.inputs`); otherwise the earlier stored
slices are replayed from the newest usable state. Checking that takes each stored slice's digest, which
the store keeps (`SliceStore.slice_digest`): only slices to replay are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import pandas as pd

from fraud_assets.data.validation import step_from_name
from fraud_assets.features.compute import compute_features_incremental
from fraud_assets.features.definitions import FeatureConfig
from fraud_assets.features.inputs import NOTHING, chains, fold, slice_digest
from fraud_assets.features.state import FeatureState

# Kept beside the features so downstream assets can split by step, score and trace rows.
CARRIED_COLUMNS = ("step", "customer", "merchant", "fraud")


class SliceStore(Protocol):
    """Stored slices by partition key, and the feature state stored after each."""

    def slice_exists(self, partition: str) -> bool: ...

    def read_slice(self, partition: str) -> pd.DataFrame: ...

    def slice_digest(self, partition: str) -> str:
        """`features.inputs.slice_digest` of the stored slice; a store may keep it rather than read the slice."""
        ...

    def read_state(self, partition: str) -> bytes | None: ...

    def write_state(self, partition: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class SliceFeatures:
    rows: pd.DataFrame  # CARRIED_COLUMNS, then FEATURE_COLUMNS
    history_rows: int  # transactions the state has seen up to and including this slice
    inputs: str  # the inputs digest of the state after this slice (`features.inputs`)
    slice_digest: str  # this slice's own digest


@dataclass(frozen=True)
class FeatureRun:
    slices: dict[str, SliceFeatures]  # in step order
    replayed: list[str]  # stored slices replayed because no usable state was stored for them


def _stored_before(known: Iterable[str], last_step: int, store: SliceStore) -> list[tuple[int, str]]:
    """(step, key) of the stored slices among `known` before `last_step`, in step order."""
    stored = []
    for key in known:
        step = step_from_name(key)
        if step is not None and step < last_step and store.slice_exists(key):
            stored.append((step, key))
    return sorted(stored)


def starting_state(
    earlier: Iterable[str], first_step: int, config: FeatureConfig, store: SliceStore
) -> tuple[FeatureState, list[str]]:
    """The state just before `first_step`: the newest stored state that folds in exactly the slices stored now
    before it (`features.inputs`), rolled forward over the slices after it.

    `earlier` are the partition keys known so far; those of stored slices before `first_step` count. A stored
    state built before a day landed late or was corrected is not reused. Returns the state and the keys of the
    slices it had to replay (empty in the steady state).
    """
    stored = _stored_before(earlier, first_step, store)
    expected = chains({key: store.slice_digest(key) for _, key in stored})
    state, start = FeatureState.empty(config), 0
    for i in range(len(stored) - 1, -1, -1):
        step, key = stored[i]
        data = store.read_state(key)
        if data is not None:
            candidate = FeatureState.from_bytes(data)
            if (
                candidate.label_delay_steps == config.label_delay_steps
                and candidate.last_step == step
                and candidate.inputs == expected[key]
            ):
                state, start = candidate, i + 1
                break
    replayed = [key for _, key in stored[start:]]
    for key in replayed:
        _, state = compute_features_incremental(store.read_slice(key), state, config)
    return replace(state, inputs=expected[replayed[-1]] if replayed else state.inputs or NOTHING), replayed


def features_for_slices(
    slices: Mapping[str, pd.DataFrame], known_partitions: Iterable[str], config: FeatureConfig, store: SliceStore
) -> FeatureRun:
    """Each slice's features in step order, each from exactly the stored days before it; the state after each
    slice is stored as soon as it is computed.

    Stored slices between the run's (a partition range need not be consecutive days) are replayed, never skipped.
    """
    known = list(known_partitions)
    by_step = sorted(slices.items(), key=lambda kv: int(kv[1]["step"].min()))
    first_step, last_step = int(by_step[0][1]["step"].min()), int(by_step[-1][1]["step"].min())
    state, replayed = starting_state(known, first_step, config, store)
    between = [
        (step, key) for step, key in _stored_before(known, last_step, store) if step > first_step and key not in slices
    ]
    timeline = sorted([(int(frame["step"].min()), key) for key, frame in by_step] + between)
    out: dict[str, SliceFeatures] = {}
    for step, key in timeline:
        frame = slices[key] if key in slices else store.read_slice(key)
        digest, inputs = slice_digest(frame), state.inputs or NOTHING
        features, state = compute_features_incremental(frame, state, config)
        state = replace(state, inputs=fold(inputs, step, digest))
        if key not in slices:
            replayed.append(key)
            continue
        rows = pd.concat([frame.loc[:, list(CARRIED_COLUMNS)], features], axis=1)
        store.write_state(key, state.to_bytes())
        # Asked now, while the file is in the page cache: a store that keeps digests then has them when the next
        # day checks every earlier one (after a bulk landing, the first day would otherwise read all of them).
        store.slice_digest(key)
        out[key] = SliceFeatures(
            rows=rows, history_rows=state.transactions_seen, inputs=state.inputs or NOTHING, slice_digest=digest
        )
    return FeatureRun(slices=out, replayed=replayed)
