"""The online feature state in Redis, for replicas on several machines (see `state_store`).

Keys, under a prefix: `position` (where the state stands and its generation), and per generation
one string per key record (`<generation>:<family>:<key>`) and the log list (`<generation>:log`).
A request is optimistic: WATCH the position and its three records, compute, MULTI/EXEC the writes;
if another request changed any of them in between, EXEC fails and the request runs again on the new
values, so no update is lost. A rebase writes a whole new generation beside the live one, then
switches the position to it in one EXEC that fails (and is redone) if a request logged a
transaction meanwhile; requests in flight then retry on the new generation. The old generation is
deleted after the switch.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import redis

from fraud_assets.deployment.state_store import (
    StateStore,
    compute,
    log_frame,
    log_rows,
    position_json,
    position_of,
    request_keys,
    should_rebase,
    taken,
)
from fraud_assets.features.columns import Transactions
from fraud_assets.features.entities import record_bytes, record_from_bytes, split_state
from fraud_assets.features.online import OnlineFeatures, Position, rebase
from fraud_assets.features.state import FeatureState

PREFIX = "fraud-assets:online"
MAX_ATTEMPTS = 1000  # a request retries only when another one wrote the same keys in between
MAX_REBASE_ATTEMPTS = 50


class RedisStateStore(StateStore):
    def __init__(self, url: str, password: str | None = None, prefix: str = PREFIX):
        self.client = redis.Redis.from_url(url, password=password) if password else redis.Redis.from_url(url)
        self.prefix = prefix
        self.position_key = f"{prefix}:position"

    def _key(self, generation: str, family: str, key: str) -> str:
        return f"{self.prefix}:{generation}:{family}:{key}"

    def _log_key(self, generation: str) -> str:
        return f"{self.prefix}:{generation}:log"

    def _current(self, client) -> tuple[Position | None, str]:
        text = client.get(self.position_key)
        return position_of(text), json.loads(text)["generation"] if text else ""

    def position(self) -> Position | None:
        return self._current(self.client)[0]

    def score(self, transactions: Transactions) -> OnlineFeatures:
        keys = request_keys(transactions)
        lines = log_rows(transactions)
        with self.client.pipeline() as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(self.position_key)
                    position, generation = self._current(pipe)
                    names = [(family, key) for family, family_keys in keys.items() for key in family_keys]
                    redis_keys = [self._key(generation, family, key) for family, key in names]
                    pipe.watch(*redis_keys)
                    records = {family: {} for family in keys}
                    for (family, key), value in zip(names, pipe.mget(redis_keys), strict=True):
                        if value is not None:
                            records[family][key] = record_from_bytes(value)
                    result = compute(transactions, records, position)
                    if result.late.all():
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.mset(
                        {
                            self._key(generation, family, key): record_bytes(record)
                            for family, by_key in result.records.items()
                            for key, record in by_key.items()
                        }
                    )
                    pipe.rpush(self._log_key(generation), *taken(lines, result))
                    if result.position != position:
                        pipe.set(self.position_key, position_json(result.position, generation=generation))
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise RuntimeError(f"online state: {MAX_ATTEMPTS} attempts lost to concurrent writes of the same keys")

    def rebase(self, stored: FeatureState) -> Position:
        with self.client.pipeline() as pipe:
            for _ in range(MAX_REBASE_ATTEMPTS):
                generation = None
                try:
                    pipe.watch(self.position_key)
                    current, old = self._current(pipe)
                    if not should_rebase(stored, current):
                        pipe.unwatch()
                        return current
                    pipe.watch(self._log_key(old))
                    log = log_frame(pipe.lrange(self._log_key(old), 0, -1)) if current else log_frame([])
                    state, position = rebase(stored, log)
                    generation = uuid.uuid4().hex[:12]
                    self._write_generation(generation, state, log, position)
                    pipe.multi()
                    pipe.set(self.position_key, position_json(position, generation=generation))
                    pipe.execute()
                except redis.WatchError:
                    if generation is not None:
                        self._delete_generation(generation)
                    continue
                if current:
                    self._delete_generation(old)
                return position
        raise RuntimeError(f"online state: the rebase lost {MAX_REBASE_ATTEMPTS} times to concurrent requests")

    def _write_generation(self, generation: str, state: FeatureState, log: pd.DataFrame, position: Position) -> None:
        """Not visible until the position names it, so it need not be atomic."""
        with self.client.pipeline(transaction=False) as writes:
            for family, by_key in split_state(state).items():
                for key, record in by_key.items():
                    writes.set(self._key(generation, family, key), record_bytes(record))
            kept = log if position.landed_step is None else log[log["step"] > position.landed_step]
            if len(kept):
                writes.rpush(self._log_key(generation), *log_rows(kept))
            writes.execute()

    def _delete_generation(self, generation: str) -> None:
        batch = []
        for key in self.client.scan_iter(match=f"{self.prefix}:{generation}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def records(self, family: str, keys: list[str]) -> dict:
        _, generation = self._current(self.client)
        values = self.client.mget([self._key(generation, family, key) for key in keys])
        return {key: record_from_bytes(value) for key, value in zip(keys, values, strict=True) if value is not None}

    def memory_bytes(self) -> int:
        """Bytes Redis uses for the live generation's keys (MEMORY USAGE), for the benchmark."""
        _, generation = self._current(self.client)
        return sum(
            self.client.memory_usage(key) or 0
            for key in self.client.scan_iter(match=f"{self.prefix}:{generation}:*", count=1000)
        )

    def close(self) -> None:
        self.client.close()
