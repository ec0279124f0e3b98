"""Step-ordered windows: fit < calibration < validation, each a contiguous block of distinct steps.

Fraud patterns drift and the features look back in time, so a random split would let the model
learn from days after the ones it is judged on. The decision threshold is picked on the
calibration window, which lies wholly before validation, so the validation figures are the ones
a freshly deployed model would see on the next days.

Calibration takes the latest 10 % of training steps (about 14 days of BankSim, ~500 frauds).
`benchmarks/bench_training.py` measured 10 % against 20 %: equal on stable data, and when the
data drifts shortly before validation the 20 % window left the threshold tuned for a model that
had not seen the change (validation F1 0.83-0.85 against 0.86).
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
        unassigned = ~(masks.training | masks.validation)
        if unassigned.any():
            missing = sorted(set(values[unassigned].tolist()))
            raise ValueError(f"step split: steps {missing[:10]} are in no window; build the split from the same frame")
        return masks

    def describe(self) -> dict[str, str]:
        """First-last step and step count per window, for run metadata and tags."""
        return {name: _span(steps) for name, steps in self._windows().items()}

    def _windows(self) -> dict[str, tuple[int, ...]]:
        return {
            "fit": self.fit_steps,
            "calibration": self.calibration_steps,
            "validation": self.validation_steps,
        }


def split_by_step(
    steps: Iterable[int],
    validation_share: float = VALIDATION_SHARE,
    calibration_share: float = CALIBRATION_SHARE,
) -> StepSplit:
    """Validation = the latest `validation_share` of distinct steps; calibration = the latest
    `calibration_share` of the remaining training steps; fit = the rest. Each window gets at
    least one step, and shares are of distinct steps so a busy day counts as much as a quiet one.
    """
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
    training = distinct[: len(distinct) - n_validation]
    n_calibration = min(max(1, round(len(training) * calibration_share)), len(training) - 1)
    return StepSplit(
        fit_steps=tuple(training[: len(training) - n_calibration]),
        calibration_steps=tuple(training[len(training) - n_calibration :]),
        validation_steps=tuple(distinct[len(distinct) - n_validation :]),
    )


def _span(steps: tuple[int, ...]) -> str:
    return f"{steps[0]}-{steps[-1]} ({len(steps)} steps)"
