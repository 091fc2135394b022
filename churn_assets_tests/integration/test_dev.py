"""`churn-assets dev` as a person uses it: the Dagster UI, and beside it the HTTP API its metadata links point at.

A small pipeline run writes links to CHURN_SERVE_URL; `churn-assets dev` with the same setting must start the
UI and the API, the model card and drift report links from Dagster's metadata must open in headless Chromium,
and stopping `dev` must stop both.
"""

import contextlib
import os
import shutil
import signal
import subprocess

import dagster as dg
import httpx
import pytest

from churn_assets_tests.helpers import browser_dom, clean_env, free_port, server_up, wait_for


def api_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start_dev(port: int, env: dict, cwd, stdout, background: bool = False) -> subprocess.Popen:
    """`churn-assets dev` in a process group of its own, as a terminal starts it (output and errors to ``stdout``);
    ``background``: as a script's ``churn-assets dev &`` starts it, with SIGINT ignored."""
    command = [shutil.which("churn-assets"), "dev", "--port", str(port)]  # found here: env's PATH may not hold it
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    return subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=ignore_sigint,  # noqa: PLW1509 - sets one signal, before exec
    )


def test_dev_starts_the_ui_and_the_api_whose_links_open_in_a_browser(tmp_path, finished_run):
    api = f"http://127.0.0.1:{finished_run.port}"  # the run's metadata links point here: CHURN_SERVE_URL
    env = clean_env() | {"CHURN_DATA_DIR": str(finished_run.copy(tmp_path / "d")), "CHURN_SERVE_URL": api}
    env |= {"CHURN_USERS": "300", "CHURN_DAYS": "90", "CHURN_AUTOMATION": "off"}

    ui = free_port()
    dev = start_dev(ui, env, tmp_path, stdout=subprocess.PIPE)
    try:
        wait_for("the Dagster UI", lambda: server_up(ui), timeout=120)
        wait_for("the HTTP API beside it", lambda: api_up(api), timeout=60)
        instance = dg.DagsterInstance.from_config(str(tmp_path / "d" / "dagster"))
        model = instance.fetch_materializations(dg.AssetKey("churn_model"), limit=1).records[0].asset_materialization
        version = model.metadata["model_version"].value
        card = model.metadata["model_card"].value
        assert card == f"{api}/v1/models/{version}/card.html"
        page = browser_dom(card)  # the card as a person reads it, offline: its sections and its calibration plot
        production = httpx.get(f"{api}/v1/models").json()["production"]  # the model, or its promoted fallback
        assert f"Model card {version}" in page
        assert ("In production." if version == production else "Not in production.") in page
        for section in ("What churn means", "Training window and sample", "Test figures beside the baselines",
                        "Calibration", "Candidates", "Most important features"):  # fmt: skip
            assert f">{section}" in page, section
        assert 'aria-label="predicted and observed churn per risk tier"' in page
        registry = browser_dom(f"{api}/v1/models.html")
        assert f'href="models/{version}/card.html">{version}</a>' in registry
        assert f'Production: <span class="prod">{production}</span>' in registry
        drift = instance.fetch_materializations(dg.AssetKey("drift_report"), limit=1).records[0].asset_materialization
        assert "Dataset Drift" in browser_dom(drift.metadata["evidently_report"].value)
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in the terminal: the UI, the daemon and the API all stop
        out, _ = dev.communicate(timeout=60)
    assert not api_up(api), out[-2000:]
    assert f"HTTP API for the report and model card links on {api}" in out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")  # a zombie has stopped


@pytest.mark.parametrize(
    ("signum", "background"), [(signal.SIGTERM, True), (signal.SIGHUP, False)], ids=["SIGTERM", "SIGHUP"]
)
def test_dev_stopped_by_a_signal_to_its_pid_leaves_no_process_and_no_port(tmp_path, signum, background):
    """`kill <pid>` and a closed terminal reach `churn-assets dev` alone, not its process group as Ctrl-C does. The
    `kill` is of a script's background job (`churn-assets dev &`, SIGINT ignored, which Dagster's processes would
    pass on to SIGTERM). No dagster on PATH, as outside an activated virtualenv: dev runs Dagster through its own
    interpreter."""
    api = f"http://127.0.0.1:{free_port()}"
    env = clean_env() | {"CHURN_DATA_DIR": str(tmp_path / "d"), "CHURN_SERVE_URL": api, "CHURN_AUTOMATION": "off"}
    env["PATH"] = "/usr/bin:/bin"
    ui = free_port()
    logs = open(tmp_path / "dev.log", "w")  # noqa: SIM115 - closed below
    dev = start_dev(ui, env, tmp_path, stdout=logs, background=background)
    try:
        wait_for("the Dagster UI", lambda: server_up(ui), timeout=120)
        wait_for("the HTTP API beside it", lambda: api_up(api), timeout=60)
        group = [
            int(p) for p in subprocess.run(["pgrep", "-g", str(dev.pid)], capture_output=True, text=True).stdout.split()
        ]
        assert len(group) >= 4  # the command, dagster dev, its webserver and daemon (and code server), the API
        os.kill(dev.pid, signum)
        dev.wait(timeout=90)
        wait_for("every process of dev to stop", lambda: not any(alive(p) for p in group), timeout=30)
        assert not server_up(ui) and not api_up(api)
    finally:  # whatever is left of the group when the test failed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGKILL)
        logs.close()
    assert f"Dagster UI on http://127.0.0.1:{ui}" in (tmp_path / "dev.log").read_text()
