"""Each model's scores on the validation rows it was judged on, kept by model and by slice so that the champion
gate does not score the serving champion on a whole validation window every day.

The champion gate compares a candidate's PR AUC with the champion's on the candidate's validation window. The
champion is usually yesterday's candidate, and its own validation window was today's less one day: at 10x
BankSim that is 1.3 million rows scored again (4-9 s of `model_evaluation`) to learn scores already computed
when the champion was judged. So `fraud_model` keeps its candidate's scores, slice by slice, and the gate
scores only the slices whose rows the champion has no scores for.

A model is named by its manifest's digest (`registry`: a version's folder), never by a version number, which a
new MLflow store would give again; a slice's rows by a digest of their feature values and column names, so a
slice whose features were computed again is scored again.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from upath import UPath

from fraud_assets.storage import atomic_write_bytes

KEPT_MODELS = 8  # at 10x BankSim a model's scores of its window take ~10 MB


@dataclass(frozen=True)
class ValidationPart:
    """One slice's rows of a validation window: their digest and how many there are, in window order."""

    digest: str
    rows: int


def validation_parts(X: pd.DataFrame, rows_per_slice: Sequence[int]) -> tuple[ValidationPart, ...]:
    """The window's rows cut at the slice boundaries, each part named by its values."""
    if sum(rows_per_slice) != len(X):
        raise ValueError(f"validation parts: {sum(rows_per_slice)} rows in the slices, {len(X)} in the window")
    parts, start = [], 0
    names = "\0".join(map(str, X.columns)).encode()
    for rows in rows_per_slice:
        values = np.ascontiguousarray(X.iloc[start : start + rows].to_numpy())
        digest = hashlib.blake2b(names + str(values.dtype).encode() + values.tobytes(), digest_size=20).hexdigest()
        parts.append(ValidationPart(digest, rows))
        start += rows
    return tuple(parts)


@dataclass(frozen=True)
class StoredScores:
    """Scores per model and part under `folder`: one file per model (`<manifest digest>.npz`)."""

    folder: UPath

    def path(self, model_digest: str) -> UPath:
        return self.folder / f"{model_digest}.npz"

    def load(self, model_digest: str) -> dict[str, np.ndarray]:
        try:
            with np.load(io.BytesIO(self.path(model_digest).read_bytes()), allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except FileNotFoundError:
            return {}

    def save(self, model_digest: str, scores: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **scores)
        atomic_write_bytes(self.path(model_digest), buffer.getvalue())

    def keep(self, model_digest: str, parts: Sequence[ValidationPart], scores: np.ndarray) -> None:
        """Add a model's scores of a window, cut into its parts, to what is kept of the model; only the models
        used last are kept (the champion's file is written again whenever it is scored on a new day)."""
        self.save(model_digest, self.load(model_digest) | _by_part(parts, scores))
        kept = sorted(self.folder.glob("*.npz"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in kept[KEPT_MODELS:]:
            old.unlink(missing_ok=True)

    def scores(
        self,
        model_digest: str,
        score: Callable[[pd.DataFrame], np.ndarray],
        X: pd.DataFrame,
        parts: Sequence[ValidationPart],
    ) -> np.ndarray:
        """A model's fraud scores of the window `X` (its `parts`): kept parts read, the others given by
        `score` (the model's scoring of rows, called once, only if a part is missing) and kept."""
        known = self.load(model_digest)
        bounds = np.cumsum([0, *(p.rows for p in parts)])
        missing = np.zeros(len(X), dtype=bool)
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:], strict=True):
            if len(known.get(part.digest, ())) != part.rows:
                missing[start:stop] = True
        scores = np.empty(len(X), dtype=np.float64)
        if missing.any():
            scores[missing] = score(X.iloc[np.flatnonzero(missing)])
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:], strict=True):
            if not missing[start:stop].any():
                scores[start:stop] = known[part.digest]
        if missing.any():
            self.save(model_digest, known | _by_part(parts, scores))
        return scores


def _by_part(parts: Sequence[ValidationPart], scores: np.ndarray) -> dict[str, np.ndarray]:
    if sum(p.rows for p in parts) != len(scores):
        raise ValueError(f"validation scores: {len(scores)} scores for {sum(p.rows for p in parts)} rows")
    bounds = np.cumsum([0, *(p.rows for p in parts)])
    return {p.digest: scores[a:b] for p, a, b in zip(parts, bounds[:-1], bounds[1:], strict=True)}
