"""The version floors in pyproject.toml install a working project: every runtime dependency at exactly its floor,
in a virtualenv of its own, runs the whole pipeline on DuckDB and on the BigQuery and GCS emulators and serves a
user's risk over HTTP.

The virtualenv is built as the container image is (Dockerfile): from exactly the files its build context admits,
with the image's own install command, and the image's command (the code server) is started from it."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib

import duckdb
import httpx
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from churn_assets.settings import ENV_VARS
from churn_assets_tests.helpers import (
    ROOT,
    Server,
    build_context,
    clean_env,
    free_port,
    instruction,
    new_gcp_settings,
    wait_for,
)


def floor_pins(dependencies: list[str]) -> dict[str, str]:
    """``{name: floor}`` of each requirement: the version of its ``>=``; a requirement without one is an error."""
    pins = {}
    for text in dependencies:
        requirement = Requirement(text)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"{text!r} has no single '>=' floor: every dependency states the oldest version it needs")
        pins[requirement.name] = floors[0]
    return pins


def test_floor_pins_take_each_lower_bound_and_refuse_a_dependency_without_one():
    pins = floor_pins(["dagster>=1.12.13,<1.14", "uvicorn[standard]>=0.30", "pandas>=2.2,<3"])
    assert pins == {"dagster": "1.12.13", "uvicorn": "0.30", "pandas": "2.2"}
    with pytest.raises(ValueError, match="'numpy<3' has no single '>=' floor"):
        floor_pins(["numpy<3"])
    with pytest.raises(ValueError, match="'scipy' has no single"):
        floor_pins(["scipy"])


PINS = floor_pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


@pytest.fixture(scope="module")
def floors(tmp_path_factory):
    """The bin directory of a virtualenv (no system packages) with this project and each runtime dependency at its
    floor."""
    root = tmp_path_factory.mktemp("floors")
    constraints = root / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in PINS.items()))
    context = root / "context"  # the image's build context: what .dockerignore admits, nothing else
    for path in build_context():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, context / path)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    [run] = instruction("RUN")  # the image's install step, its first command
    image_install = shlex.split(run.split("&&")[0])
    assert image_install == ["uv", "pip", "install", "--system", "--compile-bytecode", "."]
    # the same uv (the test dependency) into the virtualenv's interpreter instead of the image's system one
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            python,
            "--compile-bytecode",
            ".",
            "-c",
            constraints,
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "yanked" not in install.stdout + install.stderr, install.stderr  # a floor nobody can rely on
    return python.parent


def run_demo(bin_dir, data_dir, **settings: str) -> subprocess.CompletedProcess:
    """`churn-assets run` of the floors' virtualenv on 300 users and 90 days; it must finish every stage."""
    env = clean_env() | {ENV_VARS[name]: value for name, value in settings.items()}
    command = ["run", "--data-dir", str(data_dir), "--users", "300", "--days", "90"]
    run = subprocess.run([bin_dir / "churn-assets", *command], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "[7/7] drift report 2026-03-31" in run.stdout and "promoted (first model" in run.stdout
    return run


def test_the_floors_install_exactly(floors):
    script = "import json, sys, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    installed = json.loads(subprocess.check_output([floors / "python", "-c", script, *PINS], text=True))
    assert {n: Version(v) for n, v in installed.items()} == {n: Version(v) for n, v in PINS.items()}  # 2.2 is 2.2.0


def test_the_whole_pipeline_runs_and_serves_on_the_floors(floors, tmp_path):
    data_dir = tmp_path / "churn"
    run = run_demo(floors, data_dir)
    [production] = [line.split()[-1] for line in run.stdout.splitlines() if line.startswith("Production model:")]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        [(user, probability)] = conn.execute(
            "select user_id, churn_probability from churn.churn_predictions order by churn_probability desc limit 1"
        ).fetchall()

    server = Server(data_dir, free_port(), command=str(floors / "churn-assets"))
    try:
        assert httpx.get(f"{server.url}/ready").json()["ready"] is True
        answer = httpx.get(f"{server.url}/v1/users/{user}/risk").json()
    finally:
        server.stop()
    assert answer["user_id"] == user and answer["model_version"] == production
    assert answer["churn_probability"] == pytest.approx(probability, abs=1e-6)


def test_the_gcp_deployment_runs_on_the_floors(floors, tmp_path, bq_emulator, gcs_emulator):
    run_demo(floors, tmp_path, **new_gcp_settings())
    assert not (tmp_path / "warehouse.duckdb").exists()  # the tables went to BigQuery


def test_the_images_command_from_its_install_steps_answers_dagsters_health_check(floors, tmp_path):
    """The Dockerfile's CMD (Dagster's code server for churn_assets.definitions), on loopback and a free port."""
    command = json.loads(instruction("CMD")[0])
    port = free_port()
    command[command.index("-p") + 1], command[command.index("-h") + 1] = str(port), "127.0.0.1"
    env = clean_env() | {"PATH": f"{floors}{os.pathsep}{os.environ['PATH']}", "CHURN_DATA_DIR": str(tmp_path / "d")}
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = [str(floors / "dagster"), "api", "grpc-health-check", "-p", str(port)]
        wait_for("the code server", lambda: subprocess.run(health, env=env, capture_output=True).returncode == 0, 120)
    finally:
        server.terminate()
        server.wait(timeout=30)
