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
categories). A request of one to three rows (every raw transaction request of a payment system) then
walks all trees at once (`ForestWalk`) instead of calling each tree's `predict`: p50 0.10 ms against
0.47 ms for one row of a 72-tree model (`benchmarks/bench_serving.py`, in process); through the server
(`benchmarks/bench_serving_ab.py` against the commit before it), 1.20-1.23 x the feature-vector requests
a second and 1.11-1.15 x the raw-transaction ones.

It reads fitted attributes of scikit-learn's booster (`_preprocessor`, `_bin_mapper`,
`_predictors` and their `nodes` and `raw_left_cat_bitsets`, `_baseline_prediction`, `_loss`), which
the pinned scikit-learn version has; a booster without them (or a non-binary one) is not
accelerated: `for_model` returns None and the server calls `predict_proba` as before. There is no public route around the preprocessing: in
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
        self.forest = ForestWalk(self.predictors, self.known_cat_bitsets, self.f_idx_map)
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
        if len(rows) <= ForestWalk.MAX_ROWS:
            # the same sum, tree after tree from the baseline: a cumulative sum adds in order, as `+=` does
            leaves = self.forest.leaf_values(encoded)
            column[:] = np.cumsum(np.column_stack([column, leaves]), axis=1)[:, -1]
        else:
            n_threads = _openmp_effective_n_threads()  # per call, as predict_proba: threadpool limits apply
            for predictor in self.predictors:
                column += predictor.predict(encoded, self.known_cat_bitsets, self.f_idx_map, n_threads)
        return self.loss.predict_proba(raw)[:, 1]


class ForestWalk:
    """Every tree's leaf for a few rows, all trees at once: scikit-learn's per-tree `predict` costs some
    8 µs a call before it walks a tree, which for one row was most of the model's time (72 trees).

    The trees' nodes are one table; each node's branch for a row is decided for all nodes in a few
    array operations, by the rule of scikit-learn's `_predict_one_from_raw_data` (`_predictor.pyx`):
    NaN follows `missing_go_to_left`; a numerical node goes left when the value is <= its threshold;
    a categorical node goes left when the category is in its left bitset, right when it is another
    known category, and the missing way when it is negative or unknown. Then every tree descends one
    level per step (leaves point to themselves) for as many steps as the deepest leaf is deep.
    """

    MAX_ROWS = 3  # from 4 rows on, the table of every node for every row costs what scikit-learn's walk does

    def __init__(self, predictors, known_cat_bitsets: np.ndarray, f_idx_map: np.ndarray):
        nodes = np.concatenate([predictor.nodes for predictor in predictors])
        sizes = [len(predictor.nodes) for predictor in predictors]
        self.roots = np.cumsum([0, *sizes[:-1]])
        first = np.repeat(self.roots, sizes)  # each node's tree's root
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        itself = np.arange(len(nodes))
        leaf = nodes["is_leaf"].astype(bool)
        self.left = np.where(leaf, itself, nodes["left"].astype(np.intp) + first)
        self.right = np.where(leaf, itself, nodes["right"].astype(np.intp) + first)
        self.value = nodes["value"].astype(np.float64)
        self.steps = int(nodes["depth"].max())
        self.categorical = np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf)
        # per categorical node, its way for each category code 0-255, then for a missing or negative one (256)
        bitsets = [predictor.raw_left_cat_bitsets for predictor in predictors]
        bitset_first = np.repeat(np.cumsum([0, *[len(b) for b in bitsets[:-1]]]), sizes)
        cat = self.categorical
        left_bits = np.concatenate(bitsets)[nodes["bitset_idx"].astype(np.intp)[cat] + bitset_first[cat]]
        known_bits = np.asarray(known_cat_bitsets)[np.asarray(f_idx_map)[self.feature[cat]]]
        code = np.arange(256)
        in_left = (left_bits[:, code // 32] >> (code % 32)) & 1 == 1
        known = (known_bits[:, code // 32] >> (code % 32)) & 1 == 1
        missing_way = self.missing_left[cat][:, None]
        self.category_goes_left = np.hstack([in_left | (~known & missing_way), missing_way])

    def leaf_values(self, encoded: np.ndarray) -> np.ndarray:
        """Leaf value of every tree (columns, in tree order) for every row of `encoded` (the preprocessed rows)."""
        values = encoded[:, self.feature]
        goes_left = np.where(np.isnan(values), self.missing_left, values <= self.threshold)
        if len(self.categorical):
            category = values[:, self.categorical]
            missing = ~(category >= 0)  # NaN or negative
            # truncated as `_predictor.pyx` casts it (encoded categories are codes below 256: max_bins <= 255)
            code = np.where(missing, 256, np.minimum(category, 255)).astype(np.intp)
            goes_left[:, self.categorical] = self.category_goes_left[np.arange(len(self.categorical)), code]
        # positions in the rows' node tables laid end to end, so a step is one take from a flat array
        offsets = np.arange(0, values.size, values.shape[1])[:, None]
        following = (np.where(goes_left, self.left, self.right) + offsets).ravel()
        at = (self.roots + offsets).ravel()
        for _ in range(self.steps):
            at = following.take(at)
        return self.value.take(at.reshape(len(encoded), -1) - offsets)
