"""The self-hosted deployment's files: the Dockerfile, the compose file with its instance and workspace, the values
for Dagster's Helm chart, and dagster_cloud.yaml, checked against each other and against what they configure.

No container engine runs here, so no image is built and no cluster is deployed. What can be run is run: the
compose file's instance configuration is loaded by Dagster against a real PostgreSQL server, and the image's
install steps are replayed in a fresh virtualenv from exactly the files its build context admits, its command
started from there answering Dagster's health check (integration/test_floors.py, at the dependency floors).
"""

import json
import shutil

import dagster as dg
import yaml

from churn_assets.cli.instance import POSTGRES_URL
from churn_assets_tests.helpers import ROOT, build_context, dockerfile, instruction
from churn_assets_tests.postgres import postgres_server

DEPLOY = ROOT / "deploy"
MODULE = "churn_assets.definitions"
# the only values the deployments write: which resource set, and Dagster's event batches (no secret, no project)
SETTINGS_BY_NAME = {"CHURN_DEPLOYMENT": "gcp", "DAGSTER_EVENT_BATCH_SIZE": "100"}

# The keys Dagster's Helm chart (dagster/dagster 1.12-1.13) reads: its values schema's top level, a user
# deployment, and the Kubernetes run launcher's config. A key outside these is ignored or refused by the chart.
CHART_TOP = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets", "computeLogManager",
    "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate", "telemetry", "serviceAccount",
    "global", "retention", "additionalInstanceConfig",
}  # fmt: skip
CHART_USER_DEPLOYMENT = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "deploymentNamespace",
    "port", "replicaCount", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity",
    "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe",
    "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
    "deploymentStrategy",
}  # fmt: skip
CHART_K8S_RUN_LAUNCHER = {
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
    "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
    "schedulerName", "securityContext", "runK8sConfig",
}  # fmt: skip
CHART_POSTGRESQL = {"enabled", "image", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
                    "postgresqlDatabase", "postgresqlParams", "postgresqlScheme", "service"}  # fmt: skip


def test_the_image_is_a_slim_python_with_the_package_only_run_by_a_non_root_user():
    [base] = instruction("FROM")
    assert base.startswith("python:3.") and base.endswith("-slim")
    ops = [op for op, _ in dockerfile()]
    assert ops.index("USER") > ops.index("RUN")  # installed as root, run as the user
    [user] = instruction("USER")
    assert user not in ("root", "0")
    assert instruction("ENTRYPOINT") == []  # the chart and the run launcher pass whole commands as args
    [command] = instruction("CMD")
    assert json.loads(command) == ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", MODULE]
    context = build_context()
    assert {p for p in context if not p.startswith("churn_assets/")} == {"pyproject.toml", "README.md"}
    assert "churn_assets/definitions.py" in context
    assert not [p for p in context if p.startswith(("churn_assets_tests/", "bench/", "docs/", ".churn"))]


def test_the_compose_file_runs_every_service_from_the_image_with_secrets_by_name():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon", "api"}
    home = dict(line.split("=", 1) for line in instruction("ENV")[0].split())["DAGSTER_HOME"]
    for name in ("code", "webserver", "daemon", "api"):
        service = services[name]
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert f"./dagster.yaml:{home}/dagster.yaml:ro" in service["volumes"]
        url = service["environment"][POSTGRES_URL]
        assert url.startswith("postgresql+psycopg2://dagster:${POSTGRES_PASSWORD:?")  # the password by name only
        assert service["environment"]["DAGSTER_EVENT_BATCH_SIZE"] == "100"
    assert "command" not in services["code"]  # the image's command: the code server
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    assert workspace == {
        "load_from": [{"grpc_server": {"host": "code", "port": 4000, "location_name": "churn_assets"}}]
    }
    for name in ("webserver", "daemon"):
        assert services[name]["command"][-2:] == ["-w", "/opt/dagster/workspace.yaml"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert services["api"]["environment"]["CHURN_API_TOKEN"].startswith("${CHURN_API_TOKEN:?")
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))


def test_the_compose_instance_is_one_dagster_loads_against_a_real_postgres(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    with postgres_server() as url:
        monkeypatch.setenv(POSTGRES_URL, url)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.run_coordinator.inst_data.config_dict["max_concurrent_runs"] == 1
            run = instance.add_run(dg.DagsterRun(job_name="daily_job", run_id="compose-check"))
            assert [r.run_id for r in instance.get_runs()] == [run.run_id]


def test_the_helm_values_use_only_keys_the_chart_reads_and_name_every_secret():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert set(values) <= CHART_TOP
    users = values["dagster-user-deployments"]
    assert users["enabled"] is True
    [deployment] = users["deployments"]
    assert set(deployment) <= CHART_USER_DEPLOYMENT
    assert deployment["codeServerArgs"] == ["-m", MODULE]
    assert set(deployment["image"]) == {"repository", "tag", "pullPolicy"}
    assert deployment["env"] == SETTINGS_BY_NAME
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert set(values["runLauncher"]["config"]) == {"k8sRunLauncher"}
    assert set(values["runLauncher"]["config"]["k8sRunLauncher"]) <= CHART_K8S_RUN_LAUNCHER
    assert set(values["postgresql"]) <= CHART_POSTGRESQL
    assert "postgresqlPassword" not in values["postgresql"]  # from the Secret the global names
    assert values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]
    cloud = yaml.safe_load((ROOT / "dagster_cloud.yaml").read_text())
    [location] = cloud["locations"]
    # the same secret name on Dagster+ as on the self-hosted chart
    assert [s["name"] for s in deployment["envSecrets"]] == location["container_context"]["k8s"]["env_secrets"]


def test_dagster_cloud_yaml_builds_the_image_of_the_dockerfile():
    [location] = yaml.safe_load((ROOT / "dagster_cloud.yaml").read_text())["locations"]
    assert location["code_source"]["module_name"] == MODULE
    assert (ROOT / location["build"]["directory"] / "Dockerfile").exists()
