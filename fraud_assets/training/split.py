"""Step-ordered windows: fit < calibration < validation, each a contiguous block of distinct steps.

Fraud patterns drift and the features look back in time, so a random split would let the model
learn from days after the ones it is judged on. The decision threshold is picked on the
calibration window, which lies wholly before validation, so the validation figures are the ones
a freshly deployed model would see on the next days.

Calibration takes the latest 10 % of training steps (about 14 days of BankSim, ~500 frauds).
`benchmarks/bench_training.py` measured 10 % against 20 %: equal on stable data, and when the
data drifts shortly before validation the 20 % window left the threshold tuned for a model that
had not seen the change (validation F1 0.83-0.85 against 0.86).

A training window (`window_steps`) keeps only the latest N training steps: older steps fall in no
window, so a retrain costs the same every day instead of more than the day before. The validation
window does not move with it, so models trained on different windows are judged on the same days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

VALIDATION_SHARE = 0.2
CALIBRATION_SHARE = 0.1


class WindowMasks(NamedTuple):
    """Row masks, one per window, aligned with the `steps` they were computed from."""

    fit: np.ndarray
    calibration: np.ndarray
    validation: np.ndarray

    @property
    def training(self) -> np.ndarray:
        return self.fit | self.calibration


@dataclass(frozen=True)
class StepSplit:
    """Which distinct steps belong to each window; all three are sorted and disjoint."""

    fit_steps: tuple[int, ...]
    calibration_steps: tuple[int, ...]
    validation_steps: tuple[int, ...]
    older_steps: tuple[int, ...] = ()  # before the training window: in no window

    @property
    def training_steps(self) -> tuple[int, ...]:
        return self.fit_steps + self.calibration_steps

    def masks(self, steps: pd.Series | np.ndarray) -> WindowMasks:
        """Row masks for a frame's step column; a step outside every window is an error."""
        values = np.asarray(steps)
        masks = WindowMasks(
            fit=np.isin(values, self.fit_steps),
            calibration=np.isin(values, self.calibration_steps),
            validation=np.isin(values, self.validation_steps),
        )
        unassigned = ~(masks.training | masks.validation | np.isin(values, self.older_steps))
        if unassigned.any():
            missing = sorted(set(values[unassigned].tolist()))
            raise ValueError(f"step split: steps {missing[:10]} are in no window; build the split from the same frame")
        return masks

    def describe(self) -> dict[str, str]:
        """First-last step and step count per window, for run metadata and tags."""
        return {name: _span(steps) for name, steps in self._windows().items() if steps}

    def _windows(self) -> dict[str, tuple[int, ...]]:
        return {
            "older": self.older_steps,
            "fit": self.fit_steps,
            "calibration": self.calibration_steps,
            "validation": self.validation_steps,
        }


def split_by_step(
    steps: Iterable[int],
    validation_share: float = VALIDATION_SHARE,
    calibration_share: float = CALIBRATION_SHARE,
    window_steps: int | None = None,
) -> StepSplit:
    """Validation = the latest `validation_share` of distinct steps; training = the remaining
    steps, or only the latest `window_steps` of them; calibration = the latest `calibration_share`
    of the training steps; fit = the rest. Each window gets at least one step, and shares are of
    distinct steps so a busy day counts as much as a quiet one.
    """
    if window_steps is not None and window_steps < 2:
        raise ValueError(f"step split: window_steps must be at least 2 (fit and calibration), got {window_steps}")
    for name, share in (("validation_share", validation_share), ("calibration_share", calibration_share)):
        if not 0 < share < 1:
            raise ValueError(f"step split: {name} must be between 0 and 1 (exclusive), got {share}")
    distinct = np.unique(pd.Series(steps, dtype="int64")).tolist()
    if len(distinct) < 3:
        raise ValueError(
            f"step split: need at least 3 distinct steps (fit, calibration, validation), "
            f"got {len(distinct)}: {distinct}"
        )
    n_validation = min(max(1, round(len(distinct) * validation_share)), len(distinct) - 2)
    history = distinct[: len(distinct) - n_validation]
    n_older = max(0, len(history) - window_steps) if window_steps is not None else 0
    older, training = history[:n_older], history[n_older:]
    n_calibration = min(max(1, round(len(training) * calibration_share)), len(training) - 1)
    return StepSplit(
        fit_steps=tuple(training[: len(training) - n_calibration]),
        calibration_steps=tuple(training[len(training) - n_calibration :]),
        validation_steps=tuple(distinct[len(distinct) - n_validation :]),
        older_steps=tuple(older),
    )


def _span(steps: tuple[int, ...]) -> str:
    return f"{steps[0]}-{steps[-1]} ({len(steps)} steps)"
