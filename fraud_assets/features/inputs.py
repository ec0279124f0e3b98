"""Which days a feature state folds in, as one digest, so features built on other inputs are recognised.

History-aware features of a day depend on every day before it. A day landed late or corrected after later days
were computed leaves their stored states and features stale. Each state and features partition therefore
records its *inputs digest*: a chain over (step, slice digest) of every day folded in, in step order. A stored
state is reused only when its chain equals the chain of the slices stored now (`features.replay`), and a
features partition whose recorded chain differs is computed again (`stale_features`, used by the sensor).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from fraud_assets.data.validation import step_from_name

NOTHING = ""  # the inputs digest of the empty state


def slice_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over a slice's columns, dtypes and row hashes: the same for the same content however it is stored."""
    digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def fold(inputs: str, step: int, digest: str) -> str:
    """The inputs digest after folding in the day `step` whose slice has `digest`."""
    return hashlib.sha256(f"{inputs}|{step}:{digest}".encode()).hexdigest()


def chains(slice_digests: Mapping[str, str]) -> dict[str, str]:
    """For each partition key, the inputs digest of the state after it: every slice up to its step, in step order."""
    out, inputs = {}, NOTHING
    for key in sorted(slice_digests, key=_step):
        inputs = fold(inputs, _step(key), slice_digests[key])
        out[key] = inputs
    return out


@dataclass(frozen=True)
class Recorded:
    """What a materialized features partition says it was computed from (None: not recorded)."""

    inputs: str | None
    slice_digest: str | None


@dataclass(frozen=True)
class Recompute:
    partitions: list[str]  # every stored slice from the first day whose features are off, in step order
    reason: str


def stale_features(slice_digests: Mapping[str, str], recorded: Mapping[str, Recorded]) -> Recompute | None:
    """The features partitions to compute again because they were computed on other inputs than the slices stored
    now, or None when every materialized partition is up to date.

    `slice_digests`: every stored slice by partition key; `recorded`: the materialized features partitions. A
    partition never materialized is not stale (new days are the automation's); one before a stale partition
    is taken along (a day that landed late), so one run computes it once, from the days before it.
    """
    expected = chains(slice_digests)
    stale = [k for k in expected if k in recorded and recorded[k].inputs != expected[k]]
    if not stale:
        return None
    last = max(_step(k) for k in stale)
    late = [k for k in expected if k not in recorded and _step(k) < last]
    changed = [k for k in stale if recorded[k].slice_digest not in (None, slice_digests[k])]
    first = min(_step(k) for k in stale + late)
    partitions = [k for k in expected if _step(k) >= first]
    causes = [f"{k} re-landed with changed content" for k in changed] + [f"{k} landed late" for k in late]
    if not causes:
        causes = [f"the days before {stale[0]} are not those its features were computed from"]
    return Recompute(
        partitions,
        f"{'; '.join(causes)}: features of {partitions[0]}..{partitions[-1]} computed again from the days before each",
    )


def _step(key: str) -> int:
    """The day of a partition key (`step_042`); a key without one cannot take part in a chain."""
    step = step_from_name(key)
    if step is None:
        raise ValueError(f"partition key {key!r} names no step")
    return step
