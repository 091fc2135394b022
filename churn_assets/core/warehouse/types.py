"""user_type_features: each eligible user's events per *source* event type over the short and the long window,
and the short window's trend, in long form (one row per user, day and type the user had events of).

The kinds (``core/intake/vocabulary.py``) fold a source's types together; this table keeps them apart, for any
vocabulary: a social app's unfriends and ad views are not its posts and likes. Types mapped to ``ignore`` count
nowhere. Which types become model inputs is decided when a model is trained: the ``CHURN_TYPE_FEATURES`` most
frequent over its training window, recorded in its card (``type_features``); scoring and serving pivot the
same ones into columns (``type_pivot_select``), and a type the model never saw is ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, timedelta

from churn_assets.core.intake.vocabulary import IGNORE, Vocabulary
from churn_assets.core.warehouse.feature_spec import FeatureSpec
from churn_assets.core.warehouse.sql import epoch_day, ts

PREFIX = "type_"
# a type's text ends up in SQL as a string literal: accepted types never hold these (vocabulary.SOURCE_TYPE)
_UNQUOTABLE = re.compile(r"['\"\\]")


def user_type_features_select(schema: str, first: date, last: date, spec: FeatureSpec, vocabulary: Vocabulary) -> str:
    """Per eligible (user, day t) of user_features in first ... last and source type: events over the short
    and the long window up to t, and the short window against the one before it."""
    s, long = spec.short, spec.long
    ignored = [source for source, kind in vocabulary.mapping if kind == IGNORE]
    skip = f"AND event_type NOT IN ({', '.join(repr(t) for t in ignored)})" if ignored else ""
    # days as whole numbers, computed once per row of f and of e, not once per pair of the join
    age = "(f.t - e.d)"
    return f"""WITH f AS (
  SELECT user_id, as_of_date, {epoch_day("as_of_date")} AS t FROM {schema}.user_features
  WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
),
e AS (
  SELECT user_id, {epoch_day("event_time")} AS d, event_type, COUNT(*) AS n
  FROM {schema}.raw_events
  WHERE event_time >= {ts(first - timedelta(days=spec.lookback_days - 1))}
    AND event_time < {ts(last + timedelta(days=1))} {skip}
  GROUP BY 1, 2, 3
)
SELECT
  f.user_id AS user_id,
  f.as_of_date AS as_of_date,
  e.event_type AS event_type,
  SUM(IF({age} < {s}, e.n, 0)) AS short_events,
  SUM(IF({age} < {long}, e.n, 0)) AS long_events,
  SUM(IF({age} < {s}, e.n, 0)) - SUM(IF({age} >= {s} AND {age} < {2 * s}, e.n, 0)) AS trend_events
FROM f
JOIN e ON e.user_id = f.user_id AND e.d <= f.t AND e.d > f.t - {spec.lookback_days}
GROUP BY 1, 2, 3"""


def type_ranking_select(schema: str, first: date, last: date) -> str:
    """The source types by their events over first ... last (the long window's counts of the eligible users),
    the most frequent first; ties by name."""
    return f"""SELECT event_type, SUM(long_events) AS events FROM {schema}.user_type_features
WHERE as_of_date >= {ts(first)} AND as_of_date <= {ts(last)}
GROUP BY event_type ORDER BY events DESC, event_type"""


def chosen_types(ranking, count: int) -> dict[str, str]:
    """The ``count`` most frequent types of a ``type_ranking_select`` result, with their columns' prefix: the set
    a model is trained with."""
    return type_prefixes(list(ranking["event_type"].head(count))) if count else {}


def with_types(schema: str, select: str, prefixes: dict[str, str], spec: FeatureSpec) -> str:
    """The rows of ``select`` (with user_id and as_of_date) and the columns of the types of ``prefixes``."""
    if not prefixes:
        return select
    keys = "SELECT user_id, as_of_date FROM base"
    columns = ", ".join(f"p.{c}" for c in type_feature_names(prefixes, spec))
    return f"""WITH base AS ({select}),
p AS ({type_pivot_select(schema, keys, prefixes, spec)})
SELECT base.*, {columns}
FROM base JOIN p ON p.user_id = base.user_id AND p.as_of_date = base.as_of_date"""


def type_prefixes(types: Sequence[str]) -> dict[str, str]:
    """Each type's column prefix: ``type_`` and the name in lower-case letters, digits and underscores; a name
    that had to be changed (spaces, accents, capitals) gets 6 characters of its digest, so two never collide."""
    out = {}
    for name in types:
        if _UNQUOTABLE.search(name):
            continue  # never accepted by validation; never put into SQL text
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]
        if slug != name:
            slug = f"{slug}_{hashlib.md5(name.encode()).hexdigest()[:6]}".lstrip("_")
        out[name] = f"{PREFIX}{slug}"
    return out


def type_feature_names(prefixes: dict[str, str], spec: FeatureSpec) -> list[str]:
    """The model inputs of the types: per type the short and long counts and the short window's trend."""
    return [n for p in prefixes.values() for n in (f"{p}_{spec.short}", f"{p}_{spec.long}", f"{p}_trend_{spec.short}")]


def type_pivot_select(schema: str, keys: str, prefixes: dict[str, str], spec: FeatureSpec) -> str:
    """The types of ``prefixes`` as columns for the (user_id, as_of_date) rows of the SELECT ``keys``; a type a
    user had no events of is 0."""
    sums = []
    for name, prefix in prefixes.items():
        for column, suffix in (("short_events", spec.short), ("long_events", spec.long)):
            sums.append(f"COALESCE(SUM(IF(t.event_type = '{name}', t.{column}, 0)), 0) AS {prefix}_{suffix}")
        sums.append(f"COALESCE(SUM(IF(t.event_type = '{name}', t.trend_events, 0)), 0) AS {prefix}_trend_{spec.short}")
    columns = ",\n  ".join(sums)
    return f"""SELECT k.user_id AS user_id, k.as_of_date AS as_of_date,
  {columns}
FROM ({keys}) AS k
LEFT JOIN {schema}.user_type_features AS t ON t.user_id = k.user_id AND t.as_of_date = k.as_of_date
GROUP BY 1, 2"""
