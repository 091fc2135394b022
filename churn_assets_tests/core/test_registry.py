import io
import json
import pickle
import time
import zipfile
from dataclasses import replace

import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from churn_assets.core.registry.artifacts import ArtifactNotFound, LocalArtifactStore
from churn_assets.core.registry.card import BASELINE_ROLE, ModelCard
from churn_assets.core.registry.model_registry import ModelIntegrityError, ModelRegistry, RegistryError, sha256

CARD = ModelCard(
    candidate="logistic_regression", metrics={"pr_auc": 0.5, "roc_auc": 0.8}, features=["x"], threshold=0.3
)


def fitted(c: float) -> LogisticRegression:
    return LogisticRegression(C=c).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


@pytest.fixture(params=["local", "gcs"])
def registry(request, tmp_path) -> ModelRegistry:
    """The same registry over the local folder store and over GCS (a real emulator)."""
    if request.param == "local":
        return ModelRegistry(LocalArtifactStore(tmp_path / "artifacts"))
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from churn_assets.io.gcs import GCSArtifactStore

    bucket = request.getfixturevalue("gcs_bucket")
    client = storage.Client(project="churn-test", credentials=AnonymousCredentials())
    return ModelRegistry(GCSArtifactStore(client, bucket, prefix="churn/artifacts"))


def test_register_and_load_round_trip_with_card(registry):
    version, created = registry.register(fitted(1.0), CARD, {"test_set": pd.DataFrame({"x": [1, 2]})})
    assert created and version.startswith("m-")
    card = registry.card(version)
    assert card.version == version and card.metrics["roc_auc"] == 0.8
    assert len(card.sha256) == 64 and card.artifact == f"models/{version}/model.skops"
    assert card.sha256.startswith(version[2:]) and card.format == "skops"
    assert registry.load(version).predict([[3.0]]).tolist() == [1]
    assert registry.frame(version, "test_set")["x"].tolist() == [1, 2]
    # the same model again is the same version, not a new one
    assert registry.register(fitted(1.0), CARD, {}) == (version, False)
    assert [c.version for c in registry.versions()] == [version]


def test_a_tampered_artifact_is_refused(registry):
    version, _ = registry.register(fitted(1.0), CARD, {})
    key = f"models/{version}/model.skops"
    data = bytearray(registry.store.read_bytes(key))
    data[-10] ^= 0xFF
    registry.store.write_bytes(key, bytes(data))
    with pytest.raises(ModelIntegrityError, match=f"model {version}: sha256 of .* refusing to load"):
        registry.load(version)


class Evil:
    """Unpickling this creates a file: the proof that code from an artifact ran."""

    path = ""

    def __reduce__(self):
        return (open, (self.path, "w"))


def swap_with_recomputed_card(registry, version: str, data: bytes) -> None:
    """What an attacker with write access to the store does: replace the artifact and fix up its card."""
    registry.store.write_bytes(f"models/{version}/model.skops", data)
    card = replace(registry.card(version), sha256=sha256(data))
    registry.store.write_bytes(f"models/{version}/card.json", json.dumps(card.to_dict()).encode())


def test_a_swapped_file_with_a_recomputed_card_is_refused_and_never_runs(registry, tmp_path):
    Evil.path = str(tmp_path / "code-ran")
    version, _ = registry.register(fitted(1.0), CARD, {})
    registry.promote(version, "first")
    swap_with_recomputed_card(registry, version, pickle.dumps(Evil()))
    with pytest.raises(ModelIntegrityError, match=f"model {version}: sha256 of models/{version}/model.skops is"):
        registry.load(version)
    with pytest.raises(ModelIntegrityError):
        registry.rollback(version)
    assert not (tmp_path / "code-ran").exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused_before_anything_is_built(registry, tmp_path, monkeypatch):
    version, _ = registry.register(fitted(1.0), CARD, {})
    # a well-formed skops file whose object graph names a type outside the trusted list
    good = registry.store.read_bytes(f"models/{version}/model.skops")
    archive = zipfile.ZipFile(io.BytesIO(good))
    schema = json.loads(archive.read("schema.json"))
    schema["__module__"], schema["__class__"] = "os", "system"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as forged:
        for name in archive.namelist():
            forged.writestr(name, json.dumps(schema) if name == "schema.json" else archive.read(name))
    data = out.getvalue()
    assert "os.system" in sio.get_untrusted_types(data=data)
    # even a forger who also controls the version id (a new version named after the file's digest) is refused
    forged_version = f"m-{sha256(data)[:12]}"
    registry.store.write_bytes(f"models/{forged_version}/model.skops", data)
    card = replace(registry.card(version), version=forged_version, sha256=sha256(data))
    registry.store.write_bytes(f"models/{forged_version}/card.json", json.dumps(card.to_dict()).encode())
    with pytest.raises(ModelIntegrityError, match=r"names types outside the trusted list: \['os.system'\]"):
        registry.load(forged_version)


def test_a_foreign_file_without_a_card_is_not_a_version(registry, tmp_path):
    Evil.path = str(tmp_path / "code-ran")
    version, _ = registry.register(fitted(1.0), CARD, {})
    registry.store.write_bytes("models/m-0123456789ab/model.skops", pickle.dumps(Evil()))
    with pytest.raises(RegistryError, match="no model version 'm-0123456789ab'"):
        registry.load("m-0123456789ab")
    assert not (tmp_path / "code-ran").exists()
    assert [c.version for c in registry.versions()] == [version]


@pytest.mark.parametrize("typed", ["{v}/", " {v} ", "{v}//"])
def test_a_rollback_target_is_normalized(registry, typed):
    first, _ = registry.register(fitted(1.0), CARD, {})
    second, _ = registry.register(fitted(0.01), CARD, {})
    registry.promote(second, "second")
    assert registry.rollback(typed.format(v=first)) == first
    assert json.loads(registry.store.read_bytes("models/production.json"))["version"] == first


@pytest.mark.parametrize("typed", ["x/../m-0123456789ab", "../models", "m-0123", "m-0123456789AB"])
def test_a_rollback_target_that_is_not_a_version_id_is_refused(registry, typed):
    version, _ = registry.register(fitted(1.0), CARD, {})
    registry.promote(version, "first")
    with pytest.raises(RegistryError, match="is not a model version id"):
        registry.rollback(typed)
    assert registry.production() == version


@pytest.mark.parametrize("name", ["production.json", "decisions.json"])
def test_a_corrupt_registry_file_is_named_in_the_error(registry, name):
    version, _ = registry.register(fitted(1.0), CARD, {})
    registry.promote(version, "first")
    registry.record_decision(version, True, "first")
    registry.store.write_bytes(f"models/{name}", b'{"version": "m-0')
    uri = registry.store.uri(f"models/{name}")
    with pytest.raises(RegistryError, match=f"{uri} is corrupt: "):
        registry.production() if name == "production.json" else registry.decisions()


def test_one_corrupt_card_does_not_hide_the_others(registry):
    first, _ = registry.register(fitted(1.0), CARD, {})
    second, _ = registry.register(fitted(0.01), CARD, {})
    registry.store.write_bytes(f"models/{first}/card.json", b"\x00not json")
    assert [c.version for c in registry.versions()] == [second]
    assert registry.unreadable == [
        f"{registry.store.uri(f'models/{first}/card.json')} is corrupt: "
        "Expecting value: line 1 column 1 (char 0); restore it or remove it"
    ]
    assert registry.latest() == second


def test_promote_and_roll_back(registry):
    first, _ = registry.register(fitted(1.0), CARD, {})
    second, _ = registry.register(fitted(0.01), CARD, {})
    assert registry.production() is None
    with pytest.raises(RegistryError, match="no earlier production version"):
        registry.rollback()
    registry.promote(first, "first")
    registry.promote(second, "better")
    assert registry.production() == second
    assert registry.rollback() == first
    assert registry.production() == first
    assert registry.rollback(second) == second
    with pytest.raises(RegistryError, match="no model version 'm-0123456789ab'"):
        registry.rollback("m-0123456789ab")


def test_decisions_are_recorded(registry):
    version, _ = registry.register(fitted(1.0), CARD, {})
    assert registry.decision(version) is None
    registry.record_decision(version, False, "not better")
    assert registry.decision(version)["reason"] == "not better"
    assert json.loads(registry.store.read_bytes("models/decisions.json"))[0]["promoted"] is False


def test_store_keys_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError, match="leaves the store"):
        LocalArtifactStore(tmp_path).write_bytes("../outside", b"x")


def test_missing_artifacts_and_uris(registry):
    with pytest.raises(ArtifactNotFound):
        registry.store.read_bytes("models/none.json")
    assert not registry.store.exists("models/none.json")
    registry.store.write_bytes("reports/a.html", b"<html/>")
    assert registry.store.list("reports") == ["reports/a.html"]
    assert registry.store.uri("reports/a.html").endswith("reports/a.html")


def test_gcs_artifacts_resource_uses_dagster_gcp_client(gcs_bucket):
    from dagster_gcp import GCSResource

    from churn_assets.io.gcs import GCSArtifactsResource

    artifacts = GCSArtifactsResource(gcs=GCSResource(project="churn-test"), bucket=gcs_bucket, prefix="deploy")
    version, created = artifacts.registry().register(fitted(1.0), CARD, {})
    assert created and artifacts.registry().load(version).predict([[0.0]]).tolist() == [0]
    assert (
        artifacts.store().uri(f"models/{version}/card.json") == f"gs://{gcs_bucket}/deploy/models/{version}/card.json"
    )


def test_without_production_the_registry_says_which_model_was_refused_and_why(registry):
    assert registry.why_no_production() == "no model is registered yet; materialize churn_model, then production_model"
    version, _ = registry.register(fitted(1.0), CARD, {})
    assert registry.why_no_production() == f"{version} is registered but not judged yet; materialize production_model"
    registry.record_decision(version, False, "first model: ROC-AUC 0.5986 is below the floor 0.6")
    assert registry.why_no_production() == (
        f"{version} was not promoted (first model: ROC-AUC 0.5986 is below the floor 0.6); no earlier model was either"
    )


REGISTER_IN_A_FRESH_PROCESS = """
import sys
import numpy as np
import pandas as pd
from churn_assets.core.modeling.candidates import calibrate
from churn_assets.core.modeling.pipelines import candidate_pipelines
from churn_assets.core.modeling.training import model_input
from churn_assets.core.registry.artifacts import LocalArtifactStore
from churn_assets.core.registry.card import ModelCard
from churn_assets.core.registry.model_registry import ModelRegistry
from churn_assets.core.warehouse.feature_spec import DEFAULT_SPEC

features = list(DEFAULT_SPEC.model_features)
rng = np.random.default_rng(3)
frame = pd.DataFrame({c: rng.integers(0, 30, 600) for c in DEFAULT_SPEC.numeric})
frame["plan"], frame["channel"] = rng.choice(["basic", "pro"], 600), rng.choice(["ads", "organic"], 600)
y = (frame["days_since_last_activity"] + rng.normal(0, 5, 600) > 15).astype(int).to_numpy()
fit = candidate_pipelines(features, rows=400)["gradient_boosting"]().fit(model_input(frame[:400], features), y[:400])
model = calibrate(fit, model_input(frame[400:], features), y[400:])
card = ModelCard(candidate="gradient_boosting", metrics={}, features=features)
print(ModelRegistry(LocalArtifactStore(sys.argv[1])).register(model, card, {})[0])
"""


def test_the_same_model_has_the_same_version_in_any_data_dir_and_process(tmp_path):
    """skops names objects by memory address and stamps zip entries with the time: the version id, the digest of
    the canonical bytes, must not depend on either."""
    import subprocess
    import sys

    versions = []
    for name in ("a", "b"):
        run = subprocess.run(
            [sys.executable, "-c", REGISTER_IN_A_FRESH_PROCESS, str(tmp_path / name)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        versions.append(run.stdout.strip())
    assert versions[0] == versions[1] and versions[0].startswith("m-")
    a, b = (tmp_path / name / "models" / versions[0] / "model.skops" for name in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    assert ModelRegistry(LocalArtifactStore(tmp_path / "a")).load(versions[0]) is not None  # still verifies


def test_rolling_back_to_a_version_keeps_the_production_it_replaces_in_the_history(registry):
    a, b, c = (registry.register(fitted(x), CARD, {})[0] for x in (1.0, 0.01, 0.1))
    for version in (a, b, c):
        registry.promote(version, "better")
    assert registry.rollback(a) == a
    pointer = json.loads(registry.store.read_bytes("models/production.json"))
    assert (pointer["version"], pointer["history"]) == (a, [b, c])
    assert registry.rollback() == c  # a plain rollback returns to the production it replaced
    assert registry.rollback() == b


def test_a_card_without_its_optional_sections_lists_and_describes_what_it_has(registry):
    version, _ = registry.register(fitted(1.0), CARD, {})
    minimal = {k: v for k, v in json.loads(registry.store.read_bytes(f"models/{version}/card.json")).items()
               if k in ("version", "created", "candidate", "features", "sha256", "artifact", "format")}  # fmt: skip
    registry.store.write_bytes(f"models/{version}/card.json", json.dumps(minimal).encode())
    [card] = registry.versions()
    assert (card.metrics, card.windows, card.baselines, card.test_window, card.metric("pr_auc")) == (
        {},
        {},
        {},
        "?",
        "-",
    )
    assert registry.unreadable == [] and registry.load(version).predict([[3.0]]).tolist() == [1]
    if isinstance(registry.store, LocalArtifactStore):  # `churn-assets model list` on that registry
        from churn_assets_tests.helpers import cli

        listing = cli("model", "--data-dir", str(registry.store.root.parent), "list")
        assert listing.returncode == 0, listing.stderr
        [line] = [line for line in listing.stdout.splitlines() if version in line]
        assert line.split()[-6:] == ["logistic_regression", "?", "-", "-", "-", "-"]


def test_a_refused_first_model_hands_production_to_the_best_baseline(registry):
    from churn_assets.core.modeling.promotion import Bars, judge_latest

    tiers = {"tiers_ordered": True, "tiers": {}}
    baselines = {"recency": {"roc_auc": 0.9865, "pr_auc": 0.8}, "sbg": {"roc_auc": 0.7, "pr_auc": 0.4}}
    fallback_card = replace(
        CARD, candidate="recency", role="baseline", metrics={"roc_auc": 0.9865, "pr_auc": 0.8}, calibration=tiers
    )
    fallback, _ = registry.register(fitted(0.01), fallback_card, {})
    model_card = replace(
        CARD,
        metrics={"roc_auc": 0.9860, "pr_auc": 0.8},  # below recency: refused
        baselines=baselines,
        calibration=tiers,
        fallback=fallback,
        selection={"fallback": "recency"},
    )
    model, _ = registry.register(
        fitted(1.0), model_card, {"test_set": pd.DataFrame({"x": [0.0, 3.0], "churned": [0, 1]})}
    )
    assert registry.latest() == model  # the baseline registered beside it is not "the newest trained model"
    judged = judge_latest(registry, Bars(0.005, 0.6, 0.02))
    assert not judged.promoted and judged.production_version == fallback == registry.production()
    assert judged.reason.startswith("fallback: no trained model beats the baselines (first model: ROC-AUC 0.9860")
    assert judged.reason.endswith(
        f"the best baseline model, recency ({fallback}), is promoted so that every day is scored"
    )
    assert [d["version"] for d in registry.decisions()] == [model, fallback]
    assert registry.card(fallback).role == "baseline" and registry.card(model).fallback == fallback


def test_a_baseline_registered_in_the_same_second_as_its_model_is_listed_first(registry):
    model, _ = registry.register(fitted(1.0), CARD, {})
    baseline_card = replace(CARD, candidate="recency", role=BASELINE_ROLE)
    # a baseline whose version sorts after the model's, so the hash alone would list it second
    baseline = next(
        v for c in (2.0, 3.0, 4.0, 5.0, 6.0, 7.0) if (v := registry.register(fitted(c), baseline_card, {})[0]) > model
    )
    for version in (model, baseline):  # both written within the same second
        card = replace(registry.card(version), created="2026-12-07T15:57:06+00:00")
        registry.store.write_bytes(f"models/{version}/card.json", json.dumps(card.to_dict()).encode())
    assert [c.version for c in registry.versions()] == [baseline, model]
    assert registry.latest() == model


def test_a_refused_candidate_leaves_production_recalibrated_on_its_newer_window(registry):
    """Production stays (the candidate does not beat it), but its probabilities follow the newest matured label
    days: its Platt scaling is refitted on the candidate's test window and promoted as a version of its own,
    ranking every row as before."""
    import numpy as np

    from churn_assets.core.modeling.candidates import calibrate
    from churn_assets.core.modeling.promotion import Bars, judge_latest

    rng = np.random.default_rng(3)
    x = rng.normal(size=4_000)
    old = pd.DataFrame({"x": x, "churned": (rng.random(4_000) < 1 / (1 + np.exp(-x))).astype(int)})
    fit = LogisticRegression().fit(old[["x"]], old["churned"])
    tiers = {"tiers_ordered": True, "tiers": {}}
    windows = {"test_first": "2026-01-18", "test_last": "2026-01-31"}
    card = replace(CARD, metrics={"pr_auc": 0.7, "roc_auc": 0.75}, calibration=tiers, windows=windows)
    good, _ = registry.register(calibrate(fit, old[["x"]], old["churned"].to_numpy()), card, {"test_set": old})
    registry.promote(good, "first")
    # a month later the same behaviour churns more: every user a logit unit more likely to
    new = pd.DataFrame({"x": x, "churned": (rng.random(4_000) < 1 / (1 + np.exp(-x - 1))).astype(int)})
    newer = {"test_first": "2026-02-15", "test_last": "2026-02-28"}
    refused = replace(card, metrics={"pr_auc": 0.6, "roc_auc": 0.7}, windows=newer)
    candidate, _ = registry.register(fitted(2.0), refused, {"test_set": new})

    judged = judge_latest(registry, Bars(0.005, 0.6, 0.02))
    now = registry.production()
    assert not judged.promoted and now not in (good, candidate) and judged.production_version == now
    assert judged.reason.endswith(f"; production {good} recalibrated on the newest matured label days as {now}")
    recalibration = registry.card(now).calibration["recalibrated_on"]
    assert {k: recalibration[k] for k in ("first", "last", "rows", "from")} == {
        "first": "2026-02-15", "last": "2026-02-28", "rows": 4_000, "from": good
    }  # fmt: skip
    assert recalibration["churn_rate"] == round(float(new["churned"].mean()), 4)
    before = registry.load(good).predict_proba(new[["x"]])[:, 1]
    after = registry.load(now).predict_proba(new[["x"]])[:, 1]
    assert (np.argsort(after, kind="stable") == np.argsort(before, kind="stable")).all()  # the same ranking
    assert abs(before.mean() - new["churned"].mean()) > 0.1  # the old calibration misses the new base rate
    assert abs(after.mean() - new["churned"].mean()) < 0.01  # the refitted one follows it
    assert registry.card(now).metrics == registry.card(good).metrics  # its test figures are production's
    assert registry.frame(now, "test_set").equals(old)
    page = registry.store.read_bytes(registry._key(now, "card.html")).decode()
    assert "Recalibrated on 2026-02-15\n&hellip; 2026-02-28 (4000 rows),\nwhile in production: the fitted model" in page
    assert f"and its ranking are {good}'s." in page
    assert [(d["version"], d["promoted"]) for d in registry.decisions()][-2:] == [(candidate, False), (now, True)]

    # judged again, nothing changes; a candidate of a window no newer than production's recalibrates nothing
    assert judge_latest(registry, Bars(0.005, 0.6, 0.02)).reason == "already production"
    time.sleep(1.1)  # the next training's model: registered in a later second than the recalibrated version
    same, _ = registry.register(fitted(3.0), replace(refused, windows=newer), {"test_set": new})
    judged = judge_latest(registry, Bars(0.005, 0.6, 0.02))
    assert judged.candidate_version == same and not judged.promoted and registry.production() == now
    assert "recalibrated" not in judged.reason


def test_a_production_model_without_platt_scaling_is_left_as_it_is(registry):
    """A model of an earlier release, served as fitted: nothing to refit, so a refused candidate changes nothing."""
    from churn_assets.core.modeling.promotion import Bars, judge_latest

    tiers = {"tiers_ordered": True, "tiers": {}}
    old = replace(CARD, calibration=tiers, windows={"test_first": "2026-01-18", "test_last": "2026-01-31"})
    good, _ = registry.register(fitted(1.0), old, {})
    registry.promote(good, "first")
    test = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "churned": [0, 1, 0, 1]})
    refused = replace(old, metrics={"pr_auc": 0.1, "roc_auc": 0.5}, windows={"test_last": "2026-02-28"})
    time.sleep(1.1)
    candidate, _ = registry.register(fitted(2.0), refused, {"test_set": test})
    judged = judge_latest(registry, Bars(0.005, 0.6, 0.02))
    assert judged.candidate_version == candidate and not judged.promoted
    assert registry.production() == good and "recalibrated" not in judged.reason
