"""(key, step) pairs as one sortable integer, for lookups like "this key, up to that step"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LIMIT = 2**62


@dataclass(frozen=True)
class StepKeyCodec:
    """Codes sort by key, then step; every step passed in must lie in [low, high]."""

    low: int
    high: int

    @classmethod
    def covering(cls, n_keys: int, *steps: np.ndarray) -> StepKeyCodec:
        present = [s for s in steps if len(s)]
        low = min(int(s.min()) for s in present) if present else 0
        high = max(int(s.max()) for s in present) if present else 0
        codec = cls(low, high)
        if max(n_keys, 1) * codec.span >= _LIMIT:
            raise ValueError(
                f"features: steps {low}..{high} over {n_keys} keys are too many to index; steps should be day numbers"
            )
        return codec

    @property
    def span(self) -> int:
        return self.high - self.low + 1

    def encode(self, key: np.ndarray, step: np.ndarray) -> np.ndarray:
        return key.astype(np.int64) * self.span + (step.astype(np.int64) - self.low)

    def key_of(self, code: np.ndarray) -> np.ndarray:
        return code // self.span
