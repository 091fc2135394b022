import json
import pickle

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from churn_assets.core.artifacts import ArtifactNotFound, LocalArtifactStore
from churn_assets.core.registry import ModelIntegrityError, ModelRegistry, RegistryError

CARD = {"metrics": {"pr_auc": 0.5, "roc_auc": 0.8}, "threshold": 0.3, "windows": {}}


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
    assert card["version"] == version and card["metrics"]["roc_auc"] == 0.8
    assert len(card["sha256"]) == 64 and card["artifact"] == f"models/{version}/model.joblib"
    assert registry.load(version).predict([[3.0]]).tolist() == [1]
    assert registry.frame(version, "test_set")["x"].tolist() == [1, 2]
    # the same model again is the same version, not a new one
    assert registry.register(fitted(1.0), CARD, {}) == (version, False)
    assert [c["version"] for c in registry.versions()] == [version]


def test_a_tampered_artifact_is_refused(registry):
    version, _ = registry.register(fitted(1.0), CARD, {})
    key = f"models/{version}/model.joblib"
    data = bytearray(registry.store.read_bytes(key))
    data[-10] ^= 0xFF
    registry.store.write_bytes(key, bytes(data))
    with pytest.raises(ModelIntegrityError, match=f"model {version}: sha256 of .* refusing to load"):
        registry.load(version)


def test_a_foreign_file_is_never_unpickled(registry, tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    version, _ = registry.register(fitted(1.0), CARD, {})
    registry.store.write_bytes(f"models/{version}/model.joblib", pickle.dumps(Evil()))
    with pytest.raises(ModelIntegrityError):
        registry.load(version)
    assert not marker.exists()
    # a folder with a model but no card is not a version at all
    registry.store.write_bytes("models/m-foreign/model.joblib", pickle.dumps(Evil()))
    with pytest.raises(RegistryError, match="no model version 'm-foreign'"):
        registry.load("m-foreign")
    assert not marker.exists()
    assert [c["version"] for c in registry.versions()] == [version]


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
    with pytest.raises(RegistryError, match="no model version 'm-nope'"):
        registry.rollback("m-nope")


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

    from churn_assets.io.gcs import GCSArtifacts

    artifacts = GCSArtifacts(gcs=GCSResource(project="churn-test"), bucket=gcs_bucket, prefix="deploy")
    version, created = artifacts.registry().register(fitted(1.0), CARD, {})
    assert created and artifacts.registry().load(version).predict([[0.0]]).tolist() == [0]
    assert (
        artifacts.store().uri(f"models/{version}/card.json") == f"gs://{gcs_bucket}/deploy/models/{version}/card.json"
    )
