"""The online state stores (SQLite, Redis): offline parity through the store, rebase, atomicity."""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import sqlite3
import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fraud_assets import settings
from fraud_assets.deployment.online_scoring import OnlineScorer
from fraud_assets.deployment.state_backends import open_store
from fraud_assets.deployment.state_store import NoState, SqliteStateStore, WalCheckpointer, held
from fraud_assets.features import FeatureConfig, FeatureState, compute_features
from fraud_assets.features.inputs import chains, slice_digest
from fraud_assets.features.online import Position
from fraud_assets.layout import StorageLayout
from fraud_assets_tests.features.data import small_transactions
from fraud_assets_tests.features.online_support import assert_same_features, offline_state, requests
from fraud_assets_tests.redis_server import redis_server

CLIENTS_PER_PROCESS, PROCESSES, SENT_PER_CLIENT = 4, 2, 25


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    url = request.getfixturevalue("redis_url")
    open_store(url).client.flushdb()
    return url


@pytest.fixture
def store(store_url):
    store = open_store(store_url)
    yield store
    store.close()


def unlabelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="fraud")


def test_an_empty_store_refuses_to_score(store):
    assert store.position() is None
    with pytest.raises(NoState):
        store.score(unlabelled(small_transactions(seed=1).iloc[:1]))


def test_scoring_through_the_store_equals_offline_across_a_rebase(store):
    transactions, config = small_transactions(seed=21), FeatureConfig()
    assert store.rebase(offline_state(transactions, 6, config)) == Position(1, 6)
    for request in requests(transactions[transactions["step"] == 7]):
        store.score(unlabelled(request))
    assert store.position() == Position(1, 6, 7)
    day_8 = requests(transactions[transactions["step"] == 8])
    early = pd.concat([store.score(unlabelled(r)).features for r in day_8[:10]])
    assert store.rebase(offline_state(transactions, 7, config)) == Position(1, 7, 8)
    assert store.rebase(offline_state(transactions, 6, config)) == Position(1, 7, 8)  # older: ignored
    late = pd.concat([store.score(unlabelled(r)).features for r in day_8[10:]])
    offline = compute_features(transactions[transactions["step"] <= 8], config)
    assert_same_features(late, offline.loc[late.index])
    # Before day 7 landed its labels were unknown online, so only the fraud rates of day 8 differed.
    unlabelled_columns = [c for c in offline.columns if not c.endswith("fraud_rate")]
    assert_same_features(early[unlabelled_columns], offline.loc[early.index, unlabelled_columns])
    counts = {c: r["count"] for c, r in store.records("customer", list(offline_customers(transactions, 8))).items()}
    assert counts == offline_customers(transactions, 8)


def offline_customers(transactions, up_to_step) -> dict[str, int]:
    return transactions[transactions["step"] <= up_to_step].groupby("customer").size().to_dict()


def test_a_failed_request_changes_nothing(store):
    transactions = small_transactions(seed=22)
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    request = unlabelled(transactions[transactions["step"] == 9].iloc[:3]).copy()
    before = store.records("customer", list(request["customer"]))
    request.loc[request.index[-1], "merchant"] = None  # the features refuse a missing key
    with pytest.raises(ValueError, match="merchant"):
        store.score(request)
    assert store.records("customer", list(request["customer"])) == before
    assert store.position() == Position(1, 8)


def test_a_late_transaction_changes_nothing(store):
    transactions = small_transactions(seed=23)
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    request = unlabelled(transactions[transactions["step"] == 8].iloc[:1])
    before = store.records("customer", list(request["customer"]))
    result = store.score(request)
    assert result.late.all() and store.records("customer", list(request["customer"])) == before
    assert store.position() == Position(1, 8)


def test_a_request_reads_its_records_under_the_lock(tmp_path, monkeypatch):
    """SQLite reads a request's records under the write lock: another worker's write of the same customer that
    comes while the request reads waits until it has written, then counts on its record, so neither is lost."""
    transactions = small_transactions(seed=26)
    store, other = SqliteStateStore(tmp_path / "state.sqlite"), SqliteStateStore(tmp_path / "state.sqlite")
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    base = unlabelled(transactions.iloc[:1]).assign(step=9, customer="C_new")
    first, second = base.assign(amount=1.0), base.assign(amount=2.0)
    read_raw, written, writers = store._read_raw, {}, []

    def read_while_the_other_worker_writes(db, keys):
        found = read_raw(db, keys)
        writer = threading.Thread(target=lambda: written.update(other=other.score(first)))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive(), "the other worker wrote while a request held the lock"
        writers.append(writer)
        return found

    monkeypatch.setattr(store, "_read_raw", read_while_the_other_worker_writes)
    result = store.score(second)
    (writer,) = writers
    writer.join(timeout=30)
    assert result.features["customer_transaction_number"].tolist() == [1.0]
    assert written["other"].features["customer_transaction_number"].tolist() == [2.0]
    assert store.records("customer", ["C_new"])["C_new"]["count"] == 2
    store.close()
    other.close()


def send_one_customer(store_url: str, seed: int, barrier) -> None:
    """One client: SENT_PER_CLIENT transactions of customer C_shared, one request each."""
    rng = np.random.default_rng(seed)
    base = small_transactions(seed=24).iloc[:1]
    store = open_store(store_url)
    barrier.wait()
    for amount in np.round(rng.gamma(2.0, 30.0, SENT_PER_CLIENT), 2):
        store.score(unlabelled(base.assign(step=9, customer="C_shared", amount=amount)))
    store.close()


def run_clients(store_url: str, first_seed: int, barrier) -> None:
    threads = [
        threading.Thread(target=send_one_customer, args=(store_url, first_seed + i, barrier))
        for i in range(CLIENTS_PER_PROCESS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_clients_of_one_customer_lose_no_update(store, store_url):
    transactions = small_transactions(seed=24)
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    store.score(unlabelled(transactions.iloc[:1].assign(step=9, customer="C_shared", amount=1.0)))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES * CLIENTS_PER_PROCESS)
    workers = [context.Process(target=run_clients, args=(store_url, 100 * p, barrier)) for p in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    sent = PROCESSES * CLIENTS_PER_PROCESS * SENT_PER_CLIENT
    assert store.records("customer", ["C_shared"])["C_shared"]["count"] == 1 + sent


def store_recomputed_state(transactions: pd.DataFrame, up_to_step: int) -> FeatureState:
    """What the features asset stores for the partition of `up_to_step`: the state with its inputs digest."""
    state = offline_state(transactions, up_to_step, FeatureConfig())
    days = transactions[transactions["step"] <= up_to_step]
    inputs = chains({f"step_{step:03d}": slice_digest(day) for step, day in days.groupby("step")})
    state = replace(state, inputs=inputs[f"step_{up_to_step:03d}"])
    path = StorageLayout(settings.storage()).feature_state_path(f"step_{up_to_step:03d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(state.to_bytes())
    return state


def test_the_state_rebases_when_the_landed_day_is_recomputed_on_a_corrected_earlier_day(store, home):
    transactions = small_transactions(seed=25)
    scorer = OnlineScorer(store)
    first = store_recomputed_state(transactions, 7)
    assert scorer.catch_up(force=True) == Position(1, 7, landed_inputs=first.inputs)
    day_8 = requests(transactions[transactions["step"] == 8])
    for request in day_8[:10]:
        scorer.features(unlabelled(request))
    # Day 5 re-landed with one amount corrected: the features sensor recomputed days 5..7, step 7's state too.
    corrected = transactions.copy()
    corrected.loc[corrected.index[corrected["step"] == 5][0], "amount"] += 250.0
    second = store_recomputed_state(corrected, 7)
    assert second.inputs != first.inputs
    assert scorer.catch_up(force=True) == Position(1, 7, 8, second.inputs)
    assert scorer.catch_up(force=True) == Position(1, 7, 8, second.inputs)  # the same inputs again: no rebase
    late = pd.concat([scorer.features(unlabelled(r)).features for r in day_8[10:]])
    offline = compute_features(corrected[corrected["step"] <= 8], FeatureConfig())
    assert_same_features(late, offline.loc[late.index])


@pytest.fixture
def redis_store(redis_url):
    store = open_store(redis_url)
    store.client.flushdb()
    yield store
    store.close()


def test_redis_a_write_between_the_read_and_the_checked_write_is_computed_on(redis_store, redis_url, monkeypatch):
    """Another replica's write of the same customer between a request's read and its write: the script refuses
    the write and hands back the new record, on which the request computes again, so neither is lost."""
    transactions = small_transactions(seed=27)
    redis_store.rebase(offline_state(transactions, 8, FeatureConfig()))
    other = open_store(redis_url)
    base = unlabelled(transactions.iloc[:1]).assign(step=9, customer="C_new")
    read, reads = redis_store._read, []

    def read_then_the_other_replica_writes(names, generation):
        found = read(names, generation)
        reads.append(found)
        other.score(base.assign(amount=1.0))
        return found

    monkeypatch.setattr(redis_store, "_read", read_then_the_other_replica_writes)
    result = redis_store.score(base.assign(amount=2.0))
    assert len(reads) == 1  # the script's answer served the second computation: no second read
    assert result.features["customer_transaction_number"].tolist() == [2.0]
    assert redis_store.records("customer", ["C_new"])["C_new"]["count"] == 2
    other.close()


def test_redis_a_rebase_between_the_read_and_the_checked_write_sends_the_request_to_the_new_generation(
    redis_store, monkeypatch
):
    transactions = small_transactions(seed=28)
    redis_store.rebase(offline_state(transactions, 7, FeatureConfig()))
    read, reads = redis_store._read, []

    def read_then_day_8_lands(names, generation):
        found = read(names, generation)
        reads.append(found)
        if len(reads) == 1:
            redis_store.rebase(offline_state(transactions, 8, FeatureConfig()))
        return found

    monkeypatch.setattr(redis_store, "_read", read_then_day_8_lands)
    customer = transactions["customer"].iat[0]
    result = redis_store.score(unlabelled(transactions.iloc[:1]).assign(step=9))
    assert len(reads) == 2 and reads[0][2] != reads[1][2]
    assert result.position.landed_step == 8
    expected = int((transactions["step"] <= 8).groupby(transactions["customer"]).sum()[customer]) + 1
    assert redis_store.records("customer", [customer])[customer]["count"] == expected


def test_redis_a_request_of_more_transactions_than_a_lua_unpack_takes_is_logged_whole(redis_store):
    transactions = small_transactions(seed=29)
    redis_store.rebase(offline_state(transactions, 8, FeatureConfig()))
    rows = 9_000  # Redis' Lua unpacks at most about 8,000 values in one call
    request = unlabelled(transactions.iloc[[0] * rows]).assign(step=9, amount=np.arange(rows) / 100 + 1.0)
    redis_store.score(request.reset_index(drop=True))
    generation = redis_store._generation
    assert redis_store.client.llen(redis_store._log_key(generation)) == rows


def test_sqlite_requests_leave_the_wal_to_the_checkpointer_whose_rounds_keep_it_short(tmp_path, monkeypatch):
    """No request checkpoints (SQLite's automatic one ran under the lock for milliseconds); after a checkpointer
    round, with another writer's frames arriving between its passes, the next write starts the WAL over."""
    monkeypatch.setattr(WalCheckpointer, "SECONDS", 3600.0)  # rounds run by the test only
    monkeypatch.setattr(WalCheckpointer, "RESTART_FRAMES", 100)  # this WAL is long enough to start over
    transactions = small_transactions(seed=30)
    store, other = SqliteStateStore(tmp_path / "state.sqlite"), SqliteStateStore(tmp_path / "state.sqlite")
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    base = unlabelled(transactions.iloc[:1]).assign(step=9)

    def wal_frames() -> int:
        with contextlib.closing(sqlite3.connect(tmp_path / "state.sqlite")) as db:
            db.execute("PRAGMA wal_autocheckpoint=0")
            return db.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()[1]  # frames in the WAL, copied or not

    for i in range(150):
        store.score(base.assign(customer=f"C_wal_{i}"))
    assert store._connection().execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    grown = wal_frames()
    assert grown > 300  # ~5 pages a request, none checkpointed by the requests
    checkpointer, passes = store._checkpointer, []

    class WriterBetweenThePasses:
        def execute(self, sql):
            passes.append(checkpointer_db.execute(sql))
            if len(passes) == 1:
                other.score(base.assign(customer="C_between"))  # frames the first pass did not copy
            return passes[-1]

    checkpointer_db, checkpointer._db = checkpointer._db, WriterBetweenThePasses()
    checkpointer.checkpoint()
    checkpointer._db = checkpointer_db
    store.score(base.assign(customer="C_after"))
    assert wal_frames() < 20  # started over: only the last request's pages
    store.close()
    other.close()


def test_sqlite_checkpointer_rounds_leave_the_writers_lock_alone_until_the_wal_is_long(tmp_path, monkeypatch):
    """A round on a WAL of at most RESTART_FRAMES copies it beside the writers and never takes their lock: the
    pass under the lock waits for two fsyncs, and taken every round it put milliseconds on a few percent of
    the requests. Past RESTART_FRAMES the round takes it (and the next write starts the WAL over)."""
    monkeypatch.setattr(WalCheckpointer, "SECONDS", 3600.0)  # rounds run by the test only
    transactions = small_transactions(seed=31)
    store = SqliteStateStore(tmp_path / "state.sqlite")
    store.rebase(offline_state(transactions, 8, FeatureConfig()))
    base = unlabelled(transactions.iloc[:1]).assign(step=9)
    for i in range(20):
        store.score(base.assign(customer=f"C_short_{i}"))
    checkpointer = store._checkpointer
    writer = store.lock_path().open("a")
    fcntl.flock(writer, fcntl.LOCK_EX)  # a writer's turn, held through the round
    try:
        round_done = threading.Thread(target=checkpointer.checkpoint)
        round_done.start()
        round_done.join(timeout=10)
        assert not round_done.is_alive()  # it did not wait for the writer
        monkeypatch.setattr(WalCheckpointer, "RESTART_FRAMES", 10)
        long_round = threading.Thread(target=checkpointer.checkpoint)
        long_round.start()
        long_round.join(timeout=0.5)
        assert long_round.is_alive()  # waiting for the writer's turn to end
    finally:
        fcntl.flock(writer, fcntl.LOCK_UN)
        writer.close()
    long_round.join(timeout=10)
    assert not long_round.is_alive()
    store.close()


def test_sqlite_a_worker_waiting_for_its_turn_tries_briefly_then_sleeps_until_it_is_free(tmp_path):
    """`held` keeps trying for a taken turn for LOCK_SPIN_SECONDS only: a turn held far longer is waited for
    asleep (the waiting thread uses almost no CPU meanwhile) and taken as soon as the holder lets go."""
    lock_path = tmp_path / "state.sqlite.lock"
    holder, waiter = lock_path.open("a"), lock_path.open("a")
    fcntl.flock(holder, fcntl.LOCK_EX)
    taken, cpu = threading.Event(), []

    def wait_for_the_turn() -> None:
        started = time.thread_time()
        with held(waiter):
            cpu.append(time.thread_time() - started)
            taken.set()

    thread = threading.Thread(target=wait_for_the_turn)
    thread.start()
    assert not taken.wait(0.5)  # 1,000 times the spin: still waiting
    fcntl.flock(holder, fcntl.LOCK_UN)
    assert taken.wait(10)
    thread.join(10)
    assert cpu[0] < 0.1  # asleep for nearly all of the 0.5 s
    holder.close()
    waiter.close()
