"""A candidate model: trained on the slices of its training window in step order, evaluated on the latest
steps, and registered in MLflow as a new version (not yet deployed)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_assets import registry
from fraud_assets.data.validation import step_from_name
from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.training.split import StepSplit, split_by_step
from fraud_assets.training.train import LABEL, STEP, fit_windows, windows_of_slices
from fraud_assets.training.validation_scores import StoredScores, ValidationPart, validation_parts

if TYPE_CHECKING:
    from fraud_assets.registry import RegisteredModelVersion
    from fraud_assets.training.evaluation import ModelDiagnostics, ModelEvaluation

# What training reads of each features partition: at 10x BankSim the carried customer and merchant
# ids alone would take more memory than the features.
INPUT_COLUMNS = (*FEATURE_COLUMNS, STEP, LABEL)


@dataclass(frozen=True)
class ModelCandidate:
    """A trained, registered (not yet deployed) model and the validation window it was judged on."""

    registered: RegisteredModelVersion
    evaluation: ModelEvaluation
    split: dict
    training_slices: tuple[str, ...]  # the slices it read: training window and validation, in step order
    X_validation: pd.DataFrame
    y_validation: np.ndarray
    fit_seconds: float
    training_rows: int
    validation_parts: tuple[ValidationPart, ...] = ()  # `X_validation` slice by slice (`validation_scores`)


def slices_to_read(slice_ids: Iterable[str], window_steps: int | None = None) -> tuple[StepSplit, list[str]]:
    """The step split of the slices (one slice holds one step, named in its partition key) and, in step order,
    the slices its training and validation windows need: found from the keys alone, so slices older than
    the window are never read."""
    steps: dict[str, int] = {}
    for key in slice_ids:
        step = step_from_name(key)
        if step is None:
            raise ValueError(f"training: partition key {key!r} names no step (expected step_NNN)")
        steps[key] = step
    split = split_by_step(steps.values(), window_steps=window_steps)
    needed = {*split.training_steps, *split.validation_steps}
    return split, sorted((k for k in steps if steps[k] in needed), key=lambda k: (steps[k], k))


def train_and_register(
    features_by_slice: Mapping[str, pd.DataFrame],
    dagster_run_id: str | None = None,
    asset_key: str | None = None,
    window_steps: int | None = None,
    legit_sample_rate: float = 1.0,
    fit_threads: int | None = None,
    scores: StoredScores | None = None,
) -> ModelCandidate:
    """Train on the earlier steps (all of them, or the latest `window_steps`; legitimate fit rows
    down-sampled to `legit_sample_rate`; the fit on at most `fit_threads` threads), evaluate on the
    latest 20 % (the threshold is picked on the steps just before them, never on the validation
    window), and register the model with the run and the slices it read. Only those slices are read
    from `features_by_slice`. With `scores`, the model's validation scores are kept there."""
    from fraud_assets.training.evaluation import evaluate

    split, slice_ids = slices_to_read(features_by_slice, window_steps)
    # each slice is read, cut into its window and dropped: all history of 10x BankSim in float64 is ~1.8 GB
    windows = windows_of_slices((features_by_slice[k] for k in slice_ids), FEATURE_COLUMNS, split)
    trained = fit_windows(windows, CATEGORICAL_FEATURES, legit_sample_rate=legit_sample_rate, fit_threads=fit_threads)
    validation_scores = trained.model.predict_proba(windows.X_validation)[:, 1]
    evaluation = evaluate(trained.model, windows.X_validation, windows.y_validation, validation_scores)
    registered = registry.log_and_register(
        trained.model,
        evaluation,
        params={**trained.model.get_params(), **windows.split.describe(), "training_rows": len(windows.X_train)},
        tags=registry.lineage_tags(dagster_run_id, asset_key, slice_ids),
        input_example=windows.X_validation.head(5),
    )
    parts = validation_parts(windows.X_validation, windows.validation_rows_per_slice)
    if scores is not None:  # for the champion gate of the next days, should this model be serving then
        scores.keep(registered.manifest_sha256, parts, validation_scores)
    return ModelCandidate(
        registered=registered,
        evaluation=evaluation,
        split=windows.split.describe(),
        training_slices=tuple(slice_ids),
        X_validation=windows.X_validation,
        y_validation=windows.y_validation,
        fit_seconds=trained.fit_seconds,
        training_rows=len(windows.X_train),
        validation_parts=parts,
    )


def diagnose_and_log(candidate: ModelCandidate) -> ModelDiagnostics:
    """Permutation importances and curves of a registered candidate on its validation window, added to its
    MLflow run: seconds of work that no gate reads, so they run after deployment rather than before it."""
    from fraud_assets.training.evaluation import diagnose

    registered = candidate.registered
    model = registry.load_version(registered.name, registered.version)
    diagnostics = diagnose(model, candidate.X_validation, candidate.y_validation)
    registry.log_diagnostics(registered.run_id, diagnostics)
    return diagnostics
