"""A candidate model: trained on the history of every slice in step order, evaluated on the latest
steps, and registered in MLflow as a new version (not yet deployed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_assets import registry
from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.training.train import LABEL, STEP, train_model

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
    training_slices: tuple[str, ...]
    X_validation: pd.DataFrame
    y_validation: np.ndarray
    fit_seconds: float
    training_rows: int


def ordered_history(features: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """All feature partitions in step order, and their partition keys."""
    keys = sorted(features, key=lambda k: int(features[k]["step"].min()) if len(features[k]) else -1)
    return pd.concat([features[k] for k in keys], ignore_index=True), keys


def train_and_register(
    features_by_slice: Mapping[str, pd.DataFrame],
    dagster_run_id: str | None = None,
    asset_key: str | None = None,
    window_steps: int | None = None,
    legit_sample_rate: float = 1.0,
) -> ModelCandidate:
    """Train on the earlier steps (all of them, or the latest `window_steps`; legitimate fit rows
    down-sampled to `legit_sample_rate`), evaluate on the latest 20 % (the threshold is picked on the
    steps just before them, never on the validation window), and register the model with the run
    and slices it came from."""
    from fraud_assets.training.evaluation import evaluate

    history, slice_ids = ordered_history(features_by_slice)
    trained = train_model(
        history, FEATURE_COLUMNS, CATEGORICAL_FEATURES, window_steps=window_steps, legit_sample_rate=legit_sample_rate
    )
    windows = trained.windows
    evaluation = evaluate(trained.model, windows.X_validation, windows.y_validation)
    registered = registry.log_and_register(
        trained.model,
        evaluation,
        params={**trained.model.get_params(), **windows.split.describe(), "training_rows": len(windows.X_train)},
        tags=registry.lineage_tags(dagster_run_id, asset_key, slice_ids),
        input_example=windows.X_validation.head(5),
    )
    return ModelCandidate(
        registered=registered,
        evaluation=evaluation,
        split=windows.split.describe(),
        training_slices=tuple(slice_ids),
        X_validation=windows.X_validation,
        y_validation=windows.y_validation,
        fit_seconds=trained.fit_seconds,
        training_rows=len(windows.X_train),
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
