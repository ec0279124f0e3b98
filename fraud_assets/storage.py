"""Storage primitives over UPath/fsspec: atomic writes, hashing, where stored assets live, and a Parquet IO manager.

Writes are atomic so a killed run never leaves a half-written file for the next run to read:
on a local disk we write a hidden temporary file and rename it into place; on object stores a
single PUT is already all-or-nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import pickle
import typing
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd
from dagster import ConfigurableIOManager, DagsterInvariantViolationError, InputContext, OutputContext
from upath import UPath

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_SLICES
from fraud_assets.features.inputs import slice_digest
from fraud_assets.layout import StorageLayout


def is_local(path: UPath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


def atomic_write_bytes(path: UPath, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(path):
        path.write_bytes(data)
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet with LZ4 and dictionary pages for text columns only. Features are floats that rarely repeat: for a
    10x BankSim features partition (36,696 rows, 39 columns) pyarrow's default (Snappy, a dictionary tried on
    every column) took 177 ms to write and 16-21 ms to read, this 30-37 ms and 9-11 ms, in 7% less space."""
    text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, compression="lz4", use_dictionary=text)
    return buf.getvalue()


def read_parquet(path: UPath, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(path.read_bytes()), columns=columns)


@dataclass(frozen=True)
class StoredSlices:
    """Stored slices and the feature state after each, as feature replay reads and writes them."""

    layout: StorageLayout

    # A day's features ask for every earlier slice's existence and digest; building a UPath per slice cost more than
    # the file system calls (0.15 s a day at 170 days of history), so those two go by the file system's own paths.
    @cached_property
    def _fs(self) -> Any:
        return self.layout.base.fs

    @cached_property
    def _slices_dir(self) -> str:
        return self.layout.partitions_dir(TRANSACTION_SLICES).path

    @cached_property
    def _digests_dir(self) -> str:
        return self.layout.slice_digests_dir().path

    def slice_exists(self, partition: str) -> bool:
        return self._fs.exists(f"{self._slices_dir}/{partition}.parquet")

    def read_slice(self, partition: str) -> pd.DataFrame:
        return read_parquet(self.layout.partition_path(TRANSACTION_SLICES, partition))

    def slice_digest(self, partition: str) -> str:
        """The slice's digest, computed once per version of its file (fsspec's `ukey`: size, time, inode...):
        a day's features check the digests of every earlier day, and reading them all would make a day
        cost more the more history there is."""
        version = self._fs.ukey(f"{self._slices_dir}/{partition}.parquet")
        try:
            known = json.loads(self._fs.cat_file(f"{self._digests_dir}/{partition}.json"))
        except FileNotFoundError:
            known = {}
        if known.get("slice_version") == version:
            return known["digest"]
        digest = slice_digest(self.read_slice(partition))
        kept = self.layout.slice_digest_path(partition)
        atomic_write_bytes(kept, json.dumps({"slice_version": version, "digest": digest}).encode())
        return digest

    def read_state(self, partition: str) -> bytes | None:
        path = self.layout.feature_state_path(partition)
        return path.read_bytes() if path.exists() else None

    def write_state(self, partition: str, data: bytes) -> None:
        atomic_write_bytes(self.layout.feature_state_path(partition), data)


class StoredPartitions(Mapping[str, pd.DataFrame]):
    """Stored partitions, each file read (only `columns`) on every access and never kept: Dagster holds a step's
    input until the step ends, so a kept frame would stay in memory after the step has copied what it needs
    (the model's training rows: 1.8 GB of frames at 10x). A step that needs a frame twice keeps it itself."""

    def __init__(self, paths: Mapping[str, UPath], columns: list[str] | None = None) -> None:
        self.paths = dict(paths)  # partition key -> its Parquet file, in partition order
        self.columns = columns

    def __getitem__(self, key: str) -> pd.DataFrame:
        return read_parquet(self.paths[key], self.columns)

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def _input_annotation(context: InputContext) -> Any:
    """The consuming parameter's annotation: Dagster resolves `Mapping[...]` and `dict[...]` to one type, so ask
    the function itself (the resolved type when there is none, as in a hand-built context)."""
    try:
        compute = context.op_def.compute_fn.decorated_fn  # type: ignore[union-attr]
        parameter = inspect.signature(compute, eval_str=True).parameters[context.name]
    except (DagsterInvariantViolationError, AttributeError, KeyError, NameError):
        return getattr(context.dagster_type, "typing_type", None)
    return parameter.annotation


class PartitionedParquetIOManager(ConfigurableIOManager):
    """Stores DataFrames as Parquet, one file per asset partition, anywhere fsspec reaches.

    A multi-partition run (one run covering many new slices) hands over `{partition_key: frame}`
    and gets one file per partition. On input, the downstream annotation decides the shape, never
    the number of partitions: `dict[str, DataFrame]` gets a dict, `DataFrame` gets them concatenated
    in partition order, `Mapping[str, DataFrame]` (collections.abc) gets `StoredPartitions`, which reads a
    partition only when the step asks for it. (Dagster's default IO manager returns a bare object when a
    multi-partition input happens to hold a single partition.) Other objects are pickled.
    """

    base_url: str = ""

    def layout(self) -> StorageLayout:
        return StorageLayout(UPath(self.base_url) if self.base_url else settings.storage())

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        layout = self.layout()
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            parts = obj if isinstance(obj, dict) else {keys[0]: obj} if len(keys) == 1 else None
            if parts is None or set(parts) != set(keys):
                raise TypeError(
                    f"{context.asset_key.to_user_string()}: a run over partitions {keys[:3]}... must "
                    "return a dict keyed by exactly those partition keys"
                )
            for key, frame in parts.items():
                atomic_write_bytes(layout.partition_path(context.asset_key, key), frame_to_parquet_bytes(frame))
            return
        if isinstance(obj, pd.DataFrame):
            atomic_write_bytes(layout.asset_path(context.asset_key), frame_to_parquet_bytes(obj))
        else:
            atomic_write_bytes(layout.asset_path(context.asset_key, ".pkl"), pickle.dumps(obj))

    def load_input(self, context: InputContext) -> Any:
        layout = self.layout()
        annotation = _input_annotation(context)
        wants_dict = annotation is dict or typing.get_origin(annotation) is dict
        wants_lazy = annotation is Mapping or typing.get_origin(annotation) is Mapping
        if context.has_asset_partitions:
            keys = sorted(context.asset_partition_keys)
            columns = context.definition_metadata.get("columns")  # an input that needs only these
            paths, missing = {}, []
            for key in keys:
                path = layout.partition_path(context.asset_key, key)
                if path.exists():
                    paths[key] = path
                else:
                    missing.append(key)
            # A day that lands while a model trains adds a partition the run was not planned for:
            # leave it to the next run, say so, and never drop a partition the run depends on alone.
            if missing and (len(keys) == 1 or not paths):
                raise FileNotFoundError(
                    f"{context.asset_key.to_user_string()} partitions {missing[:5]} are not stored under "
                    f"{layout.base}: materialize them first"
                )
            if missing:
                context.log.warning(
                    f"{context.asset_key.to_user_string()}: {len(missing)} partition(s) not materialized yet, "
                    f"left for the next run: {missing[:10]}"
                )
            stored = StoredPartitions(paths, columns)
            if wants_lazy:
                return stored
            if wants_dict:
                return dict(stored)
            return pd.concat(stored.values(), ignore_index=True) if stored else pd.DataFrame()
        parquet = layout.asset_path(context.asset_key)
        if parquet.exists():
            return read_parquet(parquet)
        return pickle.loads(layout.asset_path(context.asset_key, ".pkl").read_bytes())
