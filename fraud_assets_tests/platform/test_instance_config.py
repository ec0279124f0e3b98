"""deploy/dagster.yaml passes Dagster's own validation, each pluggable class's config included,
and everything it names (variables, ConfigMaps, Secrets) exists in deploy/k8s."""

from __future__ import annotations

import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer

from fraud_assets_tests.platform.project import INSTANCE_YAML, env_references, instance_config, objects_of_kind

PLUGGABLE = ("run_launcher", "run_coordinator", "compute_logs")
# Provided to every pod by the `postgres_password_secret` Secret, not by the ConfigMap.
PASSWORD_VARIABLE = "DAGSTER_PG_PASSWORD"


def cluster_environment() -> dict[str, str]:
    """What a pod sees: the ConfigMap's variables and the Postgres password."""
    return {**objects_of_kind("ConfigMap")["fraud-assets-env"]["data"], PASSWORD_VARIABLE: "<postgres-password>"}


def load_instance_config(folder) -> dict:
    """The instance file checked the way Dagster loads it, plus the configs of the classes it names
    (Dagster checks those only when it builds them, which needs a cluster for the run launcher)."""
    config, _ = dagster_instance_config(str(folder))
    for section in PLUGGABLE:
        if section in config:
            # As ConfigurableClassData.rehydrate does it, short of building the object.
            data = ConfigurableClassData(
                config[section]["module"], config[section]["class"], yaml.safe_dump(config[section].get("config") or {})
            )
            klass = class_from_code_pointer(data.module_name, data.class_name)
            result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
            if not result.success:
                raise DagsterInvalidConfigError(
                    f"{section} ({klass.__name__}) config in {folder}", result.errors, data.config_dict
                )
            config = {**config, section: {**config[section], "config": result.value}}
    return config


def test_instance_file_is_valid_with_the_cluster_environment(monkeypatch):
    for name, value in cluster_environment().items():
        monkeypatch.setenv(name, value)
    config = load_instance_config(INSTANCE_YAML.parent)
    launcher = config["run_launcher"]["config"]
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert launcher["job_namespace"] == cluster_environment()["DAGSTER_K8S_NAMESPACE"]
    assert set(config["storage"]) == {"postgres"}


def test_every_variable_it_reads_is_provided():
    missing = env_references(instance_config()) - set(cluster_environment())
    assert not missing, f"deploy/dagster.yaml reads {sorted(missing)}, which deploy/k8s does not provide"


def test_every_configmap_and_secret_it_names_exists():
    launcher = instance_config()["run_launcher"]["config"]
    config_maps, secrets = objects_of_kind("ConfigMap"), objects_of_kind("Secret")
    assert set(launcher["env_config_maps"]) <= set(config_maps)
    assert set(launcher["env_secrets"]) <= set(secrets)
    assert "postgresql-password" in secrets[launcher["postgres_password_secret"]]["stringData"]


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda c: c.update(storge=c.pop("storage")), 'unexpected config entry "storge"'),
        (lambda c: c["run_launcher"]["config"].update(job_namspace="x"), 'unexpected config entry "job_namspace"'),
        (lambda c: c["run_launcher"]["config"].update(env_config_maps="fraud-assets-env"), "env_config_maps"),
        (lambda c: c["storage"]["postgres"]["postgres_db"].pop("hostname"), 'missing required config entry "hostname"'),
        (lambda c: c["run_coordinator"]["config"].update(max_concurrent_runs="four"), "max_concurrent_runs"),
    ],
)
def test_a_typo_or_a_wrong_type_fails_the_check(mutate, problem, tmp_path, monkeypatch):
    for name, value in cluster_environment().items():
        monkeypatch.setenv(name, value)
    config = instance_config()
    mutate(config)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DagsterInvalidConfigError) as raised:
        load_instance_config(tmp_path)
    assert problem.lower() in " ".join(e.message for e in raised.value.errors).lower()
