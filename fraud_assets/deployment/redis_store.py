"""The online feature state in Redis, for replicas on several machines (see `state_store`).

Keys, under a prefix: `position` (where the state stands and its generation), and per generation
one string per key record (`<generation>:<family>:<key>`) and the log list (`<generation>:log`).
A request is optimistic: it reads the position and its three records (one MGET), computes,
and hands the writes to a Lua script (`CHECKED_WRITE`) that runs atomically in Redis: it writes only
if the position and the records are still the bytes the request read, and otherwise answers with
the current ones, on which the request computes again; so no update is lost. (WATCH, GET, WATCH,
MGET and MULTI/EXEC took five round trips a request, and the category record every request touches
made a retry of all five common with two workers.) A rebase writes a whole new generation beside
the live one, then switches the position to it in one EXEC that fails (and is redone) if a request
logged a transaction meanwhile; requests in flight then find another position and read the new
generation. The old generation is deleted after the switch.
"""

from __future__ import annotations

import functools
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
from fraud_assets.features.entities import Records, record_bytes, record_from_bytes, split_state
from fraud_assets.features.online import OnlineFeatures, Position, rebase
from fraud_assets.features.state import FeatureState

PREFIX = "fraud-assets:online"
MAX_ATTEMPTS = 1000  # a request retries only when another one wrote the same keys in between
MAX_REBASE_ATTEMPTS = 50
# KEYS: position, log, then the request's records; ARGV: the position and the records as read ('' when
# missing), the records to write ('' to leave one as it is), the new position ('' to keep it), then the
# log lines. Returns 1 when written, else the current position and records.
CHECKED_WRITE = """
local n = #KEYS - 2
local current = {redis.call('GET', KEYS[1]) or ''}
local same = current[1] == ARGV[1]
for i = 1, n do
    current[i + 1] = redis.call('GET', KEYS[i + 2]) or ''
    same = same and current[i + 1] == ARGV[i + 1]
end
if not same then
    return current
end
for i = 1, n do
    if ARGV[n + i + 1] ~= '' then
        redis.call('SET', KEYS[i + 2], ARGV[n + i + 1])
    end
end
if ARGV[2 * n + 2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[2 * n + 2])
end
for first = 2 * n + 3, #ARGV, 1000 do  -- unpack takes a few thousand values at most
    redis.call('RPUSH', KEYS[2], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
return 1
"""


class RedisStateStore(StateStore):
    def __init__(self, url: str, password: str | None = None, prefix: str = PREFIX):
        # One connection, no pool: a worker's requests come one at a time, and taking a pooled connection for
        # each command (with the pool's checks) cost more than the command's own round trip.
        options = {"single_connection_client": True, **({"password": password} if password else {})}
        self.client = redis.Redis.from_url(url, **options)
        self.prefix = prefix
        self.position_key = f"{prefix}:position"
        self._checked_write = self.client.register_script(CHECKED_WRITE)
        self._generation = ""  # the generation the last request found live

    def _key(self, generation: str, family: str, key: str) -> str:
        return f"{self.prefix}:{generation}:{family}:{key}"

    def _log_key(self, generation: str) -> str:
        return f"{self.prefix}:{generation}:log"

    def _current(self, client) -> tuple[Position | None, str]:
        text = client.get(self.position_key)
        return position_of(text), _generation(text)

    def position(self) -> Position | None:
        return self._current(self.client)[0]

    def score(self, transactions: Transactions) -> OnlineFeatures:
        keys = request_keys(transactions)
        lines = log_rows(transactions)
        names = [(family, key) for family, family_keys in keys.items() for key in family_keys]
        text, values, generation = self._read(names, self._generation)
        for _ in range(MAX_ATTEMPTS):
            records: Records = {family: {} for family in keys}
            for (family, key), value in zip(names, values, strict=True):
                if value:
                    records[family][key] = record_from_bytes(value)
            position = position_of(text or None)
            result = compute(transactions, records, position)
            if result.late.all():
                return result
            written = [  # a key only late transactions touched and never seen before stays missing
                record_bytes(record) if (record := result.records.get(family, {}).get(key)) is not None else b""
                for family, key in names
            ]
            new_position = position_json(result.position, generation=generation) if result.position != position else ""
            answer = self._checked_write(
                keys=[self.position_key, self._log_key(generation), *(self._key(generation, *name) for name in names)],
                args=[text, *values, *written, new_position, *taken(lines, result)],
            )
            if answer == 1:
                self._generation = generation
                return result
            if _generation(answer[0]) == generation:  # the same generation: its records as they are now
                text, values = answer[0], answer[1:]
            else:  # a rebase switched the generation in between
                text, values, generation = self._read(names, _generation(answer[0]))
        raise RuntimeError(f"online state: {MAX_ATTEMPTS} attempts lost to concurrent writes of the same keys")

    def _read(self, names: list[tuple[str, str]], generation: str) -> tuple[bytes | str, list[bytes | str], str]:
        """The position and the records of `names` in its generation (b'' when missing), as of one moment (one
        MGET: it cost Redis half the CPU of the Lua script that read them before, and the client less), in one
        round trip when `generation` (the last one seen) is still the live one."""
        while True:
            keys = [self.position_key, *(self._key(generation, *name) for name in names)]
            text, *values = (value or b"" for value in self.client.mget(keys))
            if _generation(text) == generation:
                return text, values, generation
            generation = _generation(text)

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


@functools.lru_cache(maxsize=16)
def _generation(position_text: str | bytes | None) -> str:
    """The generation a position names ('' for none): it changes only at a rebase, so it is parsed once."""
    return json.loads(position_text)["generation"] if position_text else ""
