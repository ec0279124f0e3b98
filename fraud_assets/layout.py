"""Where each stored asset lives under one storage base: one place for the IO manager that writes
assets, and for every reader of them (feature replay, the online scorer, tests, benchmarks).

Dagster-free, so the model server process can find the stored feature states without importing Dagster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from upath import UPath

FEATURE_STATE_DIR = "feature_state"
SLICE_DIGEST_DIR = "slice_digest"
DRIFT_RANKING_DIR = "drift_ranking"
VALIDATION_SCORES_DIR = "validation_scores"


class KeyPath(Protocol):
    """What the layout needs of an asset key (dagster's AssetKey has it)."""

    @property
    def path(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class StorageLayout:
    """Where each stored asset lives under one base, so the IO manager that writes it and the code that
    reads it back (feature replay, tests, benchmarks) agree whatever the base URL is."""

    base: UPath

    def partitions_dir(self, key: KeyPath) -> UPath:
        return self.base.joinpath(*key.path)

    def partition_path(self, key: KeyPath, partition: str) -> UPath:
        return self.partitions_dir(key) / f"{partition}.parquet"

    def asset_path(self, key: KeyPath, suffix: str = ".parquet") -> UPath:
        folder = self.partitions_dir(key)
        return folder.with_name(folder.name + suffix)

    def feature_state_path(self, partition: str) -> UPath:
        """The feature state after a features partition (see `fraud_assets.features.replay`)."""
        return self.feature_states_dir() / f"{partition}.state"

    def feature_states_dir(self) -> UPath:
        return self.base / FEATURE_STATE_DIR

    def slice_digest_path(self, partition: str) -> UPath:
        """A stored slice's digest, kept with the version of the file it was computed from (`storage.StoredSlices`)."""
        return self.slice_digests_dir() / f"{partition}.json"

    def slice_digests_dir(self) -> UPath:
        return self.base / SLICE_DIGEST_DIR

    def drift_rankings_dir(self) -> UPath:
        """Each features partition's drift sampling order, a prefix of it (`monitoring.stored_rankings`)."""
        return self.base / DRIFT_RANKING_DIR

    def validation_scores_dir(self) -> UPath:
        """Each recent model's scores of its validation slices (`training.validation_scores`)."""
        return self.base / VALIDATION_SCORES_DIR
