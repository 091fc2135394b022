"""churn_assets: a Dagster asset platform for customer-churn machine learning."""

import warnings

import dagster as _dg

# Single-run backfill policies and partitioned asset checks are used deliberately; Dagster marks
# them beta/preview and would warn on every load.
warnings.filterwarnings("ignore", category=_dg.BetaWarning)
warnings.filterwarnings("ignore", category=_dg.PreviewWarning)
