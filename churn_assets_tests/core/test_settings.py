from datetime import date
from pathlib import Path

import pytest

from churn_assets.settings import Settings, SettingsError


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert (s.deployment, s.data_dir, s.start_date, s.days, s.users, s.label_horizon_days) == (
        "local",
        Path(".churn"),
        date(2026, 1, 1),
        120,
        2000,
        30,
    )
    assert s.warehouse_path == Path(".churn/warehouse.duckdb")


def test_values_are_read_and_round_trip():
    env = {"CHURN_USERS": "50", "CHURN_START_DATE": "2026-02-01", "CHURN_EVENTS_FILE": "e.csv"}
    s = Settings.from_env(env)
    assert (s.users, s.start_date, s.events_file) == (50, date(2026, 2, 1), "e.csv")
    assert Settings.from_env(s.as_env()) == s


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHURN_DAYS": "many"}, "CHURN_DAYS='many' is not a whole number"),
        ({"CHURN_START_DATE": "01/02/2026"}, "CHURN_START_DATE='01/02/2026' is not a date like 2026-01-01"),
        ({"CHURN_DEPLOYMENT": "mars"}, "CHURN_DEPLOYMENT='mars' is not a known deployment"),
        ({"CHURN_USERS": "0"}, "CHURN_USERS must be at least 1, got 0"),
        ({"CHURN_MAX_REJECT_SHARE": "2"}, "CHURN_MAX_REJECT_SHARE must be within [0, 1], got 2.0"),
        ({"CHURN_DEPLOYMENT": "gcp", "CHURN_GCS_BUCKET": "b"}, "CHURN_DEPLOYMENT=gcp needs CHURN_GCP_PROJECT"),
        ({"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "p"}, "CHURN_DEPLOYMENT=gcp needs CHURN_GCS_BUCKET"),
        ({"CHURN_DRIFT_FROM": "soon"}, "CHURN_DRIFT_FROM='soon' is not a date like 2026-01-01"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert message in str(err.value)


def test_gcp_settings_with_defaults():
    s = Settings.from_env({"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "p", "CHURN_GCS_BUCKET": "b"})
    assert (s.gcp_project, s.bq_dataset, s.bq_location, s.gcs_bucket, s.gcs_prefix) == (
        "p",
        "churn",
        None,
        "b",
        "churn",
    )
