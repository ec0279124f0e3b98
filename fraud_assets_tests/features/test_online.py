"""Online scoring, one request at a time on the records of the keys it touches, gives the offline features."""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import FeatureConfig, FeatureState, compute_features, compute_features_incremental, entities
from fraud_assets.features import online as online_features
from fraud_assets.features.columns import TransactionColumns
from fraud_assets.features.entities import (
    assemble_state,
    record_bytes,
    record_from_bytes,
    split_state,
    touched_keys,
)
from fraud_assets.features.one_transaction import one_transaction_features
from fraud_assets.features.online import Position, rebase, score_features
from fraud_assets_tests.features.data import STEPS, small_transactions
from fraud_assets_tests.features.online_support import CANONICAL, assert_same_features, offline_state, requests


class MemoryState:
    """The records in a dict: what a state store holds, without the store."""

    def __init__(self, stored, log=None):
        state, self.position = rebase(stored, pd.DataFrame(columns=CANONICAL) if log is None else log)
        self.records = split_state(state)
        self.log = [] if log is None else [log]

    def score(self, transactions: pd.DataFrame) -> pd.DataFrame:
        keys = touched_keys({f: transactions[f] for f in ("customer", "merchant", "category")})
        held = {f: {k: self.records[f][k] for k in keys[f] if k in self.records[f]} for f in keys}
        result = score_features(transactions.drop(columns="fraud"), held, self.position)
        for family, records in result.records.items():
            self.records[family].update(records)
        self.position = result.position
        self.log.append(transactions[~result.late])
        return result.features

    def rebase(self, stored):
        state, self.position = rebase(stored, pd.concat(self.log))
        self.records = split_state(state)


@pytest.mark.parametrize("delay", [1, 3])
@pytest.mark.parametrize("landed", [3, 5, 8])  # 3: the next day (5) follows a day without transactions
def test_a_day_scored_one_transaction_at_a_time_equals_offline(landed, delay):
    transactions = small_transactions(seed=7)
    config = FeatureConfig(label_delay_steps=delay)
    online = MemoryState(offline_state(transactions, landed, config))
    day = transactions[transactions["step"] == STEPS[STEPS.index(landed) + 1]]
    scored = pd.concat([online.score(request) for request in requests(day)])
    offline = compute_features(transactions[transactions["step"] <= day["step"].iat[0]], config).loc[day.index]
    assert_same_features(scored, offline)
    assert online.position == Position(delay, landed, int(day["step"].iat[0]))


def test_online_rows_of_later_steps_survive_a_rebase_and_the_landed_day_is_not_counted_twice():
    transactions = small_transactions(seed=8)
    config = FeatureConfig()
    online = MemoryState(offline_state(transactions, 6, config))
    day_7, day_8 = (transactions[transactions["step"] == s] for s in (7, 8))
    for request in requests(day_7):
        online.score(request)
    first, second = requests(day_8)[: len(day_8) // 2], requests(day_8)[len(day_8) // 2 :]
    for request in first:
        online.score(request)
    online.rebase(offline_state(transactions, 7, config))  # day 7 landed, with its labels
    assert online.position == Position(1, 7, 8)
    scored = pd.concat([online.score(request) for request in second])
    offline = compute_features(transactions[transactions["step"] <= 8], config)
    assert_same_features(scored, offline.loc[scored.index])
    held = online.records["customer"]
    counted = {c: held[c]["count"] for c in held}
    expected = transactions[transactions["step"] <= 8].groupby("customer").size().to_dict()
    assert counted == expected


def test_a_late_transaction_is_scored_at_the_open_step_and_changes_nothing():
    transactions = small_transactions(seed=9)
    online = MemoryState(offline_state(transactions, 7, FeatureConfig()))
    late = transactions[transactions["step"] == 7].iloc[:1]
    records_before = {f: dict(r) for f, r in online.records.items()}
    scored = online.score(late)
    assert online.records == records_before and online.position == Position(1, 7)
    expected, _ = compute_features_incremental(late.assign(step=8), offline_state(transactions, 7, FeatureConfig()))
    assert_same_features(scored, expected)


def test_records_assemble_back_into_the_same_state():
    transactions = small_transactions(seed=10)
    config = FeatureConfig(label_delay_steps=3)
    state = offline_state(transactions, 8, config)
    again = assemble_state(split_state(state), 3, state.last_step, False)
    day = transactions[transactions["step"] == 9]
    pd.testing.assert_frame_equal(
        compute_features_incremental(day, again, config)[0],
        compute_features_incremental(day, state, config)[0],
        check_exact=True,
    )
    assert split_state(again) == split_state(state)


def test_a_closed_state_refuses_rows_of_its_own_step():
    transactions = small_transactions(seed=11)
    state = offline_state(transactions, 8, FeatureConfig())
    with pytest.raises(ValueError, match="start at step 8"):
        compute_features_incremental(transactions[transactions["step"] == 8], state)


def test_an_open_state_keeps_its_step_totals_through_bytes():
    transactions = small_transactions(seed=12)
    state = offline_state(transactions, 7, FeatureConfig())
    _, state = compute_features_incremental(transactions[transactions["step"] == 8].iloc[:5], state, step_open=True)
    again = FeatureState.from_bytes(state.to_bytes())
    assert again.step_open and again.last_step == 8
    assert split_state(again) == split_state(state)


def test_records_survive_their_binary_layout_and_json_written_records_still_read():
    transactions = small_transactions(seed=13)
    state = offline_state(transactions, 8, FeatureConfig(label_delay_steps=3))  # pending labels and category steps
    for family, by_key in split_state(state).items():
        for key, record in by_key.items():
            assert all(type(amount) is int for amount in record["tail"]), (family, key)  # exact integer sums
            # the layout servers of earlier code read (tail amounts float64), so a store is shared while both serve
            assert record_bytes(record) == _float_tail_layout(record), (family, key)
            for stored in (record_bytes(record), json.dumps(record)):
                read = record_from_bytes(stored)
                assert read == record, (family, key)
                assert all(type(amount) is int for amount in read["tail"]), (family, key)


def _float_tail_layout(record: dict) -> bytes:
    entries = [value for entry in (*record["pending"], *record.get("steps", [])) for value in entry]
    fields = ("count", "sum", "squares", "max", "frauds", "labelled")
    header = entities._HEADER.pack(
        1,
        *(record[field] for field in fields),
        len(record["tail"]),
        len(record["pending"]),
        len(record.get("steps", [])),
    )
    return header + struct.pack(f"<{len(record['tail'])}d{len(entries)}q", *record["tail"], *entries)


@pytest.mark.parametrize("landed", [None, 3, 6])
def test_one_transaction_from_records_equals_the_feature_table_route_bit_for_bit(landed):
    """Every request of days after the landed one, one transaction each (new keys, a day opening, unknown
    categoricals, an extreme amount among them): the same table and records as `feature_table` on the
    assembled state, which the delay-3 and late cases of the tests above take."""
    transactions = small_transactions(seed=14)
    transactions.loc[transactions.index[-40], ["customer", "age"]] = ["C_new", "9"]
    transactions.loc[transactions.index[-30], "amount"] = 3.7e11
    transactions.loc[transactions.index[-20], "gender"] = "X"
    stored = FeatureState.empty() if landed is None else offline_state(transactions, landed, FeatureConfig())
    online = MemoryState(stored)
    later = transactions if landed is None else transactions[transactions["step"] > landed]
    taken = 0
    for request in requests(later):
        keys = touched_keys({f: request[f] for f in ("customer", "merchant", "category")})
        held = {f: {k: online.records[f][k] for k in keys[f] if k in online.records[f]} for f in keys}
        unlabelled = request.drop(columns="fraud")
        columns = TransactionColumns.from_frame(unlabelled)
        dispatched = score_features(unlabelled, held, online.position)
        general = online_features._score_rows(columns, held, online.position, online.position.is_late(columns.step))
        position = online.position
        taken += one_transaction_features(columns, held, position.last_step, position.open_step is not None) is not None
        np.testing.assert_array_equal(dispatched.table, general.table, strict=True)
        assert dispatched.records == general.records and dispatched.position == general.position
        online.score(request)
    assert taken > 100
