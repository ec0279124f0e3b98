"""The drift limit as a Dagster resource; `resources.graph_resources` sets it from FRAUD_MAX_DRIFT_SHARE.

Kept free of Evidently so that loading the definitions (every run does) does not import it.
"""

from dagster import ConfigurableResource
from pydantic import Field

from fraud_assets.settings import DEFAULTS

# Evidently's dataset drift rule: drift when this share of columns or more drifted.
DEFAULT_MAX_DRIFT_SHARE = DEFAULTS.max_drift_share
# Rows sampled per side: the same verdicts as full windows at a fifth of the time (bench_drift).
DEFAULT_SAMPLE_SIZE = 50_000


class DriftLimits(ConfigurableResource):
    max_drift_share: float = Field(
        default=DEFAULT_MAX_DRIFT_SHARE,
        description="Data drift when this share of feature columns or more drifted (Evidently's dataset rule)",
    )
    sample_size: int = Field(default=DEFAULT_SAMPLE_SIZE, description="Rows sampled per side (seeded)")
