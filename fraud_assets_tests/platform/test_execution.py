"""The executor follows FRAUD_EXECUTOR, and the per-group pod sizes reach the Kubernetes
Job that dagster-k8s builds for a step (its own parsing and Job construction, no cluster)."""

from __future__ import annotations

import json
import re

import pytest
from dagster import Definitions, asset
from dagster._core.errors import DagsterInvalidConfigError
from dagster_k8s.job import (
    USER_DEFINED_K8S_CONFIG_KEY,
    DagsterK8sJobConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from kubernetes.utils import parse_quantity

from fraud_assets import execution, settings
from fraud_assets.execution import K8S_RESOURCES, executor_for, k8s_op_tags
from fraud_assets.settings import SettingError
from fraud_assets_tests.platform.project import instance_config

EXECUTOR_ENV = "FRAUD_EXECUTOR"


@pytest.mark.parametrize(
    "environ, executor",
    [
        ({}, "in_process"),
        ({EXECUTOR_ENV: ""}, "in_process"),
        ({EXECUTOR_ENV: "in_process"}, "in_process"),
        ({EXECUTOR_ENV: "kubernetes"}, "k8s"),
        ({EXECUTOR_ENV: " Kubernetes\n"}, "k8s"),
    ],
)
def test_the_executor_follows_the_executor_variable(environ, executor):
    @asset
    def numbers():
        return [1, 2]

    defs = Definitions(assets=[numbers], executor=executor_for(settings.load(environ)))

    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == executor


@pytest.mark.parametrize("value", ["k8s", "local", "docker"])
def test_an_unknown_executor_names_the_variable_and_the_choices(value):
    with pytest.raises(SettingError, match=rf"FRAUD_EXECUTOR='{value}': one of in_process, kubernetes"):
        executor_for(settings.load({EXECUTOR_ENV: value}))


def step_job(group: str):
    """The Kubernetes Job dagster-k8s's step handler would create for an asset of `group`."""

    @asset(group_name=group, op_tags=k8s_op_tags(group))
    def sized():
        return 1

    launcher = instance_config()["run_launcher"]["config"]
    job_config = DagsterK8sJobConfig(
        job_image="registry.example.com/fraud-assets:0.1.0",
        dagster_home=launcher["dagster_home"],
        instance_config_map=launcher["instance_config_map"],
        postgres_password_secret=launcher["postgres_password_secret"],
    )
    user_config = get_user_defined_k8s_config(sized.op.tags)
    return construct_dagster_k8s_job(
        job_config,
        ["dagster", "api", "execute_step"],
        f"dagster-step-{group}",
        user_defined_k8s_config=user_config,
        component="step_worker",
    )


@pytest.mark.parametrize("group", sorted(K8S_RESOURCES))
def test_each_group_step_pod_gets_its_size(group):
    (container,) = step_job(group).spec.template.spec.containers
    expected = K8S_RESOURCES[group]["container_config"]["resources"]

    assert container.resources.requests == expected["requests"]
    assert container.resources.limits == expected["limits"]
    env = {e.name: e.value for e in container.env}
    assert int(env["OMP_NUM_THREADS"]) == max(1, int(parse_quantity(expected["requests"]["cpu"])))
    assert env["FRAUD_TRAINING_THREADS"] == env["OMP_NUM_THREADS"]
    assert env["DAGSTER_HOME"] == instance_config()["run_launcher"]["config"]["dagster_home"]


def test_training_gets_more_than_ingest():
    def size(group, kind, resource):
        return parse_quantity(K8S_RESOURCES[group]["container_config"]["resources"][kind][resource])

    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert size("training", kind, resource) > size("ingest", kind, resource), (kind, resource)


@pytest.mark.parametrize("group", sorted(K8S_RESOURCES))
def test_requests_fit_within_limits(group):
    """Kubernetes refuses a pod whose request exceeds its limit."""
    resources = K8S_RESOURCES[group]["container_config"]["resources"]
    for resource in ("cpu", "memory"):
        assert parse_quantity(resources["requests"][resource]) <= parse_quantity(resources["limits"][resource])


def test_the_tag_is_the_one_dagster_k8s_reads():
    assert set(k8s_op_tags("ingest")) == {USER_DEFINED_K8S_CONFIG_KEY}


def test_a_typo_in_the_tag_is_refused_by_dagster_k8s(monkeypatch):
    broken = json.loads(k8s_op_tags("ingest")[USER_DEFINED_K8S_CONFIG_KEY])
    broken["container_config"]["resources"]["request"] = broken["container_config"]["resources"].pop("requests")
    monkeypatch.setitem(execution.K8S_RESOURCES, "ingest", broken)
    with pytest.raises(
        Exception, match=re.escape("Unexpected keys in model class V1ResourceRequirements: {'request'}")
    ):
        get_user_defined_k8s_config(k8s_op_tags("ingest"))
    monkeypatch.setitem(execution.K8S_RESOURCES, "ingest", {"container_configs": {}})
    with pytest.raises(DagsterInvalidConfigError, match="dagster-k8s/config"):
        get_user_defined_k8s_config(k8s_op_tags("ingest"))


def test_an_unknown_group_names_the_known_ones():
    with pytest.raises(
        KeyError, match=r"asset group 'scoring' has no Kubernetes pod size; known groups: \['deployment'"
    ):
        k8s_op_tags("scoring")


def test_every_group_in_the_definitions_has_a_pod_size():
    from fraud_assets.definitions import defs

    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups - set(K8S_RESOURCES) == set(), "a new asset group needs an entry in K8S_RESOURCES"


def test_the_definitions_use_the_executor_and_the_pod_sizes(monkeypatch):
    from fraud_assets.definitions import defs

    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:
            continue  # drift_reference: recorded by the accept_drift job, whose op carries the same tags
        for key in assets_def.keys:
            group = assets_def.specs_by_key[key].group_name
            assert get_user_defined_k8s_config(assets_def.op.tags) == get_user_defined_k8s_config(k8s_op_tags(group))
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
