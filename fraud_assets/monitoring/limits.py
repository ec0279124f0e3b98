"""The drift limit as a Dagster resource, read from FRAUD_MAX_DRIFT_SHARE when the definitions load.

Kept free of Evidently so that loading the definitions (every run does) does not import it.
"""

import math
import os
from collections.abc import Mapping

from dagster import ConfigurableResource
from pydantic import Field


# Evidently's dataset drift rule: drift when this share of columns or more drifted.
DEFAULT_MAX_DRIFT_SHARE = 0.5
# Rows sampled per side: the same verdicts as full windows at a fifth of the time (bench_drift).
DEFAULT_SAMPLE_SIZE = 50_000


class DriftLimits(ConfigurableResource):
    max_drift_share: float = Field(
        default=DEFAULT_MAX_DRIFT_SHARE,
        description="Data drift when this share of feature columns or more drifted (Evidently's dataset rule)",
    )
    sample_size: int = Field(default=DEFAULT_SAMPLE_SIZE, description="Rows sampled per side (seeded)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "DriftLimits":
        text = environ.get("FRAUD_MAX_DRIFT_SHARE", "").strip()
        if not text:
            return cls()
        try:
            share = float(text)
        except ValueError:
            raise ValueError(f"FRAUD_MAX_DRIFT_SHARE={text!r} is not a number") from None
        if not (math.isfinite(share) and 0 < share <= 1):
            raise ValueError(f"FRAUD_MAX_DRIFT_SHARE={text!r} must be in (0, 1]")
        return cls(max_drift_share=share)
