"""What the features remember of the past, so a new day costs work in proportion to the day.

The state is small (per key: a few sums, the last amounts the longest window needs, label counts)
and serialises to a plain `.npz` archive without pickle, so loading a stored state cannot run code.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets.features.amount_history import AmountHistory
from fraud_assets.features.definitions import FAMILIES, FeatureConfig
from fraud_assets.features.label_history import LabelHistory
from fraud_assets.features.step_means import StepTotals

FORMAT = "fraud-assets-feature-state"
FORMAT_VERSION = 1
SMALL_LOOKUP = 64  # up to this many keys in all, a Python dict finds them faster than a pandas Index


@dataclass(frozen=True, eq=False)
class KeyHistory:
    """One key family (customers, merchants or categories): `keys[i]` owns index i of every array."""

    keys: np.ndarray
    amounts: AmountHistory
    labels: LabelHistory

    @classmethod
    def empty(cls, family: str) -> KeyHistory:
        return cls(np.zeros(0, dtype=object), AmountHistory.empty(family), LabelHistory.empty())

    def register(self, values: np.ndarray) -> tuple[KeyHistory, np.ndarray]:
        """Indices of `values` (distinct strings), adding the unseen ones at the end."""
        if len(self.keys) + len(values) <= SMALL_LOOKUP:  # a request's few keys: a dict, no pandas Index to build
            position = {key: i for i, key in enumerate(self.keys.tolist())}
            index = np.array([position.get(value, -1) for value in values.tolist()], dtype=np.int64)
        else:
            index = pd.Index(self.keys).get_indexer(values)
        unseen = index < 0
        if not unseen.any():
            return self, index
        index[unseen] = len(self.keys) + np.arange(unseen.sum())
        keys = np.concatenate((self.keys, values[unseen])).astype(object)
        grown = KeyHistory(keys, self.amounts.with_keys(len(keys)), self.labels.with_keys(len(keys)))
        return grown, index


@dataclass(frozen=True, eq=False)
class FeatureState:
    """Everything the features of later rows need from steps up to `last_step` (None: no data yet).

    `category_step_totals` belong to `last_step`, `previous_category_step_totals` to the step before.
    A closed state (`step_open` False, what the features asset stores) takes rows of later steps
    only; an open one (online scoring) also takes more rows of `last_step`, which must come after
    the ones it holds in canonical order. `inputs`: the days it folds in (`features.inputs`), set by the
    features asset on the states it stores; None when not known.
    """

    label_delay_steps: int
    last_step: int | None
    families: dict[str, KeyHistory]
    category_step_totals: StepTotals
    previous_category_step_totals: StepTotals = field(default_factory=StepTotals.empty)
    step_open: bool = False
    inputs: str | None = None

    @classmethod
    def empty(cls, config: FeatureConfig | None = None) -> FeatureState:
        config = config or FeatureConfig()
        return cls(config.label_delay_steps, None, {f: KeyHistory.empty(f) for f in FAMILIES}, StepTotals.empty())

    @property
    def transactions_seen(self) -> int:
        return int(self.families["category"].amounts.count.sum())

    def to_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "label_delay_steps": self.label_delay_steps,
            "last_step": self.last_step,
            "step_open": self.step_open,
            "inputs": self.inputs,
        }
        arrays = {"meta": np.array(json.dumps(meta))}
        for family, history in self.families.items():
            arrays[f"{family}.keys"] = np.asarray(history.keys, dtype=str)
            for part in ("amounts", "labels"):
                group = getattr(history, part)
                for member in fields(group):
                    arrays[f"{family}.{part}.{member.name}"] = getattr(group, member.name)
        for totals in ("category_step_totals", "previous_category_step_totals"):
            for member in fields(StepTotals):
                arrays[f"{totals}.{member.name}"] = getattr(getattr(self, totals), member.name)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @staticmethod
    def stored_inputs(path: Path) -> str | None:
        """The inputs digest of the state stored at `path`, reading its metadata only (not its arrays)."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                return json.loads(str(archive["meta"])).get("inputs")
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise ValueError(f"feature state: {path} is not a stored feature state ({error})") from error

    @classmethod
    def from_bytes(cls, data: bytes) -> FeatureState:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            meta = json.loads(str(arrays["meta"]))
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise ValueError(f"feature state: bytes are not a stored feature state ({error})") from error
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"feature state: format {meta.get('format')!r} version {meta.get('version')!r}, "
                f"expected {FORMAT!r} version {FORMAT_VERSION}; recompute the state"
            )

        def group(kind, prefix: str):
            try:
                return kind(**{f.name: arrays[f"{prefix}.{f.name}"] for f in fields(kind)})
            except KeyError as error:
                raise ValueError(f"feature state: array {error} is missing") from error

        families = {
            family: KeyHistory(
                keys=arrays[f"{family}.keys"].astype(object),
                amounts=group(AmountHistory, f"{family}.amounts"),
                labels=group(LabelHistory, f"{family}.labels"),
            )
            for family in FAMILIES
        }
        # States stored before open steps existed are closed and never need the step before theirs.
        previous = (
            group(StepTotals, "previous_category_step_totals")
            if "previous_category_step_totals.counts" in arrays
            else StepTotals.empty()
        )
        return cls(
            meta["label_delay_steps"],
            meta["last_step"],
            families,
            group(StepTotals, "category_step_totals"),
            previous,
            bool(meta.get("step_open", False)),
            meta.get("inputs"),
        )
