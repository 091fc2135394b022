"""Model files that load without running code from them: skops, a trusted-type list, and the bytes' sha256.

Why skops and not pickle/joblib: unpickling a file runs whatever code the file names, so anyone able to replace an
artifact could run code in every process that loads the model. A skops file is a zip of JSON and numpy arrays;
loading it builds only types on an explicit trusted list and calls no ``__reduce__``. A file naming any other
type is refused before anything is built.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any


def _skops():
    """skops.io, imported when a model is saved or loaded: importing it loads scikit-learn, seconds that
    every process that only loads the definitions (webserver, daemon, data runs) would pay for."""
    import skops.io

    return skops.io


# Types beyond skops' own defaults (scikit-learn, numpy, builtins) that the candidates are built from.
TRUSTED_TYPES = frozenset(
    {
        "imblearn.pipeline.Pipeline",
        "imblearn.over_sampling._smote.base.SMOTE",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "churn_assets.core.modeling.baselines.BGNBDClassifier",  # this project's BG/NBD candidate: four floats
        "churn_assets.core.modeling.baselines.RecencyClassifier",  # recency alone as a model: nothing learned
        "churn_assets.core.modeling.sbg.SBGClassifier",  # the shifted-beta-geometric baseline: two floats
        "churn_assets.core.modeling.btyd.BTYDFeatures",  # BG/NBD's view of a customer as features: four floats
        # the Platt scaling every candidate is wrapped in (core/modeling/candidates.py: calibrate)
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        # the stacked candidate: its folds (plain numbers) and its learners by name (a dict)
        "sklearn.model_selection._split.KFold",
        "sklearn.utils._bunch.Bunch",
        # scikit-learn 1.5-1.6 only: a ColumnTransformer's remainder columns, a plain list subclass
        "sklearn.compose._column_transformer._RemainderColsList",
    }
)


class ModelIntegrityError(ValueError):
    """A model artifact that does not match its version id or card, has none, or names untrusted types."""


def sha256(data: bytes) -> str:
    """The hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def dumps(model: Any) -> bytes:
    """A model as skops bytes (a format that loads without running code from the file), canonical: the same fitted
    model gives the same bytes in any process, so its digest, the version id, names what the model is."""
    return canonical_skops(_skops().dumps(model))


FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest time, for every entry


def canonical_skops(data: bytes) -> bytes:
    """skops bytes rewritten so that the same model gives the same bytes: skops names each object by ``id(obj)``,
    a memory address that differs in every process, and stamps each zip entry with the time. Here the ids are
    renumbered in the order the schema first names them, each array file is named after its new id, and the
    entries are written in a fixed order with a fixed time. What loads is unchanged."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        arrays = {name: archive.read(name) for name in archive.namelist() if name != "schema.json"}
    ids: dict[int, int] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                node["file"] = f"{ids.setdefault(int(node['file'][:-4]), len(ids) + 1)}.npy"
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    renamed = {ids[int(name[:-4])]: body for name, body in arrays.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for number in sorted(renamed):
            archive.writestr(zipfile.ZipInfo(f"{number}.npy", date_time=FIXED_TIME), renamed[number])
        archive.writestr(zipfile.ZipInfo("schema.json", date_time=FIXED_TIME), json.dumps(schema, indent=2))
    return out.getvalue()


def load_verified(data: bytes, version: str, key: str, card_sha256: str | None) -> Any:
    """Model ``version`` from the bytes of ``key``, once their sha256 starts with the version id's digits and
    equals the card's, and they name only trusted types; else a ModelIntegrityError saying which."""
    digest = sha256(data)
    if not digest.startswith(version[2:]) or digest != card_sha256:
        raise ModelIntegrityError(
            f"model {version}: sha256 of {key} is {digest[:16]}…, its version id and card say "
            f"{version[2:]}… and {str(card_sha256)[:16]}…; refusing to load a modified or foreign file"
        )
    try:
        untrusted = set(_skops().get_untrusted_types(data=data))
    except Exception as exc:  # not a skops zip at all
        raise ModelIntegrityError(f"model {version}: {key} is not a skops file ({exc})") from None
    if untrusted - TRUSTED_TYPES:
        raise ModelIntegrityError(
            f"model {version}: {key} names types outside the trusted list: {sorted(untrusted - TRUSTED_TYPES)}"
        )
    return _skops().loads(data, trusted=sorted(untrusted))
