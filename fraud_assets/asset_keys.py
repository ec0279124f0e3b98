"""The assets' keys and their checks' names, named once for the assets, sensors, lineage, demo and tests."""

from dagster import AssetKey

TRANSACTION_SLICES = AssetKey("transaction_slices")
TRANSACTION_FEATURES = AssetKey("transaction_features")
FRAUD_MODEL = AssetKey("fraud_model")
MODEL_EVALUATION = AssetKey("model_evaluation")
DRIFT_REFERENCE = AssetKey("drift_reference")
DRIFT_REPORT = AssetKey("drift_report")
DRIFT_REPORT_HTML = AssetKey("drift_report_html")
MODEL_DEPLOYMENT = AssetKey("model_deployment")
MODEL_DIAGNOSTICS = AssetKey("model_diagnostics")

# transaction_slices
USABLE = "usable"
KNOWN_CODES = "known_category_and_merchant"
DUPLICATES = "no_duplicate_rows"
# model_evaluation: the gate names `fraud_assets.training.gates` gives its verdicts
METRIC_GATES = ("min_roc_auc", "min_pr_auc", "min_f1", "max_brier")
CHAMPION_GATE = "not_worse_than_champion"
# drift_report
DATA_DRIFT = "drift_share_within_limit"
TARGET_DRIFT = "no_target_drift"
