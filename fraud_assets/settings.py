"""The one reader of the environment: every variable fraud-assets reads, typed, with its default and
what it accepts, validated together when the definitions load (`load()`), so a bad value stops the
code location with the variable named instead of failing a run later.

State lives under `FRAUD_ASSETS_HOME` (default ./.fraud_assets) on the embedded default; every
location can be replaced by a URL (s3://, gs://, memory://) through its own variable, so scaling
out changes configuration, not code. Light to import (no Dagster, no MLflow): the Seldon server
process reads its settings here too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upath import UPath


class SettingError(ValueError):
    """Variables whose values their settings do not accept; the message names each and what it accepts."""


@dataclass(frozen=True)
class Kind:
    """How a variable's text becomes a value; `parse` raises ValueError for text it does not accept."""

    accepts: str
    parse: Callable[[str], Any]


def _text(text: str) -> str:
    return text


def _whole(low: int, high: int | None = None) -> Kind:
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or int(text) < low or (high is not None and int(text) > high):
            raise ValueError(text)
        return int(text)

    return Kind(f"a whole number {low}-{high}" if high is not None else f"a whole number >= {low}", parse)


def _number(low: float | None = None, high: float | None = None, low_open: bool = False) -> Kind:
    def parse(text: str) -> float:
        value = float(text)  # ValueError for text that is no number
        if (
            not math.isfinite(value)
            or (low is not None and (value <= low if low_open else value < low))
            or (high is not None and value > high)
        ):
            raise ValueError(text)
        return value

    if low is None:
        accepts = "a finite number"
    elif high is None:
        accepts = f"a number {'above' if low_open else 'of at least'} {low:g}"
    else:
        accepts = f"a number {'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}"
    return Kind(accepts, parse)


def _choice(*names: str) -> Kind:
    """Matched regardless of case; the value is the spelling given here."""

    def parse(text: str) -> str:
        for name in names:
            if text.lower() == name.lower():
                return name
        raise ValueError(text)

    return Kind("one of " + ", ".join(names), parse)


def _switch(text: str) -> bool:
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(text)


def _window(text: str) -> int | None:
    """`all` (None: every step before validation) or the number of latest training steps."""
    if text.lower() == "all":
        return None
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 2:
        raise ValueError(text)
    return int(text)


def _pattern(accepts: str, regex: str) -> Kind:
    def parse(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise ValueError(text)
        return text

    return Kind(accepts, parse)


_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"


def _uri(text: str) -> str:
    """A path, or scheme:... (sqlite:///, http://, models:/ ...) with a well-formed scheme."""
    if "://" in text and not re.fullmatch(_SCHEME, text.split("://", 1)[0]):
        raise ValueError(text)
    return text


def _fsspec_location(text: str) -> str:
    """A folder path, or a URL whose protocol fsspec knows (its driver may still need installing)."""
    if "://" in text:
        import fsspec  # only when a URL is set: ~0.1 s

        protocol = text.split("://", 1)[0]
        if protocol not in fsspec.available_protocols():
            raise ValueError(text)
    return text


def _http_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^/\s:]+(:[0-9]+)?(/\S*)?", text):
        raise ValueError(text)
    return text


TEXT = Kind("any text", _text)
PATH = Kind("a path", lambda text: Path(text).expanduser())
SWITCH = Kind("on or off (also true/false, yes/no, 1/0)", _switch)
URI = Kind("a path or a URI scheme://...", _uri)
LOCATION = Kind("a folder path or a URL with a protocol fsspec knows (file, memory, s3, gs, ...)", _fsspec_location)
HTTP_URL = Kind("an http:// or https:// URL", _http_url)
SHARE = _number(0, 1)
WINDOW = Kind("`all` or a whole number >= 2 (the latest N steps before validation)", _window)
CRON = _pattern("a cron schedule of five fields, e.g. '*/5 * * * *'", r"\s*[\w*,/-]+(\s+[\w*,/-]+){4}\s*")
QUANTITY = _pattern("a Kubernetes quantity, e.g. 500m, 2, 512Mi, 1Gi", r"[0-9]+(\.[0-9]+)?([mkMGTPE]|[KMGTPE]i)?")
K8S_NAME = _pattern(
    "a Kubernetes name: lower-case letters, digits and '-', at most 63", r"(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"
)
K8S_SECRET = _pattern(
    "a Kubernetes Secret name: lower-case letters, digits, '-' and '.'", r"(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
)


def _setting(variable: str, default: Any, kind: Kind, what: str, unset: str | None = None) -> Any:
    """One variable: its name, default, kind and meaning; `unset` says what an unset variable with
    no default (None) means."""
    return field(default=default, metadata={"variable": variable, "kind": kind, "what": what, "unset": unset})


@dataclass(frozen=True)
class Settings:
    # where state lives
    home: Path = _setting("FRAUD_ASSETS_HOME", Path(".fraud_assets"), PATH, "all local state (see above)")
    dagster_home: Path | None = _setting("DAGSTER_HOME", None, PATH, "the Dagster instance", "`<home>/dagster`")
    landing_url: str | None = _setting(
        "FRAUD_LANDING_URL", None, LOCATION, "landed files", "`<home>/warehouse/landing`"
    )
    quarantine_url: str | None = _setting(
        "FRAUD_QUARANTINE_URL", None, LOCATION, "rejected files", "`<home>/warehouse/quarantine`"
    )
    storage_url: str | None = _setting("FRAUD_STORAGE_URL", None, LOCATION, "stored assets", "`<home>/storage`")
    reports_url: str | None = _setting(
        "FRAUD_REPORTS_URL", None, LOCATION, "drift and evaluation reports", "`<home>/reports`"
    )
    mlflow_tracking_uri: str | None = _setting(
        "MLFLOW_TRACKING_URI",
        None,
        URI,
        "MLflow store, e.g. an MLflow server `http://mlflow:5000` (its artifacts stay in the server's store)",
        "`sqlite:///<home>/mlflow/mlflow.db`",
    )
    mlflow_artifacts_url: str | None = _setting(
        "FRAUD_MLFLOW_ARTIFACTS_URL",
        None,
        URI,
        "artifact location for new experiments",
        "local store: `<home>/mlflow/artifacts`; server: the server's",
    )
    # gates (the original pipeline's bounds)
    min_roc_auc: float = _setting("FRAUD_MIN_ROC_AUC", 0.8, SHARE, "metric gate: lowest ROC AUC deployed")
    min_pr_auc: float = _setting("FRAUD_MIN_PR_AUC", 0.8, SHARE, "metric gate: lowest PR AUC deployed")
    min_f1: float = _setting("FRAUD_MIN_F1", 0.8, SHARE, "metric gate: lowest F1 deployed")
    max_brier: float = _setting("FRAUD_MAX_BRIER", 0.05, SHARE, "metric gate: highest Brier score deployed")
    champion_pr_auc_margin: float = _setting(
        "FRAUD_CHAMPION_PR_AUC_MARGIN", 0.01, SHARE, "champion gate: how much lower than the champion's PR AUC passes"
    )
    max_drift_share: float = _setting(
        "FRAUD_MAX_DRIFT_SHARE",
        0.5,
        _number(0, 1, low_open=True),
        "drift gate: data drift when this share of feature columns or more drifted (Evidently's dataset rule)",
    )
    # training (`benchmarks/bench_training.py` chose the defaults; `benchmarks/bench_scale.py` the settings at 10x)
    # The window: all history. One fit on all 144 training steps at 180 days keeps validation PR AUC within 0.005 of
    # the two fits before issue 12 (-0.0026 stable, -0.0043 drifting); the latest 60 steps, in less than half the
    # CPU, did not (-0.0060, -0.0059). A bank with years of history sets N (`benchmarks/bench_training.py`).
    training_window: int | None = _setting(
        "FRAUD_TRAINING_WINDOW",
        None,
        WINDOW,
        "how much history trains the model: all of it, or the latest N steps before the validation window",
        "`all`",
    )
    legit_sample_rate: float = _setting(
        "FRAUD_LEGIT_SAMPLE_RATE",
        1.0,
        _number(0, 1, low_open=True),
        "share of legitimate fit-window rows the model fits on, each weighted 1 / rate (every fraud kept; 1: all)",
    )
    # Two: this machine's cores, and the training pods' CPU request. With OpenMP's waiting threads asleep
    # (`fraud_assets/__init__.py`), two fit threads were faster than one alone and beside other busy processes.
    training_threads: int = _setting(
        "FRAUD_TRAINING_THREADS",
        2,
        _whole(1, 256),
        "OpenMP threads of the model's fit (scoring uses every core; on Kubernetes: the training pod's CPUs)",
    )
    # simulated days
    simulation_scale: int = _setting(
        "FRAUD_SIMULATION_SCALE",
        1,
        _whole(1, 100),
        "simulated days landed at K times BankSim: K times the customers and the merchants' volume (`make run`, "
        "`fraud-assets land`)",
    )
    # automation
    retrain_cron: str = _setting("FRAUD_RETRAIN_CRON", "* * * * *", CRON, "at most one retrain per cron interval")
    automation: bool = _setting(
        "FRAUD_AUTOMATION", True, SWITCH, "`off`: only the landing sensor runs; materialize the rest by hand"
    )
    # where things run
    executor: str = _setting(
        "FRAUD_EXECUTOR",
        "in_process",
        _choice("in_process", "kubernetes"),
        "where asset steps run: in the run's process, or one Kubernetes pod per step",
    )
    deploy_target: str = _setting(
        "FRAUD_DEPLOY_TARGET",
        "local",
        _choice("local", "kubernetes"),
        "where the model serves: a local Seldon server, or a SeldonDeployment",
    )
    deploy_port: int = _setting("FRAUD_DEPLOY_PORT", 9000, _whole(1, 65535), "local target: the stable URL's port")
    deploy_workers: int = _setting("FRAUD_DEPLOY_WORKERS", 2, _whole(1), "local target: server worker processes")
    # the kubernetes target (fields of deployment.kubernetes.KubernetesSettings, by name after `k8s_`)
    k8s_namespace: str = _setting(
        "FRAUD_K8S_NAMESPACE", "fraud-assets", K8S_NAME, "kubernetes target: namespace of the SeldonDeployment"
    )
    k8s_deployment_name: str = _setting(
        "FRAUD_K8S_DEPLOYMENT_NAME", "fraud-model", K8S_NAME, "kubernetes target: name of the SeldonDeployment"
    )
    k8s_image: str = _setting(
        "FRAUD_K8S_IMAGE",
        "fraud-assets-model:0.1.0",
        TEXT,
        "kubernetes target: the model server image (the Dockerfile's `model` target)",
    )
    k8s_image_pull_policy: str = _setting(
        "FRAUD_K8S_IMAGE_PULL_POLICY",
        "IfNotPresent",
        _choice("Always", "IfNotPresent", "Never"),
        "kubernetes target: pull policy",
    )
    k8s_replicas: int = _setting("FRAUD_K8S_REPLICAS", 2, _whole(1), "kubernetes target: model server pods")
    k8s_workers: int = _setting(
        "FRAUD_K8S_WORKERS", 1, _whole(1), "kubernetes target: server workers per pod (scale out with replicas)"
    )
    k8s_cpu_request: str = _setting("FRAUD_K8S_CPU_REQUEST", "500m", QUANTITY, "kubernetes target: CPU per pod")
    k8s_cpu_limit: str = _setting("FRAUD_K8S_CPU_LIMIT", "1", QUANTITY, "kubernetes target: CPU limit per pod")
    k8s_memory_request: str = _setting(
        "FRAUD_K8S_MEMORY_REQUEST", "512Mi", QUANTITY, "kubernetes target: memory per pod"
    )
    k8s_memory_limit: str = _setting(
        "FRAUD_K8S_MEMORY_LIMIT", "1Gi", QUANTITY, "kubernetes target: memory limit per pod"
    )
    k8s_artifact_secret: str | None = _setting(
        "FRAUD_K8S_ARTIFACT_SECRET",
        None,
        K8S_SECRET,
        "kubernetes target: Secret with the artifact store's credentials, given to the pods",
        "unset: none",
    )
    k8s_mlflow_tracking_uri: str | None = _setting(
        "FRAUD_K8S_MLFLOW_TRACKING_URI",
        None,
        URI,
        "kubernetes target: MLflow as the pods reach it (needed for runs:/ and models:/ artifact URIs)",
        "unset: none",
    )
    k8s_ingress_url: str | None = _setting(
        "FRAUD_K8S_INGRESS_URL",
        None,
        HTTP_URL,
        "kubernetes target: ingress base URL; adds the gateway URL",
        "unset: none",
    )
    k8s_wait_timeout_s: float = _setting(
        "FRAUD_K8S_WAIT_TIMEOUT_S",
        600.0,
        _number(0, low_open=True),
        "kubernetes target: seconds to wait until Seldon reports it Available",
    )
    # the online feature state of raw-transaction scoring (deployment/state_backends.py)
    state_store_url: str | None = _setting(
        "FRAUD_STATE_STORE_URL",
        None,
        URI,
        "the online feature state: `sqlite:///PATH` or `redis://host:port/db`",
        "unset: SQLite in `<home>/serving/`",
    )
    state_store_password: str | None = _setting(
        "FRAUD_STATE_STORE_PASSWORD",
        None,
        TEXT,
        "the shared store's password, kept out of the URL (on Kubernetes from the Secret)",
        "unset: none",
    )
    # the model server process (set by the local target, or in the model image)
    serving_host: str = _setting(
        "FRAUD_SERVING_HOST",
        "127.0.0.1",
        TEXT,
        "local model server: the address it binds (a pod runs Seldon's own entry point, on 0.0.0.0)",
    )
    model_dir: str | None = _setting(
        "FRAUD_MODEL_DIR", None, TEXT, "model server: the model directory or artifact URI", "unset: a Seldon parameter"
    )
    model_sha256: str | None = _setting(
        "FRAUD_MODEL_SHA256",
        None,
        TEXT,
        "model server: the registered SHA-256 of the model folder's manifest",
        "unset: a Seldon parameter",
    )
    model_name: str | None = _setting(
        "FRAUD_MODEL_NAME", None, TEXT, "model server: registered model name", "unset: a Seldon parameter"
    )
    model_version: str | None = _setting(
        "FRAUD_MODEL_VERSION", None, TEXT, "model server: registered version", "unset: a Seldon parameter"
    )
    # the pages a person opens (`fraud-assets dev` sets the URLs of the ones it starts; fraud_assets/links.py)
    dagster_url: str = _setting(
        "FRAUD_DAGSTER_URL",
        "http://127.0.0.1:3000",
        HTTP_URL,
        "the Dagster UI as a person reaches it: MLflow runs link back to their Dagster run there",
    )
    mlflow_ui_url: str | None = _setting(
        "FRAUD_MLFLOW_UI_URL",
        None,
        HTTP_URL,
        "the MLflow UI the Dagster metadata links to",
        "unset: `MLFLOW_TRACKING_URI` when it is a server, else no links (`make run` sets its own UI's)",
    )
    scoring_page_url: str | None = _setting(
        "FRAUD_SCORING_PAGE_URL",
        None,
        HTTP_URL,
        "the scoring page the deployment's metadata links to",
        "unset: no link (`make run` sets its own page's)",
    )
    # set by Kubernetes or by the user for the Kubernetes client
    kubernetes_service_host: str | None = _setting(
        "KUBERNETES_SERVICE_HOST",
        None,
        TEXT,
        "set by Kubernetes inside a pod: use the pod's service account",
        "unset: outside a cluster",
    )
    kubeconfig: str | None = _setting(
        "KUBECONFIG", None, TEXT, "the Kubernetes client's configuration", "`~/.kube/config`"
    )

    def section(self, prefix: str) -> dict[str, Any]:
        """The settings named `<prefix>_*`, by the rest of their names: `section("k8s")["namespace"]`."""
        return {
            f.name.removeprefix(f"{prefix}_"): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.startswith(f"{prefix}_")
        }


DEFAULTS = Settings()
VARIABLES: dict[str, dataclasses.Field] = {f.metadata["variable"]: f for f in dataclasses.fields(Settings)}


def documented_default(variable: str) -> str:
    """The default as the README's Settings table shows it."""
    setting = VARIABLES[variable]
    if setting.default is None:
        return setting.metadata["unset"]
    if isinstance(setting.default, bool):
        return "`on`" if setting.default else "`off`"
    return f"`{setting.default:g}`" if isinstance(setting.default, float) else f"`{setting.default}`"


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting from `environ` (default: this process's environment), all checked at once.

    Unset and empty variables take their defaults. Raises SettingError naming every bad variable.
    """
    if environ is None:
        return _load(tuple(os.environ.get(variable) for variable in VARIABLES))
    return _load(tuple(environ.get(variable) for variable in VARIABLES))


@functools.lru_cache(maxsize=8)
def _load(values: tuple[str | None, ...]) -> Settings:
    parsed, problems = {}, []
    for (variable, setting), value in zip(VARIABLES.items(), values, strict=True):
        text = (value or "").strip()
        if not text:
            continue
        try:
            parsed[setting.name] = setting.metadata["kind"].parse(text)
        except ValueError:
            problems.append(f"{variable}={text!r}: {setting.metadata['kind'].accepts}")
    if problems:
        raise SettingError("bad settings in the environment:\n  " + "\n  ".join(problems))
    return Settings(**parsed)


def child_environment(updates: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment for a child process, with `updates` added and `drop` left out."""
    dropped = set(drop)
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **(updates or {})}


def home() -> Path:
    return load().home.resolve()


def _location(url: str | None, default_subdir: str) -> UPath:
    return UPath(url) if url else UPath(home() / default_subdir)


def landing() -> UPath:
    return _location(load().landing_url, "warehouse/landing")


def quarantine() -> UPath:
    return _location(load().quarantine_url, "warehouse/quarantine")


def storage() -> UPath:
    return _location(load().storage_url, "storage")


def reports() -> UPath:
    return _location(load().reports_url, "reports")


def dagster_home() -> Path:
    return load().dagster_home or home() / "dagster"


def serving_dir() -> Path:
    return home() / "serving"


def state_store_url() -> str:
    """The online feature state's store: empty for SQLite under the serving folder, or a URL
    (sqlite:///PATH, redis://HOST:PORT/DB, rediss://...)."""
    return load().state_store_url or ""


def state_store_password() -> str | None:
    """The shared store's password, kept out of the URL (on Kubernetes it comes from the Secret)."""
    return load().state_store_password


def dagster_url() -> str:
    return load().dagster_url.rstrip("/")


def mlflow_ui_url() -> str | None:
    """FRAUD_MLFLOW_UI_URL, else the tracking server's own UI when MLFLOW_TRACKING_URI is one."""
    current = load()
    url = current.mlflow_ui_url or (current.mlflow_tracking_uri if _is_http(current.mlflow_tracking_uri) else None)
    return url.rstrip("/") if url else None


def scoring_page_url() -> str | None:
    url = load().scoring_page_url
    return url.rstrip("/") if url else None


def _is_http(uri: str | None) -> bool:
    return uri is not None and uri.startswith(("http://", "https://"))
