"""The fraud classifier: HistGradientBoosting with native categoricals and an F1-tuned threshold.

It is a plain sklearn estimator so MLflow's sklearn flavour can log it and a Seldon server can
call `predict_proba` on a float array. Its input is all-numeric: categoricals arrive as integer
codes (NaN = missing), which HistGradientBoosting splits on natively instead of treating them as
ordered numbers.

The hyper-parameter defaults were chosen by `benchmarks/bench_training.py` against the original
pipeline's unbounded trees (`max_leaf_nodes=None, max_depth=None`, numeric features only): on four
simulated data sets (seeds 1, 2, 3, 7) they scored 0.006-0.013 higher validation PR AUC in
0.67-0.86 of the original pipeline's CPU time. Bounded trees (31 leaves, 200 rows a leaf) also keep the fit
short when labels carry no signal, where the original pipeline's trees grow to thousands of leaves. Early
stopping uses a seeded hold-out, so runs are reproducible.

One fit: the booster is fitted on the fit window and the F1-optimal threshold picked on the
calibration window after it; the served booster is that same fit. `refit_after_calibration` refits
on all training steps with the first fit's threshold (the earlier procedure, kept as an option).
`benchmarks/bench_training.py` (180 days, seed 7, one run): one fit scored validation PR AUC 0.9408
and F1 0.8654 against 0.9434 and 0.8652 with the refit, in 0.45 of the CPU time; on data drifting
19 days before validation 0.9300 and 0.8498 against 0.9342 and 0.8607.

`fit_threads` caps the OpenMP threads of a booster's fit (None: one per core). A fit runs thousands of short
parallel regions, each waiting for its slowest thread. With libgomp's default of spinning while it waits, two
threads on a machine whose cores are busy with other processes were slower than one (one other busy process:
11.7-13.1 s against 6.9-7.9 s on all history at 1x; 5x slower at load 4.4); so the package lets waiting threads
sleep (`OMP_WAIT_POLICY=PASSIVE`, `fraud_assets/__init__.py`), and two threads then took 7.5-8.0 s beside one busy
process, 7.3-9.8 s beside two (one thread: 12.6-13.3 s) and 5.0-5.5 s alone (one thread: 7.2-8.1 s). Scoring runs
one region per tree and keeps every core (1.33 million rows at 10x: 5.9-6.3 s with two threads, 10.8-12.3 s with one).

`legit_sample_rate` keeps that share of the legitimate fit-window rows (seeded; every fraud row
kept) and weights each kept one by 1 / rate, so the loss and the probabilities stay those of the
full window while the booster bins and fits far fewer rows. Calibration rows are never sampled,
so the threshold is picked on the rows as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from fraud_assets.training.thresholds import f1_optimal_threshold


# A dataclass writes the keyword-only __init__ that sklearn's get_params and clone read, field by field.
@dataclass(kw_only=True, eq=False, repr=False)
class FraudClassifier(ClassifierMixin, BaseEstimator):
    """Fraud probability and a fraud/legit decision at `threshold`.

    `fit(X, y, calibration_mask=m)` fits on the rows outside `m` and picks the F1-optimal threshold
    on the rows inside `m` (which must precede the validation window in time); if
    `refit_after_calibration`, it then refits on all rows. Without a mask the threshold is
    `default_threshold`. X may hold float32 columns: only the rows a booster fits on are widened
    to the float64 the booster works in.
    """

    categorical_features: Sequence[str] = ()
    learning_rate: float = 0.07
    max_iter: int = 500
    max_leaf_nodes: int | None = 31
    max_depth: int | None = None
    min_samples_leaf: int = 200
    l2_regularization: float = 0.0
    early_stopping: bool = True
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5
    refit_after_calibration: bool = False
    legit_sample_rate: float = 1.0
    fit_threads: int | None = None
    default_threshold: float = 0.5
    random_state: int = 0

    @property
    def threshold(self) -> float:
        """The fraud-score cut used by `predict` (score >= threshold means fraud)."""
        check_is_fitted(self, "threshold_")
        return self.threshold_

    def fit(self, X: pd.DataFrame, y, calibration_mask: np.ndarray | None = None) -> FraudClassifier:
        X = self._check_training_frame(X)
        y = _check_labels(y, len(X))
        if not 0 < self.legit_sample_rate <= 1:
            raise ValueError(f"fraud model: legit_sample_rate must be in (0, 1], got {self.legit_sample_rate}")
        self.feature_names_in_: list[str] = list(X.columns)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.array([0, 1])
        if calibration_mask is None:
            self.estimator_ = self._fit_booster(X, y, np.ones(len(X), dtype=bool), "training")
            self.threshold_ = float(self.default_threshold)
            return self
        calibration = _check_mask(calibration_mask, len(X))
        first = self._fit_booster(X, y, ~calibration, "fit-window")
        calibration_scores = first.predict_proba(_float64_rows(X, calibration))[:, 1]
        self.threshold_ = f1_optimal_threshold(y[calibration], calibration_scores)
        refit = self.refit_after_calibration
        self.estimator_ = self._fit_booster(X, y, np.ones(len(X), dtype=bool), "training") if refit else first
        return self

    def sampled_rows(self, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The `rows` a booster fits on after down-sampling legitimate ones, and their weights
        (None at rate 1); seeded by `random_state`, every fraud row kept.

        Weights cost time when few rows are left: scikit-learn 1.9 bins weighted data with one sort per bin edge
        when the booster fits on 200,000 rows or fewer (scikit-learn#34304; above that it bins a sample drawn by
        weight). At 10x BankSim with 10 % of legitimate rows, the latest 60 steps fit in 46 s of CPU, all history
        (more rows) in 12.6 s (`benchmarks/bench_scale.py --compare-windows`)."""
        if self.legit_sample_rate == 1:
            return rows, None
        drawn = np.random.default_rng(self.random_state).random(len(y)) < self.legit_sample_rate
        kept = rows & ((y == 1) | drawn)
        weights = np.where(y[kept] == 1, 1.0, 1.0 / self.legit_sample_rate)
        return kept, weights

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(n, 2) probabilities of legit and fraud; a DataFrame is matched by column name, an
        array by position in `feature_names_in_`."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(self._model_input(X))

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(np.int64)

    def _fit_booster(self, X: pd.DataFrame, y: np.ndarray, rows: np.ndarray, name: str):
        rows, weights = self.sampled_rows(y, rows)
        # The booster sees a plain array and a categorical mask: predicting from an array skips
        # sklearn's per-call DataFrame handling (one row: ~2 ms instead of ~12 ms).
        values, labels = _float64_rows(X, rows), y[rows]
        empty = np.isnan(values).all(axis=0)
        if empty.any():
            # HistGradientBoosting fails on these with an opaque numpy error; say what is wrong.
            raise ValueError(
                f"fraud model: columns {np.asarray(self.feature_names_in_)[empty].tolist()} have no value in the "
                f"{len(values)} {name} rows (history features need earlier steps); train on more steps"
            )
        if labels.min() == labels.max():
            raise ValueError(
                f"fraud model: the {len(labels)} {name} rows all have label {labels[0]}; both classes are needed"
            )
        with threadpool_limits(limits=self.fit_threads, user_api="openmp"):
            return self._new_booster().fit(values, labels, sample_weight=weights)

    def _new_booster(self) -> HistGradientBoostingClassifier:
        categorical = np.isin(self.feature_names_in_, self.categorical_features)
        return HistGradientBoostingClassifier(
            categorical_features=categorical if categorical.any() else None,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            random_state=self.random_state,
        )

    def _check_training_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"fraud model: fit needs a DataFrame with named feature columns, got {type(X).__name__}")
        missing = [c for c in self.categorical_features if c not in X.columns]
        if missing:
            raise ValueError(f"fraud model: categorical features {missing} are not columns of the training frame")
        not_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if not_numeric:
            raise ValueError(
                f"fraud model: columns {not_numeric} are not numeric; encode categoricals as integer codes first"
            )
        infinite = [c for c in X.columns if np.isinf(X[c].to_numpy()).any()]
        if infinite:
            raise ValueError(f"fraud model: columns {infinite} contain infinite values")
        for column in self.categorical_features:
            codes = X[column].dropna().to_numpy(dtype=np.float64)
            if ((codes < 0) | (codes != np.round(codes))).any():
                raise ValueError(
                    f"fraud model: categorical column '{column}' must hold non-negative integer codes or NaN"
                )
        return X

    def _model_input(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        names = self.feature_names_in_
        if isinstance(X, pd.DataFrame):
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise ValueError(f"fraud model: input lacks feature columns {missing}")
            return X.loc[:, names].to_numpy(dtype=np.float64)
        values = np.asarray(X, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(
                f"fraud model: array input must have shape (n, {len(names)}) in the order {names}, got {values.shape}"
            )
        return values


def _float64_rows(X: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The selected rows as one float64 array, filled a column at a time: at 10x scale a float64
    copy of the whole training frame costs more than a gigabyte, and fits on a sample of it
    should not pay for one."""
    values = np.empty((int(rows.sum()), X.shape[1]), dtype=np.float64, order="F")
    for position, column in enumerate(X.columns):
        values[:, position] = X[column].to_numpy()[rows]
    return values


def _check_labels(y, n_rows: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise ValueError(f"fraud model: expected {n_rows} labels, got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"fraud model: labels must be 0 or 1, found {sorted(set(labels.tolist()) - {0, 1})[:5]}")
    return labels.astype(np.int64)


def _check_mask(mask, n_rows: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n_rows,):
        raise ValueError(f"fraud model: calibration_mask must be a boolean array of length {n_rows}")
    if mask.all() or not mask.any():
        raise ValueError("fraud model: calibration_mask must leave rows on both sides (fit and calibration)")
    return mask
