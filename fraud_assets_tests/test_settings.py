"""fraud_assets.settings: the one reader of the environment, its checks, and the README table that documents it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_assets import settings
from fraud_assets.settings import DEFAULTS, SettingError

ROOT = Path(__file__).resolve().parents[1]


def test_unset_and_empty_variables_take_the_defaults():
    assert settings.load({}) == DEFAULTS
    assert settings.load({variable: " " for variable in settings.VARIABLES}) == DEFAULTS


def test_values_are_typed():
    current = settings.load(
        {
            "FRAUD_DEPLOY_PORT": " 9100 ",
            "FRAUD_MIN_F1": "0.9",
            "FRAUD_AUTOMATION": "OFF",
            "FRAUD_EXECUTOR": "Kubernetes",
            "FRAUD_LANDING_URL": "memory://bank/landing",
        }
    )
    assert (current.deploy_port, current.min_f1, current.automation) == (9100, 0.9, False)
    assert (current.executor, current.landing_url) == ("kubernetes", "memory://bank/landing")


@pytest.mark.parametrize(
    "variable, value, accepts",
    [
        ("FRAUD_DEPLOY_PORT", "abc", "a whole number 1-65535"),
        ("FRAUD_DEPLOY_PORT", "70000", "a whole number 1-65535"),
        ("FRAUD_DEPLOY_WORKERS", "0", "a whole number >= 1"),
        ("FRAUD_K8S_WAIT_TIMEOUT_S", "soon", "a number above 0"),
        ("FRAUD_K8S_WAIT_TIMEOUT_S", "inf", "a number above 0"),
        ("FRAUD_MIN_ROC_AUC", "1.5", "a number from 0 to 1"),
        ("FRAUD_MAX_DRIFT_SHARE", "0", "a number above 0 and at most 1"),
        ("FRAUD_AUTOMATION", "maybe", "on or off"),
        ("FRAUD_DEPLOY_TARGET", "docker", "one of local, kubernetes"),
        ("FRAUD_EXECUTOR", "k8s", "one of in_process, kubernetes"),
        ("FRAUD_RETRAIN_CRON", "every minute", "a cron schedule of five fields"),
        ("FRAUD_K8S_CPU_REQUEST", "half", "a Kubernetes quantity"),
        ("FRAUD_K8S_NAMESPACE", "Fraud_Assets", "a Kubernetes name"),
        ("FRAUD_K8S_INGRESS_URL", "ambassador.example", "an http:// or https:// URL"),
        ("FRAUD_LANDING_URL", "s4://bank/landing", "a folder path or a URL with a protocol fsspec knows"),
        ("MLFLOW_TRACKING_URI", "http//mlflow://x", "a path or a URI scheme://"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(variable, value, accepts):
    with pytest.raises(SettingError, match=re.escape(f"{variable}={value!r}: {accepts}")):
        settings.load({variable: value})


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingError) as error:
        settings.load({"FRAUD_DEPLOY_PORT": "abc", "FRAUD_MIN_F1": "high"})
    assert "FRAUD_DEPLOY_PORT='abc'" in str(error.value) and "FRAUD_MIN_F1='high'" in str(error.value)


def test_the_accessors_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(tmp_path))
    monkeypatch.delenv("FRAUD_STORAGE_URL", raising=False)
    monkeypatch.setenv("FRAUD_LANDING_URL", "memory://bank/landing")
    assert settings.home() == tmp_path.resolve() and settings.storage().path == str(tmp_path / "storage")
    assert str(settings.landing()) == "memory://bank/landing"
    monkeypatch.setenv("FRAUD_ASSETS_HOME", str(tmp_path / "other"))
    assert settings.serving_dir() == tmp_path.resolve() / "other" / "serving"


def test_child_environment_passes_the_environment_on(monkeypatch):
    monkeypatch.setenv("FRAUD_TEST_PASSED_ON", "yes")
    monkeypatch.setenv("PREDICTIVE_UNIT_PARAMETERS", "[]")
    env = settings.child_environment({"OMP_NUM_THREADS": "1"}, drop=["PREDICTIVE_UNIT_PARAMETERS"])
    assert env["FRAUD_TEST_PASSED_ON"] == "yes" and env["OMP_NUM_THREADS"] == "1"
    assert "PREDICTIVE_UNIT_PARAMETERS" not in env


@pytest.mark.parametrize(
    "variable, value, accepts",
    [
        ("FRAUD_DEPLOY_PORT", "abc", "a whole number 1-65535"),  # int
        ("FRAUD_K8S_WAIT_TIMEOUT_S", "soon", "a number above 0"),  # float
        ("FRAUD_MIN_F1", "1.2", "a number from 0 to 1"),  # bound
        ("FRAUD_DEPLOY_TARGET", "docker", "one of local, kubernetes"),  # enum
        ("FRAUD_K8S_INGRESS_URL", "ftp://ingress", "an http:// or https:// URL"),  # URL
    ],
)
def test_a_bad_value_stops_the_definitions_loading(variable, value, accepts):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), variable: value}
    loaded = subprocess.run(
        [sys.executable, "-c", "import fraud_assets.definitions"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode != 0
    assert f"SettingError: bad settings in the environment:\n  {variable}={value!r}: {accepts}" in loaded.stderr


def test_the_server_process_reads_settings_without_dagster_or_mlflow():
    code = (
        "import sys, fraud_assets.settings as s; s.load(); "
        "assert not {'dagster', 'mlflow'} & set(sys.modules), 'settings imported dagster or mlflow'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


ENVIRONMENT_READ = re.compile(r"os\.getenv|os\.environ(?!\.setdefault|\[[^\]]+\]\s*=[^=])")


def test_settings_is_the_only_reader_of_the_environment():
    """Writing defaults for libraries (os.environ.setdefault, os.environ[...] = ...) is not reading."""
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "fraud_assets").rglob("*.py")
        if ENVIRONMENT_READ.search(path.read_text())
    )
    assert set(readers) == {"fraud_assets/settings.py"}


def readme_settings_table() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Settings\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (.+?) \| .+ \|$", section, flags=re.MULTILINE)
    assert len(rows) == len(dict(rows)), "a variable is documented twice"
    return dict(rows)


def test_the_readme_documents_every_setting_and_nothing_else():
    documented = readme_settings_table()
    assert sorted(set(settings.VARIABLES) - set(documented)) == [], "undocumented in README's Settings table"
    assert sorted(set(documented) - set(settings.VARIABLES)) == [], "documented but not in settings.py"
    wrong = {
        v: (documented[v], settings.documented_default(v))
        for v in settings.VARIABLES
        if documented[v] != settings.documented_default(v)
    }
    assert not wrong, f"README default differs from settings.py (README, settings): {wrong}"
