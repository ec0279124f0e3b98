"""Small helpers shared by the deployment tests."""

from __future__ import annotations

import socket

from fraud_assets import settings
from fraud_assets.deployment.bundle import ModelBundle
from fraud_assets.features import FeatureConfig
from fraud_assets.layout import StorageLayout
from fraud_assets_tests.deployment.toy_model import FEATURES
from fraud_assets_tests.features.data import small_transactions
from fraud_assets_tests.features.online_support import offline_state

# Raw-transaction scoring: the days, the Kaggle columns a payment system sends.
TRANSACTIONS = small_transactions(seed=31)
RAW = ["step", "customer", "age", "gender", "zipcodeOri", "merchant", "zipMerchant", "category", "amount"]
ROW = {
    "amount": 420.0,
    "category_code": 3,
    "age_code": 2,
    "gender_code": 1,
    "customer_tx_count": 12,
    "merchant_fraud_rate": 0.05,
}


def bundle_for(model_dir, sha256: str, version: str, threshold: float = 0.5) -> ModelBundle:
    return ModelBundle(str(model_dir), sha256, "fraud-model", version, threshold, tuple(FEATURES))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_row(names=FEATURES) -> dict:
    return {"data": {"names": list(names), "ndarray": [[ROW[n] for n in names]]}}


def store_state(up_to_step: int) -> None:
    """What the features asset leaves behind when the partition of `up_to_step` is materialized."""
    path = StorageLayout(settings.storage()).feature_state_path(f"step_{up_to_step:03d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(offline_state(TRANSACTIONS, up_to_step, FeatureConfig()).to_bytes())
