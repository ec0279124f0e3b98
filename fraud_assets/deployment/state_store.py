"""The online feature state: one per deployment, shared by every worker and replica, atomic per request.

What it holds: the records of every key (`fraud_assets.features.entities`), where the state stands
(`Position`: the last landed step it rests on, the newest step scored online since) and the log of
transactions scored online after the landed step, which a rebase replays on the next stored state.
A request's read-compute-write of the keys it touches is one atomic step, so concurrent requests
for the same customer never lose an update, and a request that fails changes nothing.

Two backends share the interface and the helpers here: `SqliteStateStore` below and
`redis_store.RedisStateStore`; `state_backends.open_store` picks one from the state store setting.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from fraud_assets.features.columns import Transactions
from fraud_assets.features.entities import Records, record_bytes, record_from_bytes, split_state, touched_keys
from fraud_assets.features.online import OnlineFeatures, Position, rebase, score_features
from fraud_assets.features.state import FeatureState

LOCK_SPIN_SECONDS = 0.0005  # how long a worker keeps trying for its turn before it sleeps (`held`)
LOG_COLUMNS = ("step", "customer", "age", "gender", "merchant", "category", "amount")


class NoState(RuntimeError):
    """The store has no state yet: nothing was rebased onto a stored feature state."""


class StateStore(ABC):
    """Where the online state lives; see the module docstring."""

    @abstractmethod
    def position(self) -> Position | None:
        """Where the state stands, None before the first rebase."""

    @abstractmethod
    def score(self, transactions: Transactions) -> OnlineFeatures:
        """Features of a request's transactions; the state takes them (late ones excepted), atomically."""

    @abstractmethod
    def rebase(self, stored: FeatureState) -> Position:
        """Rest the state on `stored` if `should_rebase` says so; returns the position after."""

    @abstractmethod
    def records(self, family: str, keys: list[str]) -> dict:
        """The records of these keys (missing ones left out), for inspection."""

    @abstractmethod
    def close(self) -> None: ...


def compute(transactions: Transactions, records: Records, position: Position | None) -> OnlineFeatures:
    """The compute part of a request, the same for every backend."""
    if position is None:
        raise NoState("the online state is empty: no features partition has been materialized yet")
    return score_features(transactions, records, position)


def request_keys(transactions: Transactions) -> dict[str, list[str]]:
    return touched_keys({family: transactions[family] for family in ("customer", "merchant", "category")})


def log_rows(transactions: Transactions) -> list[str]:
    """Transactions as JSON lines for the log (only the columns the features read)."""
    columns = [transactions[name].tolist() for name in LOG_COLUMNS]  # Python ints, floats and strings
    return [json.dumps(dict(zip(LOG_COLUMNS, row, strict=True))) for row in zip(*columns, strict=True)]


def taken(values: list, result: OnlineFeatures) -> list:
    """Per-transaction values of the transactions the state took (all but the late ones), for the log."""
    return [value for value, late in zip(values, result.late.tolist(), strict=True) if not late]


def log_frame(lines: list[str | bytes]) -> pd.DataFrame:
    frame = pd.DataFrame([json.loads(line) for line in lines], columns=list(LOG_COLUMNS))
    return frame.astype({"step": "int64", "amount": "float64"})


def position_json(position: Position, **extra) -> str:
    return json.dumps(
        {
            "label_delay_steps": position.label_delay_steps,
            "landed_step": position.landed_step,
            "open_step": position.open_step,
            "landed_inputs": position.landed_inputs,
            **extra,
        }
    )


def position_of(text: str | bytes | None) -> Position | None:
    return None if text is None else _parsed_position(text)


@functools.lru_cache(maxsize=16)
def _parsed_position(text: str | bytes) -> Position:
    """Every request reads the position, which changes once a day (a new open step) or at a rebase: parsed once."""
    value = json.loads(text)
    return Position(value["label_delay_steps"], value["landed_step"], value["open_step"], value.get("landed_inputs"))


def should_rebase(stored: FeatureState, current: Position | None) -> bool:
    """True when the store is empty, `stored` is of a later step than the landed one, or it is of the landed step
    but folds in other days than the state the store rests on (a late or corrected day recomputed it)."""
    if current is None:
        return True
    if stored.last_step is None:
        return False
    if current.landed_step is None or stored.last_step > current.landed_step:
        return True
    return stored.last_step == current.landed_step and stored.inputs not in (None, current.landed_inputs)


class SqliteStateStore(StateStore):
    """One SQLite file; each request writes in one `BEGIN IMMEDIATE` transaction (a write lock for its
    duration), so workers of one machine take turns on it. A request reads, computes and writes under
    the lock. (Computing first, on the records as they were, and under the lock only checking that they
    were still the same bytes held the lock for less time but read every record twice; reading once
    serves raw requests 1.02-1.03 x as fast, `benchmarks/bench_serving_ab.py`, 4 and 6 cycles.)

    The turns are taken on an exclusive `flock` of a lock file beside the database first (`held`): a
    waiting worker tries briefly, then sleeps in the kernel, and wakes the moment the holder is done.
    SQLite's own busy handler, met alone, polls with growing sleeps (1, 2, 5, 10 ... 100 ms), which put
    tens of milliseconds on the tail latency of a server whose requests hold the lock for about one.

    Requests never checkpoint the WAL (`wal_autocheckpoint=0`): SQLite's automatic checkpoint ran in
    the request whose commit passed 1,000 pages, every ~200 requests, under the lock, for 3-15 ms
    while the other worker waited. A `WalCheckpointer` thread per process does it instead.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._checkpointer: WalCheckpointer | None = None
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS records (family TEXT NOT NULL, key TEXT NOT NULL, "
                "record BLOB NOT NULL, PRIMARY KEY (family, key)) WITHOUT ROWID"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, step INTEGER NOT NULL, row TEXT NOT NULL)"
            )

    def _connection(self) -> sqlite3.Connection:
        """One connection (and lock file handle) per thread and process (neither may cross a fork)."""
        owner = (os.getpid(), threading.get_ident())
        if getattr(self._local, "owner", None) != owner:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's work (class docstring)
            self._local.lock = self.lock_path().open("a")
            self._local.db, self._local.owner = db, owner
            if self._checkpointer is None or self._checkpointer.pid != owner[0]:
                self._checkpointer = WalCheckpointer(self.path, self.lock_path())
        return self._local.db

    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock from the first read, so a read-compute-write is atomic;
        taken after the lock file's, so writers of this store queue in the kernel (class docstring)."""
        db = self._connection()
        with held(self._local.lock):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def position(self) -> Position | None:
        row = self._connection().execute("SELECT value FROM meta WHERE name = 'position'").fetchone()
        return position_of(row[0] if row else None)

    def score(self, transactions: Transactions) -> OnlineFeatures:
        keys = request_keys(transactions)
        steps, lines = transactions["step"].tolist(), log_rows(transactions)  # prepared before taking the lock
        with self._transaction() as db:
            current = self._read_raw(db, keys)
            result = compute(transactions, *self._decoded(current))
            if result.late.all():
                return result
            db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                [
                    (family, key, record_bytes(record))
                    for family, by_key in result.records.items()
                    for key, record in by_key.items()
                ],
            )
            db.executemany(
                "INSERT INTO log (step, row) VALUES (?, ?)",
                zip(taken(steps, result), taken(lines, result), strict=True),
            )
            if result.position != position_of(current[1]):
                db.execute("UPDATE meta SET value = ? WHERE name = 'position'", (position_json(result.position),))
        return result

    def rebase(self, stored: FeatureState) -> Position:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'position'").fetchone()
            current = position_of(row[0] if row else None)
            if not should_rebase(stored, current):
                return current
            log = log_frame([line for (line,) in db.execute("SELECT row FROM log ORDER BY id")])
            state, position = rebase(stored, log)
            db.execute("DELETE FROM records")
            db.executemany(
                "INSERT INTO records VALUES (?, ?, ?)",
                [
                    (family, key, record_bytes(record))
                    for family, by_key in split_state(state).items()
                    for key, record in by_key.items()
                ],
            )
            if position.landed_step is not None:
                db.execute("DELETE FROM log WHERE step <= ?", (position.landed_step,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('position', ?)", (position_json(position),))
        return position

    def records(self, family: str, keys: list[str]) -> dict:
        return self._read(self._connection(), family, keys)

    @staticmethod
    def _read_raw(db: sqlite3.Connection, keys: dict[str, list[str]]) -> tuple[dict[str, dict], str | None]:
        """The stored bytes of a request's records and the position's text, in one statement (statements,
        more than rows, were the reads' cost)."""
        selects = [
            f"SELECT family, key, record FROM records WHERE family = ? AND key IN ({','.join('?' * len(family_keys))})"
            for family_keys in keys.values()
        ]
        selects.append("SELECT '', '', value FROM meta WHERE name = 'position'")
        parameters = [value for family, family_keys in keys.items() for value in (family, *family_keys)]
        records: dict[str, dict] = {family: {} for family in keys}
        position = None
        for family, key, value in db.execute(" UNION ALL ".join(selects), parameters):
            if family:
                records[family][key] = value
            else:
                position = value
        return records, position

    @staticmethod
    def _decoded(stored: tuple[dict[str, dict], str | None]) -> tuple[Records, Position | None]:
        """Records and position from what `_read_raw` read."""
        records, position = stored
        by_family = {
            family: {key: record_from_bytes(data) for key, data in rows.items()} for family, rows in records.items()
        }
        return by_family, position_of(position)

    @staticmethod
    def _read(db: sqlite3.Connection, family: str, keys: list[str]) -> dict:
        marks = ",".join("?" * len(keys))
        rows = db.execute(f"SELECT key, record FROM records WHERE family = ? AND key IN ({marks})", (family, *keys))
        return {key: record_from_bytes(record) for key, record in rows}

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.lock.close()
            self._local.db = self._local.lock = self._local.owner = None
        if self._checkpointer is not None and self._checkpointer.pid == os.getpid():
            self._checkpointer.stop()
            self._checkpointer = None


class WalCheckpointer:
    """Checkpoints a store's WAL every `SECONDS` from a daemon thread of its own, off the requests' path.

    Each round checkpoints beside the writers (PASSIVE: it copies the bulk of the pages and blocks no one).
    Once the WAL holds more than `RESTART_FRAMES`, the round checkpoints a second time holding the store's
    lock file, when only the few frames committed meanwhile are left. That second pass completes, so the
    next writer starts the WAL over and the file stays bounded (a writer starts it over only when every
    frame was copied: beside a steady stream of commits, a checkpoint alone would seldom end with none
    added meanwhile, and the WAL would keep growing). The second pass is rare because it stops every
    writer for its two fsyncs (WAL, then database: 4-10 ms on this machine's disk, 27 ms and more under
    load). Two processes scoring bench_serving's requests on one store (load 3-4) waited more than 2 ms
    for the lock on 0.53-0.99 % of their requests with that pass every round, 0.34-0.49 % with it rare.
    """

    SECONDS = 0.5
    RESTART_FRAMES = 8192  # 32 MiB of 4 KiB pages: ~3 s of bench_serving's raw requests (~5 pages each)

    def __init__(self, path: Path, lock_path: Path):
        self.pid = os.getpid()
        self._stopped = threading.Event()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._lock = lock_path.open("a")
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint {path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.SECONDS):
            with contextlib.suppress(sqlite3.Error):
                self.checkpoint()

    def checkpoint(self) -> None:
        _, frames, _ = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > self.RESTART_FRAMES:
            with held(self._lock):
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self._db.close()
        self._lock.close()


@contextlib.contextmanager
def held(lock_file: IO) -> Iterator[None]:
    """An exclusive `flock` of the store's lock file: the turn writers (and the checkpointer's last pass) take.

    A worker that finds it taken tries again, yielding its CPU to anything else that can run, for up to
    `LOCK_SPIN_SECONDS` (a couple of requests' turns) before it sleeps in the kernel until it is free. While
    a worker waits for its turn its CPU often has nothing else to do, and on a VM an idle vCPU halts: waking
    it when the turn came, and the caches it lost meanwhile, cost more than the wait. Raw requests through
    the server 1.07 and 1.03 x as fast as with a sleeping wait (`benchmarks/bench_serving_ab.py`, 6 cycles
    each, 2 workers on 2 vCPUs).
    """
    give_up_at = None
    while True:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            now = time.monotonic()
            if give_up_at is None:
                give_up_at = now + LOCK_SPIN_SECONDS
            elif now > give_up_at:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                break
            os.sched_yield()
    try:
        yield
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)
