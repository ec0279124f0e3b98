"""The row orders hold whatever the size of the codes (the fast paths fall back when they overflow)."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_assets.features.ordering import KeyOrder, canonical_order


@pytest.mark.parametrize("scale", [1, 2**40], ids=["small-codes", "codes-too-big-to-fold"])
def test_canonical_order_sorts_by_the_key_and_finds_exact_duplicates(scale):
    rng = np.random.default_rng(0)
    step, customer, merchant, category = (rng.integers(0, 3, 400) * scale for _ in range(4))
    amount = rng.choice([1.0, 2.5], 400)
    order = canonical_order(step, customer, merchant, category, amount)

    def key(i: int) -> tuple:
        return step[i], customer[i], merchant[i], category[i], amount[i]

    assert order.rows.tolist() == sorted(range(400), key=lambda i: (key(i), i))
    for position, row in enumerate(order.rows):
        last = order.tie_last[position]  # the last row of the run of exact duplicates
        assert last >= position and key(order.rows[last]) == key(row)
        assert last == len(order.rows) - 1 or key(order.rows[last + 1]) != key(row)


@pytest.mark.parametrize("n_keys", [7, 100_000], ids=["few-keys", "more-keys-than-uint16"])
def test_key_order_groups_rows_and_keeps_their_order_within_a_key(n_keys):
    key = np.random.default_rng(1).integers(0, n_keys, 5_000)
    order = KeyOrder.of(key)
    assert order.rows.tolist() == np.argsort(key, kind="stable").tolist()
    assert (order.key == key[order.rows]).all()
    expected_rank, seen = [], {}
    for k in key[order.rows]:
        expected_rank.append(seen.get(k, 0))
        seen[k] = seen.get(k, 0) + 1
    assert order.rank.tolist() == expected_rank
