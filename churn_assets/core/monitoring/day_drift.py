"""One day's drift against the reference of the model that scored it: the PSI table, the check's outcome, and
an Evidently report of the same columns (no Dagster here; ``defs/assets/monitoring.py`` stores and links it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_assets.core.modeling.training import numeric_features
from churn_assets.core.monitoring.drift import drift_table, watched_features
from churn_assets.core.quality import Outcome

PREDICTION = "churn_probability"


@dataclass
class DayDrift:
    version: str
    table: pd.DataFrame  # one row per feature and the prediction: PSI, important, drifted, means, medians
    html: str  # the Evidently report
    evidently_share: float
    evidently_drifted: int


def drift_outcome(table: pd.DataFrame, *, warn: float, fail: float) -> Outcome:
    """The drift check's verdict on a day's PSI table: WARN at ``warn``, ERROR at ``fail`` (of the important
    features' largest PSI)."""
    watched = table[table["important"]]
    worst = watched.iloc[0] if len(watched) else None
    meta = {
        "max_important_psi": float(worst["psi"]) if worst is not None else 0.0,
        "features_at_warn": watched.loc[watched["psi"] >= warn, "feature"].tolist(),
    }
    if worst is None or worst["psi"] < warn:
        return Outcome(True, "WARN", f"all important features below PSI {warn}", meta)
    severity = "ERROR" if worst["psi"] >= fail else "WARN"
    return Outcome(False, severity, f"{worst['feature']} has PSI {worst['psi']:.3f} (warn {warn}, fail {fail})", meta)


def largest_shift(table: pd.DataFrame) -> str:
    """The column with the largest PSI of a day's table, watched or not: what moved most, drift or no drift."""
    top = table.sort_values("psi", ascending=False, kind="stable").iloc[0]
    return f"{top['feature']} (PSI {top['psi']:.3f}{'' if top['important'] else ', not watched'})"


def compare_day(
    day: str, features: pd.DataFrame, predictions: pd.DataFrame, registry, version: str, top: int, fail_psi: float
) -> DayDrift:
    """Day ``day``'s features and predicted probabilities against model ``version``'s reference (a sample of its
    test window) in ``registry``."""
    # imported here: Evidently and scikit-learn take seconds to import, and every process that loads
    # the definitions (webserver, daemon, each run) would pay for it
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from churn_assets.core.modeling.candidates import predict_proba

    card = registry.card(version)
    reference = registry.frame(version, "reference")
    # the columns of user_features: a model's per-source-type inputs live in user_type_features, not watched here
    names = [n for n in card.features if n in features.columns]
    reference[PREDICTION] = predict_proba(registry.load(version), reference, card.features)
    current = features.merge(predictions[["user_id", PREDICTION]], on="user_id")
    important = [*watched_features(card.feature_importance, names, top), PREDICTION]
    table = drift_table(reference, current, [*names, PREDICTION], important, fail_psi)
    table.insert(0, "as_of_date", pd.Timestamp(day, tz="UTC"))
    table["model_version"] = version

    # Evidently's report covers what the sensor watches (the important features and the prediction), so its
    # verdict and the PSI table's `important` rows speak of the same columns; every feature's PSI is in the table.
    numeric = numeric_features(important)  # the prediction last, as in `important`
    # Evidently correlates the current columns; a column that is constant on a day (no minutes in a purchase log)
    # has no deviation, and numpy would warn on each division by zero. The drift of such a column is still
    # judged, here and in the PSI table.
    with np.errstate(divide="ignore", invalid="ignore"):
        snapshot = Report([DataDriftPreset()]).run(current_data=current[numeric], reference_data=reference[numeric])
    evidently = snapshot.dict()["metrics"][0]["value"]
    html = snapshot.get_html_str(as_iframe=False)
    return DayDrift(version, table, html, round(float(evidently["share"]), 4), int(evidently["count"]))
