"""FRAUD_TRAINING_WINDOW and FRAUD_LEGIT_SAMPLE_RATE reach the fraud_model asset's fit and its metadata."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from dagster import build_asset_context
from mlflow.tracking import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info
from upath import UPath

from fraud_assets import registry, settings
from fraud_assets.assets.training import fraud_model
from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.storage import (
    PartitionedParquetIOManager,
    StoredPartitions,
    atomic_write_bytes,
    frame_to_parquet_bytes,
)
from fraud_assets.training.train import train_model


def materialize_fraud_model(frame, by_slice=None):
    by_slice = by_slice or {f"step_{step:03d}": rows for step, rows in frame.groupby("step")}
    ended = []
    mlflow = SimpleNamespace(end_run=lambda **kw: ended.append(kw))
    context = build_asset_context(resources={"mlflow": mlflow, "io_manager": PartitionedParquetIOManager()})
    return fraud_model(context, transaction_features=by_slice)


def test_the_training_window_and_legit_sampling_reach_the_fit(home, frame, monkeypatch):
    monkeypatch.setenv("FRAUD_TRAINING_WINDOW", "4")
    monkeypatch.setenv("FRAUD_LEGIT_SAMPLE_RATE", "0.5")
    output = materialize_fraud_model(frame)
    candidate, metadata = output.value, output.metadata
    # 12 steps: validation 10-11; the latest 4 before them (6-9) train; 0-5 are in no window
    assert candidate.split["older"] == "0-5 (6 steps)"
    assert candidate.training_rows == int(frame["step"].between(6, 9).sum())
    assert metadata["training_window"].value == "latest 4 steps"
    assert metadata["legit_sample_rate"].value == 0.5
    params = MlflowClient(registry.tracking_uri()).get_run(candidate.registered.run_id).data.params
    assert params["legit_sample_rate"] == "0.5"
    assert params["older"] == "0-5 (6 steps)"


def test_by_default_all_history_trains_unsampled(home, frame):
    output = materialize_fraud_model(frame)
    assert "older" not in output.value.split
    assert output.value.training_rows == int((frame["step"] < 10).sum())
    metadata = output.metadata
    assert (metadata["training_window"].value, metadata["legit_sample_rate"].value) == ("all", 1.0)


def test_all_history_trains_when_asked_after_a_window(home, frame, monkeypatch):
    monkeypatch.setenv("FRAUD_TRAINING_WINDOW", "4")
    assert "older" in materialize_fraud_model(frame).value.split
    monkeypatch.setenv("FRAUD_TRAINING_WINDOW", "all")
    output = materialize_fraud_model(frame)
    assert output.value.training_rows == int((frame["step"] < 10).sum())
    assert output.metadata["training_window"].value == "all"


def test_only_the_window_and_validation_slices_are_read_and_named(home, frame, tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUD_TRAINING_WINDOW", "4")
    paths = {f"step_{step:03d}": UPath(tmp_path) / f"step_{step:03d}.parquet" for step in range(12)}
    for step, rows in frame.groupby("step"):
        atomic_write_bytes(paths[f"step_{step:03d}"], frame_to_parquet_bytes(rows))
    stored = StoredPartitions(paths)
    for step in range(6):  # older than the window (steps 6-9) and validation (10-11): never to be read
        paths[f"step_{step:03d}"].unlink()

    candidate = materialize_fraud_model(frame, stored).value

    read = [f"step_{step:03d}" for step in range(6, 12)]
    assert candidate.training_slices == tuple(read)
    assert registry.training_slices(candidate.registered.name, candidate.registered.version) == read
    assert candidate.training_rows == int(frame["step"].between(6, 9).sum())


def test_the_windows_hold_float32_and_the_fit_is_the_one_on_the_whole_frame(home, frame, monkeypatch):
    monkeypatch.setenv("FRAUD_TRAINING_WINDOW", "all")
    candidate = materialize_fraud_model(frame).value
    assert set(candidate.X_validation.dtypes) == {np.dtype(np.float32)}  # half float64's memory at 10x

    whole = train_model(frame, FEATURE_COLUMNS, CATEGORICAL_FEATURES)  # the float64 frame at once
    served = registry.load_version(candidate.registered.name, candidate.registered.version)
    assert served.threshold == whole.model.threshold
    np.testing.assert_array_equal(
        served.predict_proba(candidate.X_validation), whole.model.predict_proba(whole.windows.X_validation)
    )


@pytest.mark.parametrize("threads", [1, 3])
def test_the_fit_uses_fraud_training_threads_and_scoring_every_core(home, frame, monkeypatch, threads):
    monkeypatch.setenv("FRAUD_TRAINING_THREADS", str(threads))
    fits, scorings = [], []
    fit, predict = HistGradientBoostingClassifier.fit, HistGradientBoostingClassifier.predict_proba

    def openmp_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}

    def recording_fit(self, *args, **kwargs):
        fits.append(openmp_threads())
        return fit(self, *args, **kwargs)

    def recording_predict(self, *args, **kwargs):
        scorings.append(openmp_threads())
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", recording_fit)
    monkeypatch.setattr(HistGradientBoostingClassifier, "predict_proba", recording_predict)
    materialize_fraud_model(frame)
    assert fits == [{threads}]
    assert scorings and all(used == {_openmp_effective_n_threads()} for used in scorings)


def test_the_fit_threads_hold_in_a_process_that_imports_scikit_learn_to_train(tmp_path):
    # A run's process imports scikit-learn only when training starts: the limit must still reach the fit.
    probe = (
        "import sys; assert 'sklearn' not in sys.modules\n"
        "import numpy as np\n"
        "from fraud_assets.training.model import FraudClassifier\n"
        "from sklearn.ensemble import HistGradientBoostingClassifier\n"
        "from threadpoolctl import threadpool_info\n"
        "fit, seen = HistGradientBoostingClassifier.fit, []\n"
        "def recording(self, *a, **k):\n"
        "    seen.append(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp'}))\n"
        "    return fit(self, *a, **k)\n"
        "HistGradientBoostingClassifier.fit = recording\n"
        "import pandas as pd\n"
        "rng = np.random.default_rng(0)\n"
        "X = pd.DataFrame({'a': rng.normal(size=400), 'b': rng.normal(size=400)})\n"
        "FraudClassifier(fit_threads=5, max_iter=3).fit(X, (X['a'] > 1).astype(int))\n"
        "print(seen)\n"
    )
    env = settings.child_environment({"FRAUD_ASSETS_HOME": str(tmp_path)})
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[[5]]"
