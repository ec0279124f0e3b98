"""History-aware, leak-free transaction features, computed the same way for training and scoring.

See `definitions` for what each feature means and the rules every one follows (canonical order,
current row included, labels only after a delay).
"""

from fraud_assets.features.compute import compute_features, compute_features_incremental
from fraud_assets.features.definitions import (
    CATEGORICAL_FEATURES,
    CATEGORICAL_LEVELS,
    FEATURE_COLUMNS,
    FeatureConfig,
)
from fraud_assets.features.state import FeatureState

__all__ = [
    "CATEGORICAL_FEATURES",
    "CATEGORICAL_LEVELS",
    "FEATURE_COLUMNS",
    "FeatureConfig",
    "FeatureState",
    "compute_features",
    "compute_features_incremental",
]
