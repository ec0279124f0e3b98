"""A model directory and its manifest: what is registered is exactly what is loaded.

At registration `write_manifest` records the SHA-256 of every file of the directory as written on
this machine (before any upload), in `manifest.json` beside them; the manifest's own SHA-256 goes
into the model version's tags. `load_verified` is the one way a model is loaded (registry,
release, lineage, the Seldon server): the manifest must have the registered hash, the directory
must hold exactly the files it lists, each with its hash, and only then is `model.pkl`, from the
very bytes just hashed, unpickled. `MLmodel` is never read for where the pickle or code lives, so
a redirect to another pickle or an added `code:` path has no effect beyond being refused.

Dagster-free and light to import: the model server uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pkl"


class ModelIntegrityError(RuntimeError):
    """The directory is not the one the registry recorded."""


def write_manifest(model_dir: str | os.PathLike) -> str:
    """Write `manifest.json` (relative path -> SHA-256 of every file) into `model_dir`; its SHA-256."""
    model_dir = Path(model_dir)
    files = {path: hashlib.sha256((model_dir / path).read_bytes()).hexdigest() for path in _files(model_dir)}
    if MODEL_FILE not in files:
        raise ModelIntegrityError(f"{model_dir}: no {MODEL_FILE} to register")
    payload = json.dumps({"files": files}, indent=1, sort_keys=True).encode()
    (model_dir / MANIFEST_FILE).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def verify(model_dir: str | os.PathLike, manifest_sha256: str) -> bytes:
    """Check the whole directory against the manifest with the registered hash; the bytes of
    `model.pkl` as hashed, so a file swapped after the check is never the one loaded. Raises
    ModelIntegrityError naming the first difference."""
    model_dir = Path(model_dir)
    expected = str(manifest_sha256).strip().lower()
    manifest_path = model_dir / MANIFEST_FILE
    try:
        manifest_bytes = _regular_file_bytes(manifest_path)
    except FileNotFoundError:
        raise ModelIntegrityError(f"{model_dir}: no {MANIFEST_FILE}; refusing an unverifiable model") from None
    actual = hashlib.sha256(manifest_bytes).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{manifest_path}: SHA-256 {actual} differs from the registered {expected}; refusing to load"
        )
    listed = json.loads(manifest_bytes)["files"]
    present = set(_files(model_dir))
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        raise ModelIntegrityError(
            f"{model_dir}: files differ from the manifest (not listed: {extra}, missing: {missing}); refusing to load"
        )
    model_bytes = b""
    for path, digest in sorted(listed.items()):
        content = _regular_file_bytes(model_dir / path)
        if (actual := hashlib.sha256(content).hexdigest()) != digest:
            raise ModelIntegrityError(
                f"{model_dir / path}: SHA-256 {actual} differs from the registered manifest's "
                f"{digest}; refusing to load"
            )
        if path == MODEL_FILE:
            model_bytes = content
    return model_bytes


def load_verified(model_dir: str | os.PathLike, manifest_sha256: str) -> Any:
    """The classifier in `model_dir`, unpickled only after `verify` accepted the whole directory."""
    import cloudpickle

    return cloudpickle.loads(verify(model_dir, manifest_sha256))


def _files(model_dir: Path) -> list[str]:
    """Relative paths of every entry below `model_dir` but the manifest; anything other than a
    regular file or a folder (a symlink, a fifo) is refused, since it would not be what was hashed."""
    if not model_dir.is_dir():
        raise ModelIntegrityError(f"{model_dir}: not a model directory")
    found = []
    for root, dirs, names in os.walk(model_dir, followlinks=False):
        for name in names + dirs:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ModelIntegrityError(f"{path}: not a regular file; refusing to load")
            relative = path.relative_to(model_dir).as_posix()
            if relative != MANIFEST_FILE:
                found.append(relative)
    return sorted(found)


def _regular_file_bytes(path: Path) -> bytes:
    if not stat.S_ISREG(path.lstat().st_mode):
        raise ModelIntegrityError(f"{path}: not a regular file; refusing to load")
    return path.read_bytes()
