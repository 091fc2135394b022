import json
import pickle

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from churn_assets.core.artifacts import LocalArtifactStore
from churn_assets.core.registry import ModelIntegrityError, ModelRegistry, RegistryError

CARD = {"metrics": {"pr_auc": 0.5, "roc_auc": 0.8}, "threshold": 0.3, "windows": {}}


def fitted(c: float) -> LogisticRegression:
    return LogisticRegression(C=c).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(LocalArtifactStore(tmp_path / "artifacts"))


def test_register_and_load_round_trip_with_card(registry, tmp_path):
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


def test_a_tampered_artifact_is_refused(registry, tmp_path):
    version, _ = registry.register(fitted(1.0), CARD, {})
    path = tmp_path / "artifacts" / "models" / version / "model.joblib"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=f"model {version}: sha256 of .* refusing to load"):
        registry.load(version)


def test_a_foreign_file_is_never_unpickled(registry, tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    version, _ = registry.register(fitted(1.0), CARD, {})
    (tmp_path / "artifacts" / "models" / version / "model.joblib").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelIntegrityError):
        registry.load(version)
    assert not marker.exists()
    # a folder with a model but no card is not a version at all
    foreign = tmp_path / "artifacts" / "models" / "m-foreign" / "model.joblib"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(pickle.dumps(Evil()))
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
