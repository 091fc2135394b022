"""The code location: every asset, check and job, with the resources of the configured deployment."""

from __future__ import annotations

import dagster as dg

from churn_assets.assets import activity, features, ingestion, labels, models, scoring
from churn_assets.automation import JOBS
from churn_assets.deployment import build_resources
from churn_assets.partitions import SETTINGS

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, activity, features, labels, models, scoring]),
    jobs=JOBS,
    resources=build_resources(SETTINGS),
)
