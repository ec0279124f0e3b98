"""deploy/helm/values.yaml uses only keys the official Dagster chart reads, with the right types,
and agrees with the image, the instance file and deploy/k8s.

The chart cannot be downloaded here, so the schema below restates, for the sections this project
sets, the chart's own schema (helm/dagster/schema in dagster-io/dagster: DagsterHelmValues,
UserDeployment, K8sRunLauncherConfig, Daemon, QueuedRunCoordinatorConfig), closed so that a
misspelt key (which Helm would silently ignore) fails. Kubernetes-typed values (resources, env
sources, security contexts) are checked with the Kubernetes API's models.
"""

from __future__ import annotations

import copy
import re

import jsonschema
import pytest
from dagster._core.instance.config import dagster_instance_config_schema
from kubernetes import client

from fraud_assets_tests.platform import dockerfile
from fraud_assets_tests.platform.kube import InvalidObject, parse_as
from fraud_assets_tests.platform.project import DOCKERFILE, helm_values, instance_config, objects_of_kind, pyproject

STRING, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
OPEN = {"type": "object"}  # chart sections this project leaves at their defaults


def closed(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def k8s(model: type) -> dict:
    return {"k8sModel": model}


def k8s_list(model: type) -> dict:
    return {"type": "array", "items": k8s(model)}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


IMAGE = closed(
    {"repository": STRING, "tag": STRING, "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}},
    required=("repository", "tag", "pullPolicy"),
)
PROBE = k8s(client.V1Probe)
USER_DEPLOYMENT = closed(
    {
        "name": STRING,
        "image": IMAGE,
        "port": INT,
        "dagsterApiGrpcArgs": {"type": "array", "items": STRING},
        "codeServerArgs": {"type": "array", "items": STRING},
        "includeConfigInLaunchedRuns": closed({"enabled": BOOL}),
        "env": {"oneOf": [{"type": "object", "additionalProperties": STRING}, k8s_list(client.V1EnvVar)]},
        "envConfigMaps": k8s_list(client.V1ConfigMapEnvSource),
        "envSecrets": k8s_list(client.V1SecretEnvSource),
        "annotations": {"type": "object", "additionalProperties": STRING},
        "labels": {"type": "object", "additionalProperties": STRING},
        "nodeSelector": {"type": "object", "additionalProperties": STRING},
        "affinity": k8s(client.V1Affinity),
        "tolerations": k8s_list(client.V1Toleration),
        "podSecurityContext": k8s(client.V1PodSecurityContext),
        "securityContext": k8s(client.V1SecurityContext),
        "resources": k8s(client.V1ResourceRequirements),
        "livenessProbe": PROBE,
        "readinessProbe": OPEN,
        "startupProbe": OPEN,
        "volumeMounts": k8s_list(client.V1VolumeMount),
        "volumes": k8s_list(client.V1Volume),
        "schedulerName": STRING,
        "initContainers": k8s_list(client.V1Container),
        "sidecarContainers": k8s_list(client.V1Container),
        "service": OPEN,
        "deploymentStrategy": OPEN,
    },
    required=("name", "image", "port"),
)
K8S_RUN_LAUNCHER = closed(
    {
        "image": IMAGE,
        "imagePullPolicy": STRING,
        "jobNamespace": STRING,
        "loadInclusterConfig": BOOL,
        "kubeconfigFile": STRING,
        "envConfigMaps": k8s_list(client.V1ConfigMapEnvSource),
        "envSecrets": k8s_list(client.V1SecretEnvSource),
        "envVars": {"type": "array", "items": STRING},
        "volumeMounts": k8s_list(client.V1VolumeMount),
        "volumes": k8s_list(client.V1Volume),
        "labels": {"type": "object", "additionalProperties": STRING},
        "failPodOnRunFailure": BOOL,
        "resources": k8s(client.V1ResourceRequirements),
        "schedulerName": STRING,
        "securityContext": k8s(client.V1SecurityContext),
        "runK8sConfig": OPEN,
    }
)
RUN_MONITORING_KEYS = [camel(k) for k in dagster_instance_config_schema()["run_monitoring"].config_type.fields]
DAEMON = closed(
    {
        "enabled": BOOL,
        "image": IMAGE,
        "heartbeatTolerance": INT,
        "runCoordinator": closed(
            {
                "enabled": BOOL,
                "type": {"enum": ["QueuedRunCoordinator", "CustomRunCoordinator"]},
                "config": closed(
                    {
                        "queuedRunCoordinator": closed(
                            {
                                "maxConcurrentRuns": INT,
                                "tagConcurrencyLimits": {"type": "array"},
                                "dequeueIntervalSeconds": INT,
                                "dequeueNumWorkers": INT,
                                "dequeueUseThreads": BOOL,
                            }
                        ),
                        "customRunCoordinator": OPEN,
                    }
                ),
            }
        ),
        # Dagster's own run_monitoring settings, camel-cased by the chart.
        "runMonitoring": closed({k: (BOOL if k == "enabled" else INT) for k in RUN_MONITORING_KEYS}),
        **{
            k: OPEN
            for k in (
                "env",
                "envConfigMaps",
                "envSecrets",
                "deploymentLabels",
                "labels",
                "nodeSelector",
                "affinity",
                "tolerations",
                "podSecurityContext",
                "securityContext",
                "resources",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
                "annotations",
                "runRetries",
                "sensors",
                "schedules",
                "schedulerName",
                "volumeMounts",
                "volumes",
            )
        },
    }
)
VALUES_SCHEMA = closed(
    {
        "global": closed(
            {
                "postgresqlSecretName": STRING,
                "dagsterHome": STRING,
                "serviceAccountName": STRING,
                "celeryConfigSecretName": STRING,
            }
        ),
        "generatePostgresqlPasswordSecret": BOOL,
        "postgresql": closed(
            {
                "image": OPEN,
                "enabled": BOOL,
                "postgresqlHost": STRING,
                "postgresqlUsername": STRING,
                "postgresqlPassword": STRING,
                "postgresqlDatabase": STRING,
                "postgresqlParams": {"type": "object"},
                "postgresqlScheme": STRING,
                "service": closed({"port": INT}),
            }
        ),
        "dagster-user-deployments": closed(
            {
                "enabled": BOOL,
                "enableSubchart": BOOL,
                "imagePullSecrets": k8s_list(client.V1LocalObjectReference),
                "deployments": {"type": "array", "items": USER_DEPLOYMENT, "minItems": 1},
            }
        ),
        "runLauncher": closed(
            {
                "type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
                "config": closed(
                    {"k8sRunLauncher": K8S_RUN_LAUNCHER, "celeryK8sRunLauncher": OPEN, "customRunLauncher": OPEN}
                ),
            },
            required=("type", "config"),
        ),
        "dagsterDaemon": DAEMON,
        "telemetry": closed({"enabled": BOOL}),
        **{
            k: OPEN
            for k in (
                "dagsterWebserver",
                "generateCeleryConfigSecret",
                "rabbitmq",
                "redis",
                "flower",
                "ingress",
                "imagePullSecrets",
                "computeLogManager",
                "scheduler",
                "pythonLogs",
                "busybox",
                "migrate",
                "serviceAccount",
                "retention",
                "additionalInstanceConfig",
                "concurrency",
                "nameOverride",
                "fullnameOverride",
                "rbacEnabled",
                "dagsterHome",
                "postgresqlSecretName",
            )
        },
    }
)


def _k8s_model(validator, model, instance, schema):
    try:
        parse_as(model, instance, model.__name__)
    except InvalidObject as exc:
        yield jsonschema.ValidationError(str(exc))


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"k8sModel": _k8s_model})


def problems(values: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in Validator(VALUES_SCHEMA).iter_errors(values)
    ]


def deployment(values: dict) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def launcher_values(values: dict) -> dict:
    return values["runLauncher"]["config"]["k8sRunLauncher"]


def test_values_match_the_charts_schema():
    assert problems(helm_values()) == []


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (
            lambda v: v.update({"dagster-user-deployment": v.pop("dagster-user-deployments")}),
            "'dagster-user-deployment' was unexpected",
        ),
        (lambda v: deployment(v).update(codeServerArg=["-m", "x"]), "'codeServerArg' was unexpected"),
        (lambda v: deployment(v)["image"].update(tag=1.0), "1.0 is not of type 'string'"),
        (lambda v: deployment(v)["resources"].update(limit={"cpu": "1"}), "V1ResourceRequirements: {'limit'}"),
        (
            lambda v: deployment(v)["envConfigMaps"].append("fraud-assets-env"),
            "expected a mapping of V1ConfigMapEnvSource fields, got str 'fraud-assets-env'",
        ),
        (lambda v: launcher_values(v).update(envConfigMap=[]), "'envConfigMap' was unexpected"),
        (
            lambda v: v["dagsterDaemon"]["runMonitoring"].update(maxResumeRunAttempt=1),
            "'maxResumeRunAttempt' was unexpected",
        ),
        (lambda v: v["runLauncher"].update(type="K8SRunLauncher"), "'K8SRunLauncher' is not one of"),
    ],
)
def test_a_misspelt_key_or_a_wrong_type_fails_the_check(mutate, problem):
    values = copy.deepcopy(helm_values())
    mutate(values)
    assert any(problem in p for p in problems(values)), problems(values)


def test_the_code_location_is_the_images_code_server():
    values = deployment(helm_values())
    stages = dockerfile.parse(DOCKERFILE)
    command = dockerfile.effective(stages, "code", "CMD").exec_form()
    exposed = dockerfile.effective(stages, "code", "EXPOSE").args.split()
    module = pyproject()["tool"]["dagster"]["module_name"]

    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port>` + codeServerArgs.
    assert values["codeServerArgs"] == ["-m", module]
    assert command == ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(values["port"]), "-m", module]
    assert str(values["port"]) in exposed
    user = dockerfile.effective(stages, "code", "USER").args
    useradd = next(i.args for s in dockerfile.chain(stages, "code") for i in s.instructions if "useradd" in i.args)
    uid = re.search(r"--uid (\d+) " + re.escape(user), useradd).group(1)
    assert values["podSecurityContext"]["runAsUser"] == int(uid)


def test_pods_get_the_same_environment_and_sizes_as_the_instance_file_says():
    values, instance = helm_values(), instance_config()
    launcher = instance["run_launcher"]["config"]
    for section in (deployment(values), launcher_values(values)):
        assert [e["name"] for e in section["envConfigMaps"]] == launcher["env_config_maps"]
        assert [e["name"] for e in section["envSecrets"]] == launcher["env_secrets"]
    assert launcher_values(values)["resources"] == launcher["resources"]
    assert values["global"]["postgresqlSecretName"] == launcher["postgres_password_secret"]
    assert deployment(values)["includeConfigInLaunchedRuns"]["enabled"] is True

    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert coordinator["maxConcurrentRuns"] == instance["run_coordinator"]["config"]["max_concurrent_runs"]
    assert values["dagsterDaemon"]["runMonitoring"] == {camel(k): v for k, v in instance["run_monitoring"].items()}


def test_postgres_settings_match_the_cluster_environment():
    postgres, env = helm_values()["postgresql"], objects_of_kind("ConfigMap")["fraud-assets-env"]["data"]
    assert postgres["enabled"] is False and helm_values()["generatePostgresqlPasswordSecret"] is False
    assert (
        postgres["postgresqlHost"],
        postgres["postgresqlUsername"],
        postgres["postgresqlDatabase"],
        str(postgres["service"]["port"]),
    ) == (env["DAGSTER_PG_HOST"], env["DAGSTER_PG_USERNAME"], env["DAGSTER_PG_DB"], env["DAGSTER_PG_PORT"])
    assert helm_values()["global"]["postgresqlSecretName"] in objects_of_kind("Secret")
