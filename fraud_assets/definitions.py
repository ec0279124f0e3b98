"""The code location: every asset, check, sensor and resource, wired for the environment.

Settings come from environment variables (`fraud_assets.settings`), so the same definitions run on
one machine with embedded defaults or on Kubernetes with Postgres, object storage and an MLflow
server. They are checked first: a bad value stops the load naming the variable.

Every run imports this module again, in a process of its own, so loading it stays light: the modules it
loads import MLflow, scikit-learn, matplotlib, Evidently, Seldon Core, Redis and the Kubernetes client (and
the modules of this package built on them) inside the functions that use them, and name their types under
`if TYPE_CHECKING:`. A run that stores slices and features imports none of them;
`fraud_assets_tests/test_import_graph.py` names the import chain that breaks this.
"""

from fraud_assets import settings

SETTINGS = settings.load()

import warnings  # noqa: E402

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions  # noqa: E402
from dagster._utils.warnings import BetaWarning, PreviewWarning  # noqa: E402

warnings.filterwarnings("ignore", category=BetaWarning)  # backfill_policy, dagster-mlflow
warnings.filterwarnings("ignore", category=PreviewWarning)

from fraud_assets.assets import checks, deployment, features, ingest, monitoring, training  # noqa: E402
from fraud_assets.execution import executor_for  # noqa: E402
from fraud_assets.resources import graph_resources  # noqa: E402
from fraud_assets.sensors import features_recompute_sensor, landing_sensor  # noqa: E402

# Declarative automation carries a new slice downstream; Dagster ships its default automation
# sensor stopped, so this project defines it running (FRAUD_AUTOMATION=off for manual mode).
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING if SETTINGS.automation else DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=5,
)

defs = Definitions(
    assets=[
        ingest.transaction_slices,
        features.transaction_features,
        training.fraud_model,
        training.model_evaluation,
        monitoring.drift_reference,
        monitoring.drift_report,
        monitoring.drift_report_html,
        deployment.model_deployment,
        training.model_diagnostics,
    ],
    asset_checks=[checks.slices_usable],
    jobs=[monitoring.accept_drift],
    sensors=[landing_sensor, features_recompute_sensor, automation_sensor],
    # In process on one machine; one pod per asset step with FRAUD_EXECUTOR=kubernetes.
    executor=executor_for(SETTINGS),
    resources=graph_resources(current=SETTINGS),
)
