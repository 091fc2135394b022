"""The jobs: which assets run together, by name only (the automation in ``defs/automation.py`` requests them)."""

import dagster as dg

DATA_ASSETS = [
    "raw_events",
    "raw_events_quarantine",
    "user_daily",
    "user_state",
    "subscription_state",
    "user_features",
    "user_type_features",
]
USER_ASSETS = ["raw_users", "raw_users_quarantine", "raw_subscriptions", "raw_subscriptions_quarantine"]
DAILY_ASSETS = [*DATA_ASSETS, "churn_predictions", "call_list", "drift_report"]
RETRAIN_ASSETS = ["training_set", "churn_model", "production_model"]

users_job = dg.define_asset_job(
    "users_job",
    selection=dg.AssetSelection.assets(*USER_ASSETS),
    description="Load and validate the user table and the subscription periods.",
)
daily_data_job = dg.define_asset_job(
    "daily_data_job",
    selection=dg.AssetSelection.assets(*DATA_ASSETS),
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
    selection=dg.AssetSelection.assets("churn_predictions", "call_list"),
    description="Score every eligible user of a day with the production model; the day's call list.",
)
outcomes_job = dg.define_asset_job(
    "outcomes_job",
    selection=dg.AssetSelection.assets("prediction_outcomes"),
    description="How right a scored day's predictions were, once its labels exist.",
)
drift_job = dg.define_asset_job(
    "drift_job",
    selection=dg.AssetSelection.assets("drift_report"),
    description="Compare a scored day with the reference of the model that scored it (a sample of its test window).",
)
daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="The daily refresh of a day: data, features, predictions and the drift report.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(*RETRAIN_ASSETS),
    description="Retrain on the window ending on a label-complete day, then judge the model for promotion.",
)


JOBS = [
    users_job,
    daily_data_job,
    labels_job,
    training_job,
    promotion_job,
    predictions_job,
    drift_job,
    outcomes_job,
    daily_job,
    retrain_job,
]
