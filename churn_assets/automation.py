"""Jobs over the asset graph. ``churn-assets run`` launches them; schedules and sensors target them."""

from __future__ import annotations

import dagster as dg

users_job = dg.define_asset_job(
    "users_job",
    selection=dg.AssetSelection.assets("raw_users", "raw_users_quarantine"),
    description="Load and validate the user table.",
)

daily_data_job = dg.define_asset_job(
    "daily_data_job",
    selection=dg.AssetSelection.assets("raw_events", "raw_events_quarantine", "user_daily", "user_features"),
    description="Events of a day (or a range, in one run) to per-user aggregates and rolling features.",
)

labels_job = dg.define_asset_job(
    "labels_job",
    selection=dg.AssetSelection.assets("churn_labels"),
    description="Churn labels of days whose label horizon is complete.",
)

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets("training_set", "churn_model"),
    description="Build the training set of a window ending on a label-complete day and train the candidates.",
)

promotion_job = dg.define_asset_job(
    "promotion_job",
    selection=dg.AssetSelection.assets("production_model"),
    description="Judge the newest trained model against production and promote it if it is better.",
)

predictions_job = dg.define_asset_job(
    "predictions_job",
    selection=dg.AssetSelection.assets("churn_predictions"),
    description="Score every eligible user of a day with the production model.",
)

JOBS = [users_job, daily_data_job, labels_job, training_job, promotion_job, predictions_job]
