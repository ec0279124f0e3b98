"""From a features frame (features + `step` + `fraud`) to a fitted classifier and its windows.

The frame is cut once by step (see `split`); the model gets the training rows plus a mask of the
calibration rows, and the validation rows are kept aside for evaluation and the gates. Only the
rows and columns a window needs are copied out of the frame, as float32 (`narrowed`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fraud_assets.training.split import StepSplit, split_by_step

if TYPE_CHECKING:
    from fraud_assets.training.model import FraudClassifier

STEP = "step"
LABEL = "fraud"
# What the windows hold features in. Float32 keeps 7 significant digits, finer than any feature needs (amounts have
# cents), at half float64's memory: at 10x BankSim, all history in float64 is ~1.8 GB before any copy.
WINDOW_DTYPE = np.float32


def narrowed(frame: pd.DataFrame, feature_columns: Sequence[str]) -> pd.DataFrame:
    """`frame` with its feature columns as `WINDOW_DTYPE`: what the windows hold, so a caller that gathers many
    slices can narrow each one as it reads it instead of holding them all in float64."""
    return frame.astype(dict.fromkeys(feature_columns, WINDOW_DTYPE), copy=False)


@dataclass(frozen=True)
class TrainingWindows:
    """Model inputs per window; `calibration_mask` marks calibration rows within `X_train`."""

    split: StepSplit
    X_train: pd.DataFrame
    y_train: np.ndarray
    calibration_mask: np.ndarray
    X_validation: pd.DataFrame
    y_validation: np.ndarray


@dataclass(frozen=True)
class TrainedModel:
    model: FraudClassifier
    windows: TrainingWindows
    fit_seconds: float


def step_windows(
    frame: pd.DataFrame,
    feature_columns: Sequence[str],
    split: StepSplit | None = None,
) -> TrainingWindows:
    """Cut `frame` into training (fit + calibration) and validation inputs by step."""
    required = [*feature_columns, STEP, LABEL]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame: missing columns {missing} (needs the features plus '{STEP}' and '{LABEL}')")
    split = split or split_by_step(frame[STEP])
    masks = split.masks(frame[STEP])
    columns = list(feature_columns)
    labels = frame[LABEL].to_numpy()
    return TrainingWindows(
        split=split,
        X_train=narrowed(frame.loc[masks.training, columns].reset_index(drop=True), columns),
        y_train=labels[masks.training],
        calibration_mask=masks.calibration[masks.training],
        X_validation=narrowed(frame.loc[masks.validation, columns].reset_index(drop=True), columns),
        y_validation=labels[masks.validation],
    )


def train_model(
    frame: pd.DataFrame,
    feature_columns: Sequence[str],
    categorical_features: Sequence[str],
    split: StepSplit | None = None,
    window_steps: int | None = None,
    **model_params,
) -> TrainedModel:
    """Fit a `FraudClassifier` on the training steps with its threshold picked on the calibration
    steps; `window_steps` trains on only the latest N steps before validation (None: all history);
    `model_params` override the classifier's chosen defaults."""
    from fraud_assets.training.model import FraudClassifier

    if split is not None and window_steps is not None:
        raise ValueError("train_model: pass either a split or window_steps (the split then has its window)")
    windows = step_windows(frame, feature_columns, split or split_by_step(frame[STEP], window_steps=window_steps))
    del frame  # the windows hold copies of their rows: a caller that passed the only reference frees it for the fit
    model = FraudClassifier(categorical_features=tuple(categorical_features), **model_params)
    started = time.perf_counter()
    model.fit(windows.X_train, windows.y_train, calibration_mask=windows.calibration_mask)
    return TrainedModel(model=model, windows=windows, fit_seconds=time.perf_counter() - started)
