"""Population stability index (PSI) per feature: how far today's distribution moved from the reference.

For a numeric feature the bins are the reference's deciles, with open-ended outer bins, so values outside
the reference range are counted in the first or last bin rather than dropped. A categorical feature has a
bin per reference category plus one for categories the reference never saw. Empty bins get a small
epsilon so the logarithm stays finite::

    PSI = sum over bins of (current% - reference%) * ln(current% / reference%)

Rule of thumb (and the defaults of the drift check): below 0.1 stable, 0.1-0.25 moderate, 0.25+ major.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from churn_assets.core.warehouse.feature_spec import GROWS_WITH_AGE

EPSILON = 1e-4
DRIFT_COLUMNS = (
    "feature",
    "psi",
    "important",
    "drifted",
    "reference_mean",
    "current_mean",
    "reference_median",
    "current_median",
)


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates from ties collapse)."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(counts: np.ndarray) -> np.ndarray:
    return np.maximum(counts / max(counts.sum(), 1), EPSILON)


def population_stability_index(reference, current, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference``: ``bins`` quantile bins of the reference for numbers, the
    reference's categories (and one bin for the unseen) for strings. 0 = the same distribution; above 0.2 is
    commonly read as a shift."""
    reference, current = np.asarray(reference), np.asarray(current)
    if reference.dtype == object or current.dtype == object:
        categories = pd.Index(pd.unique(reference))
        ref_codes = categories.get_indexer(reference)
        cur_codes = categories.get_indexer(current)  # -1: unseen in the reference
        n = len(categories) + 1
        ref_counts = np.bincount(ref_codes + 1, minlength=n)
        cur_counts = np.bincount(cur_codes + 1, minlength=n)
    else:
        edges = quantile_edges(reference.astype(float), bins)
        n = len(edges) + 1
        ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=n)
        cur_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=n)
    p, q = _shares(ref_counts), _shares(cur_counts)
    return float(np.sum((q - p) * np.log(q / p)))


def drift_table(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Iterable[str], important: Iterable[str], fail: float
) -> pd.DataFrame:
    """PSI and a summary per column; ``drifted`` where the verdict is drift: an ``important`` column (one the
    drift sensor watches) whose PSI reaches ``fail``. A column that is not watched is never called drifted, however
    large its PSI (a feature that grows with the calendar shifts every day): its PSI is in the table."""
    important = set(important)
    rows = []
    for column in columns:
        ref, cur = reference[column], current[column]
        numeric = pd.api.types.is_numeric_dtype(ref)
        psi = population_stability_index(ref.to_numpy(), cur.to_numpy())
        rows.append(
            {
                "feature": column,
                "psi": round(psi, 6),
                "important": column in important,
                "drifted": column in important and psi >= fail,
                "reference_mean": float(ref.mean()) if numeric else np.nan,
                "current_mean": float(cur.mean()) if numeric else np.nan,
                "reference_median": float(ref.median()) if numeric else np.nan,
                "current_median": float(cur.median()) if numeric else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS)).sort_values("psi", ascending=False, kind="stable")


def watched_features(importance: dict[str, float] | None, features: Iterable[str], top: int) -> list[str]:
    """The features whose drift can trigger a retrain: the model's ``top`` most important (``importance`` from
    its card; every feature is equal without one), leaving out those that grow with the calendar for every user
    (tenure, days since the first activity, lifetime totals). Their shift measures how old the population is,
    not how it behaves: on a customer base that stops growing their PSI rises every day whatever the customers
    do. They stay in the drift table, reported, just not watched."""
    features = list(features)
    importance = importance or {c: 1.0 for c in features}
    ranked = sorted((c for c in importance if c in features), key=lambda c: -importance[c])
    return [c for c in ranked if c not in GROWS_WITH_AGE][:top]
