"""Where state lives on the embedded default: one folder, `FRAUD_ASSETS_HOME` (default ./.fraud_assets).

Every location can be replaced by a URL (s3://, gs://, memory://) through its own setting, so
scaling out changes configuration, not code.
"""

from __future__ import annotations

import os
from pathlib import Path

from upath import UPath


def home() -> Path:
    return Path(os.environ.get("FRAUD_ASSETS_HOME", ".fraud_assets")).expanduser().resolve()


def location(env_var: str, default_subdir: str) -> UPath:
    """A storage location: the URL in `env_var` if set, else a folder under the home."""
    url = os.environ.get(env_var, "").strip()
    return UPath(url) if url else UPath(home() / default_subdir)


def landing() -> UPath:
    return location("FRAUD_LANDING_URL", "warehouse/landing")


def quarantine() -> UPath:
    return location("FRAUD_QUARANTINE_URL", "warehouse/quarantine")


def storage() -> UPath:
    return location("FRAUD_STORAGE_URL", "storage")


def reports() -> UPath:
    return location("FRAUD_REPORTS_URL", "reports")


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster")


def serving_dir() -> Path:
    return home() / "serving"


def state_store_url() -> str:
    """The online feature state's store: empty for SQLite under the serving folder, or a URL
    (sqlite:///PATH, redis://HOST:PORT/DB, rediss://...)."""
    return os.environ.get("FRAUD_STATE_STORE_URL", "").strip()


def state_store_password() -> str | None:
    """The shared store's password, kept out of the URL (on Kubernetes it comes from the Secret)."""
    return os.environ.get("FRAUD_STATE_STORE_PASSWORD") or None
