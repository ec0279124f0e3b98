"""A served FraudClassifier's fraud probabilities without sklearn's per-call overhead, bit for bit the same.

For one row, `HistGradientBoostingClassifier.predict_proba` spends most of its time outside the trees:
its categorical preprocessor (a ColumnTransformer around an OrdinalEncoder, with pandas/narwhals
checks on every call) and the known-category bitsets it rebuilds on every call. Measured in the
server (benchmarks/bench_serving.py's model, 72 trees, profiled): about 4 of a request's 9 ms of
CPU. Here the category lookup tables, the bitsets and the thread count are built once at load;
a call encodes the categorical columns with the fitted categories (unknown and missing both NaN,
as the encoder does), puts them first as the ColumnTransformer does, and sums the same trees in
the same order with the same baseline, so the result is identical, not just close
(`fraud_assets_tests/deployment/test_booster_scoring.py` checks it on rows with missing and unseen
categories).

It reads fitted attributes of scikit-learn's booster (`_preprocessor`, `_bin_mapper`,
`_predictors`, `_baseline_prediction`, `_loss`), which the pinned scikit-learn version has; a
booster without them (or a non-binary one) is not accelerated: `for_model` returns None and the
server calls `predict_proba` as before. There is no public route around the preprocessing: in
scikit-learn 1.9 any categorical feature (a boolean mask on an ndarray included, as `FraudClassifier`
fits) makes `fit` build the ColumnTransformer, and every public predict method runs it.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from fraud_assets.training.model import FraudClassifier


class BoosterScorer:
    """Fraud probabilities of float64 rows in the classifier's `feature_names_in_` order."""

    def __init__(self, booster):
        encoder = booster._preprocessor.named_transformers_["encoder"]
        categorical = np.asarray(booster.is_categorical_, dtype=bool)
        self.categorical_columns = np.flatnonzero(categorical)
        self.numerical_columns = np.flatnonzero(~categorical)
        # per categorical column: its known (non-missing) values sorted, as the encoder's codes count them
        self.known_values = []
        for values in encoder.categories_:
            values = np.asarray(values, dtype=np.float64)
            known = values[~np.isnan(values)]
            if not np.array_equal(known, np.sort(known)):
                raise ValueError("encoder categories are not sorted")
            self.known_values.append(known)
        self.known_cat_bitsets, self.f_idx_map = booster._bin_mapper.make_known_categories_bitsets()
        self.predictors = [predictor for iteration in booster._predictors for predictor in iteration]
        self.baseline = booster._baseline_prediction
        self.loss = booster._loss

    @classmethod
    def for_model(cls, model) -> BoosterScorer | None:
        """The scorer of a FraudClassifier's booster, None for anything this module does not cover."""
        booster = getattr(model, "estimator_", None)
        if not isinstance(model, FraudClassifier) or getattr(booster, "n_trees_per_iteration_", None) != 1:
            return None
        if getattr(booster, "_preprocessor", None) is None:
            return None  # no categorical feature: nothing to encode (not how the project trains)
        try:
            return cls(booster)
        except (AttributeError, KeyError, ValueError):
            return None

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """What the booster's preprocessor makes of `rows`: encoded categorical columns, then the numerical ones."""
        out = np.empty(rows.shape, dtype=np.float64)
        for position, (column, known) in enumerate(zip(self.categorical_columns, self.known_values, strict=True)):
            values = rows[:, column]
            codes = np.searchsorted(known, values).clip(max=max(len(known) - 1, 0))
            found = known[codes] == values if len(known) else np.zeros(len(values), dtype=bool)
            out[:, position] = np.where(found, codes, np.nan)
        out[:, len(self.categorical_columns) :] = rows[:, self.numerical_columns]
        return out

    def fraud_probability(self, rows: np.ndarray) -> np.ndarray:
        encoded = self.encode(rows)
        raw = np.zeros((len(rows), 1), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        column = raw[:, 0]
        n_threads = _openmp_effective_n_threads()  # per call, as predict_proba: threadpool limits apply
        for predictor in self.predictors:
            column += predictor.predict(encoded, self.known_cat_bitsets, self.f_idx_map, n_threads)
        return self.loss.predict_proba(raw)[:, 1]
