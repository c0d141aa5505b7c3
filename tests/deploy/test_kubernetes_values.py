"""``deploy/kubernetes/values.yaml`` for Dagster's Helm chart, checked without a cluster.

No helm or Kubernetes here, so this checks what can be checked honestly: the file parses, every
key we set exists in the chart (key paths from the chart's ``values.schema.json``, dagster 1.13),
runs use the K8sRunLauncher, the image is the one ``kestra-dagster image build -t`` makes, and
the variable/secret names match our configuration. Installing the chart is not tested.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from deploy_helpers import ROOT
from kestra_dagster.config import INLINE_ENV, parse_config
from kestra_dagster.server.app import DEFINITIONS_MODULE

VALUES = ROOT / "deploy" / "kubernetes" / "values.yaml"

# Properties of the chart's schema (helm/dagster/values.schema.json of dagster-io/dagster, 1.13)
# for the objects we set. Dict keys of lists ("deployments[]") describe each item.
CHART_KEYS = {
    "": {"dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
         "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
         "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
         "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig"},
    "global": {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"},
    "dagster-user-deployments": {"enabled", "enableSubchart", "imagePullSecrets", "deployments"},
    "dagster-user-deployments.deployments[]": {
        "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
        "deploymentNamespace", "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector",
        "affinity", "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe",
        "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName", "initContainers",
        "sidecarContainers"},
    "dagster-user-deployments.deployments[].image": {"repository", "tag", "pullPolicy"},
    "dagster-user-deployments.deployments[].includeConfigInLaunchedRuns": {"enabled"},
    "runLauncher": {"type", "config"},
    "runLauncher.config": {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    "runLauncher.config.k8sRunLauncher": {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
        "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
        "schedulerName", "securityContext", "runK8sConfig"},
    "postgresql": {"image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
                   "postgresqlDatabase", "postgresqlParams", "postgresqlScheme", "service"},
    "postgresql.service": {"port"},
    "dagsterWebserver": {"replicaCount", "image", "nameOverride", "pathPrefix", "service", "workspace", "env",
                         "envConfigMaps", "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity",
                         "tolerations", "podSecurityContext", "securityContext", "resources", "readinessProbe",
                         "livenessProbe", "startupProbe", "annotations", "enableReadOnly", "dbStatementTimeout",
                         "dbPoolRecycle", "logLevel", "schedulerName", "volumeMounts", "volumes",
                         "initContainerResources"},
    "dagsterDaemon": {"enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps",
                      "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
                      "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe",
                      "startupProbe", "annotations", "runMonitoring", "runRetries", "sensors", "schedules",
                      "schedulerName", "volumeMounts", "volumes", "initContainerResources"},
    "dagsterDaemon.runCoordinator": {"enabled", "type", "config"},
}
# Values whose content is Kubernetes' own (env vars, secret refs): not the chart's keys.
OPAQUE = {"env", "envSecrets", "envConfigMaps", "envVars", "dagsterApiGrpcArgs", "volumes", "volumeMounts"}


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _walk(node, path: str, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(f"{path}.{key}" if path else key)
            if key not in OPAQUE:
                _walk(value, f"{path}.{key}" if path else key, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, path + "[]", found)


def test_every_key_exists_in_the_chart():
    found: list[str] = []
    _walk(_values(), "", found)
    unknown = []
    for key_path in found:
        parent, _, key = key_path.rpartition(".")
        assert parent in CHART_KEYS, f"no chart keys recorded for '{parent}' (key {key_path})"
        if key not in CHART_KEYS[parent]:
            unknown.append(key_path)
    assert not unknown, f"keys Dagster's chart does not have: {unknown}"


def test_runs_are_kubernetes_jobs_from_our_code_image():
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["enabled"] is True  # the chart's daemon: schedules, sensors, queue
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert values["dagster-user-deployments"]["enabled"] is True
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", DEFINITIONS_MODULE]
    assert importlib.util.find_spec(DEFINITIONS_MODULE) is not None
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}

    # the image is the one the documented `kestra-dagster image build -t` line makes
    text = VALUES.read_text()
    built = re.search(r"kestra-dagster image build -t (\S+)", text).group(1)
    image = deployment["image"]
    assert f"{image['repository']}:{image['tag']}" == built
    assert image["repository"].rsplit("/", 1)[-1] == "kestra-dagster"  # image build's default name
    from kestra_dagster.server.cli import image as image_group

    tag_option = next(p for p in image_group.commands["build"].params if p.name == "tag")
    assert "-t" in tag_option.opts and tag_option.default.split(":")[0] == "kestra-dagster"

    # the flows directory baked into the image
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    flows_dir = re.search(r"KESTRA_FLOWS_DIR=(\S+)", dockerfile).group(1)
    assert {"name": "KESTRA_FLOWS_DIR", "value": flows_dir} in deployment["env"]
    assert f"KESTRA_FLOWS_DIR={flows_dir}" in values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]


def test_secret_names_match_our_configuration():
    values = _values()
    text = VALUES.read_text()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    config_secret = re.search(r"create secret generic (\S+) --from-file=(\w+)=", text)
    assert config_secret.group(2) == INLINE_ENV == "KESTRA_CONFIGURATION"
    assert {"name": config_secret.group(1)} in deployment["envSecrets"]
    assert {"name": config_secret.group(1)} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    pg_secret = re.search(r"create secret generic (\S+) --from-literal=postgresql-password=", text).group(1)
    assert values["global"]["postgresqlSecretName"] == pg_secret
    assert values["generatePostgresqlPasswordSecret"] is False and "postgresqlPassword" not in values["postgresql"]
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    # an application.yml for the cluster may use the chart's DAGSTER_PG_PASSWORD and S3 storage
    config = parse_config(yaml.safe_load("""
datasources:
  postgres: {url: "jdbc:postgresql://postgres.example.internal:5432/kestra", username: kestra,
             password: "${DAGSTER_PG_PASSWORD}"}
kestra:
  storage: {type: s3, s3: {bucket: kestra-files, region: eu-west-1}}
"""), env={"DAGSTER_PG_PASSWORD": "from-the-secret"})
    assert config.postgres.password == "from-the-secret"
    assert config.process_env()["KESTRA_STORAGE_TYPE"] == "s3"


def test_the_documented_image_has_the_kubernetes_launcher(tmp_path):
    """Run pods load the chart's instance settings (K8sRunLauncher): the image needs dagster-k8s."""
    import subprocess
    import tomllib

    from kestra_dagster.server.image import ImageBuildError, check_extras, docker_build_argv

    built = re.search(r"kestra-dagster image build -t \S+ .*--extras (\S+)", VALUES.read_text())
    assert built, "the documented build line must install the k8s extra"
    extras = tuple(built.group(1).split(","))
    assert "k8s" in extras
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("dagster-k8s") for r in pyproject["project"]["optional-dependencies"]["k8s"])
    assert check_extras(extras, ROOT) == extras
    with pytest.raises(ImageBuildError, match="unknown extra"):
        check_extras(("kubernetes",), ROOT)
    argv = docker_build_argv("docker", "kd:1", tmp_path, extras=extras)
    assert argv[argv.index("--build-arg") + 1] == f"EXTRAS={','.join(extras)}"
    # the Dockerfile's pip line turns EXTRAS into `/src[k8s,aws]` (and plain `/src` without it)
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    target = re.search(r'"(/src\$\{EXTRAS:\+\[\$EXTRAS\]\})"', dockerfile).group(1)
    for value, expected in ((",".join(extras), f"/src[{','.join(extras)}]"), ("", "/src")):
        out = subprocess.run(["sh", "-c", f'echo "{target}"'], env={"EXTRAS": value}, capture_output=True,
                             text=True, timeout=10)
        assert out.stdout.strip() == expected
