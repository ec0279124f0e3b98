"""Tampered model folders with real payloads: a pickle that, when unpickled, creates a sentinel file.

Each way of tampering leaves the folder as an attacker with write access to the artifact store
could: the pickle replaced, `MLmodel` pointing at a second pickle, a `code:` path added (MLflow
puts it on sys.path), an extra file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import yaml

TAMPERINGS = ("model_pkl_changed", "mlmodel_redirected", "code_path_added", "extra_file")


class Payload:
    """Unpickling it opens (creates) `sentinel` for writing: proof that a pickle ran."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return open, (str(self.sentinel), "w")


def payload_bytes(sentinel: Path) -> bytes:
    return pickle.dumps(Payload(sentinel))


def tamper(folder: Path, how: str, sentinel: Path) -> None:
    """Change the model folder `folder` in place, the way named by `how` (one of TAMPERINGS)."""
    if how == "model_pkl_changed":
        (folder / "model.pkl").write_bytes(payload_bytes(sentinel))
    elif how == "mlmodel_redirected":
        (folder / "second.pkl").write_bytes(payload_bytes(sentinel))
        _edit_sklearn_flavor(folder, pickled_model="second.pkl")
    elif how == "code_path_added":
        (folder / "code").mkdir()
        (folder / "code" / "fraud_payload.py").write_text(f"open({str(sentinel)!r}, 'w')\n")
        _edit_sklearn_flavor(folder, code="code")
    elif how == "extra_file":
        (folder / "extra.pkl").write_bytes(payload_bytes(sentinel))
    else:
        raise ValueError(f"unknown tampering {how!r}; one of {TAMPERINGS}")


def _edit_sklearn_flavor(folder: Path, **changes: str) -> None:
    mlmodel = folder / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    spec["flavors"]["sklearn"].update(changes)
    if "pickled_model" in changes:
        spec["flavors"]["python_function"]["model_path"] = changes["pickled_model"]
    mlmodel.write_text(yaml.safe_dump(spec))
