"""From a features frame (features + `step` + `fraud`) to a fitted classifier and its windows.

The frame is cut once by step (see `split`); the model gets the training rows plus a mask of the
calibration rows, and the validation rows are kept aside for evaluation and the gates. Only the
rows and columns a window needs are copied out of the frame, as float32 (`WINDOW_DTYPE`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
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


@dataclass(frozen=True)
class TrainingWindows:
    """Model inputs per window; `calibration_mask` marks calibration rows within `X_train`."""

    split: StepSplit
    X_train: pd.DataFrame
    y_train: np.ndarray
    calibration_mask: np.ndarray
    X_validation: pd.DataFrame
    y_validation: np.ndarray
    validation_rows_per_slice: tuple[int, ...] = ()  # each slice's rows in `X_validation`, in its order


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
    _check_columns(frame, feature_columns)
    return windows_of_slices([frame], feature_columns, split or split_by_step(frame[STEP]))


def windows_of_slices(
    slices: Iterable[pd.DataFrame], feature_columns: Sequence[str], split: StepSplit
) -> TrainingWindows:
    """`step_windows` of the slices' concatenation, in their order, without making it: each slice is cut on its own
    and only the rows a window takes are gathered (at 10x BankSim, concatenating all history and cutting it again
    copied ~2 GB and took seconds). `slices` may be a generator that reads each slice as it is asked for."""
    columns = list(feature_columns)
    pieces: dict[str, list[list[np.ndarray]]] = {"training": [], "validation": []}  # per slice, one array a column
    labels: dict[str, list[np.ndarray]] = {"training": [], "validation": []}
    calibration, validation_rows = [], []
    for frame in slices:
        _check_columns(frame, columns)
        masks = split.masks(frame[STEP])
        y = frame[LABEL].to_numpy()
        for window, mask in (("training", masks.training), ("validation", masks.validation)):
            if mask.any():
                every = mask.all()
                pieces[window].append([_column(frame, c) if every else _column(frame, c)[mask] for c in columns])
                labels[window].append(y[mask])
        calibration.append(masks.calibration[masks.training])
        if masks.validation.any():
            validation_rows.append(int(masks.validation.sum()))

    def gathered(window: str) -> tuple[pd.DataFrame, np.ndarray]:
        sliced = pieces.pop(window)
        rows = sum(len(piece[0]) for piece in sliced)
        # Column-major, each column filled from its pieces once: the frame wraps the array without a copy, and
        # the model reads it a column at a time (at 10x, pandas' per-slice take, astype and concat took 2.1 s).
        values = np.empty((rows, len(columns)), dtype=WINDOW_DTYPE, order="F")
        for position in range(len(columns)):
            if sliced:
                np.concatenate([piece[position] for piece in sliced], out=values[:, position])
        y = np.concatenate(labels[window]) if labels[window] else np.empty(0, dtype=np.int64)
        return pd.DataFrame(values, columns=columns, copy=False), y

    X_train, y_train = gathered("training")
    X_validation, y_validation = gathered("validation")
    return TrainingWindows(
        split=split,
        X_train=X_train,
        y_train=y_train,
        calibration_mask=np.concatenate(calibration) if calibration else np.empty(0, dtype=bool),
        X_validation=X_validation,
        y_validation=y_validation,
        validation_rows_per_slice=tuple(validation_rows),
    )


def _column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """One feature column as the windows hold it (a slice read as `WINDOW_DTYPE` is not copied)."""
    return frame[column].to_numpy(dtype=WINDOW_DTYPE)


def _check_columns(frame: pd.DataFrame, feature_columns: Sequence[str]) -> None:
    missing = [c for c in (*feature_columns, STEP, LABEL) if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame: missing columns {missing} (needs the features plus '{STEP}' and '{LABEL}')")


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
    if split is not None and window_steps is not None:
        raise ValueError("train_model: pass either a split or window_steps (the split then has its window)")
    windows = step_windows(frame, feature_columns, split or split_by_step(frame[STEP], window_steps=window_steps))
    del frame  # the windows hold copies of their rows: a caller that passed the only reference frees it for the fit
    return fit_windows(windows, categorical_features, **model_params)


def fit_windows(windows: TrainingWindows, categorical_features: Sequence[str], **model_params) -> TrainedModel:
    """`train_model` on windows already cut (`step_windows`, `windows_of_slices`)."""
    from fraud_assets.training.model import FraudClassifier

    model = FraudClassifier(categorical_features=tuple(categorical_features), **model_params)
    started = time.perf_counter()
    model.fit(windows.X_train, windows.y_train, calibration_mask=windows.calibration_mask)
    return TrainedModel(model=model, windows=windows, fit_seconds=time.perf_counter() - started)
