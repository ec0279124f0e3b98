"""Which online state store a URL names: a module of its own, since both stores import `state_store`.

(empty)              SQLite in `<serving dir>/online_state.sqlite`: no extra service; one writer at a
                     time (`BEGIN IMMEDIATE`), for the workers of one machine
sqlite:///PATH       the same at PATH
redis://, rediss://  Redis (`redis_store.RedisStateStore`), for replicas on several machines
"""

from __future__ import annotations

from pathlib import Path

from fraud_assets import settings
from fraud_assets.deployment.state_store import SqliteStateStore, StateStore

SQLITE_FILE = "online_state.sqlite"


def open_store(url: str | None = None) -> StateStore:
    """The store at `url` (default: the state store setting)."""
    url = settings.state_store_url() if url is None else url
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Imported here so that the redis client is needed only where Redis holds the state.
        from fraud_assets.deployment.redis_store import RedisStateStore

        return RedisStateStore(url, settings.state_store_password())
    if not url:
        return SqliteStateStore(settings.serving_dir() / SQLITE_FILE)
    if url.startswith("sqlite:///"):
        return SqliteStateStore(Path(url.removeprefix("sqlite://")))
    raise ValueError(f"state store URL {url!r}: expected sqlite:///PATH, redis://HOST:PORT/DB or rediss://...")
