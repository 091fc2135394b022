import base64
import json
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


def test_values_are_read():
    env = {"CHURN_USERS": "50", "CHURN_START_DATE": "2026-02-01", "CHURN_EVENTS_FILE": "e.csv"}
    s = Settings.from_env(env)
    assert (s.users, s.start_date, s.events_file) == (50, date(2026, 2, 1), "e.csv")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHURN_DAYS": "many"}, "CHURN_DAYS='many' is not a whole number"),
        ({"CHURN_START_DATE": "01/02/2026"}, "CHURN_START_DATE='01/02/2026' is not a date like 2026-01-01"),
        ({"CHURN_DEPLOYMENT": "mars"}, "CHURN_DEPLOYMENT='mars' is not a known deployment"),
        ({"CHURN_USERS": "9"}, "CHURN_USERS must be at least 10, got 9"),
        ({"CHURN_MAX_REJECT_SHARE": "2"}, "CHURN_MAX_REJECT_SHARE must be within [0, 1], got 2.0"),
        ({"CHURN_MAX_SHRINK": "1.5"}, "CHURN_MAX_SHRINK must be within [0, 1], got 1.5"),
        ({"CHURN_BQ_RETRY_SECONDS": "0"}, "CHURN_BQ_RETRY_SECONDS must be within [1, 3600], got 0.0"),
        ({"CHURN_DEPLOYMENT": "gcp", "CHURN_GCS_BUCKET": "b"}, "CHURN_DEPLOYMENT=gcp needs CHURN_GCP_PROJECT"),
        ({"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "p"}, "CHURN_DEPLOYMENT=gcp needs CHURN_GCS_BUCKET"),
        ({"CHURN_DRIFT_FROM": "soon"}, "CHURN_DRIFT_FROM='soon' is not a date like 2026-01-01"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert message in str(err.value)


GCP = {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "my-project", "CHURN_GCS_BUCKET": "my-bucket"}


def test_gcp_settings_with_defaults():
    s = Settings.from_env(GCP)
    assert (s.gcp_project, s.bq_dataset, s.bq_location, s.gcs_bucket, s.gcs_prefix) == (
        "my-project",
        "churn",
        None,
        "my-bucket",
        "churn",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHURN_PROMOTION_MARGIN": "-1"}, "CHURN_PROMOTION_MARGIN must be within [0, 1], got -1.0"),
        ({"CHURN_PROMOTION_FLOOR_ROC_AUC": "5"}, "CHURN_PROMOTION_FLOOR_ROC_AUC must be within [0.5, 1], got 5.0"),
        ({"CHURN_PROMOTION_FLOOR_ROC_AUC": "0.2"}, "CHURN_PROMOTION_FLOOR_ROC_AUC must be within [0.5, 1], got 0.2"),
        ({"CHURN_BASELINE_MARGIN": "-0.01"}, "CHURN_BASELINE_MARGIN must be within [0, 1], got -0.01"),
        ({"CHURN_DRIFT_TOP_FEATURES": "-3"}, "CHURN_DRIFT_TOP_FEATURES must be at least 1, got -3"),
        ({"CHURN_CONTROL_SHARE": "0.9"}, "CHURN_CONTROL_SHARE must be within [0, 0.5], got 0.9"),
        ({"CHURN_CALL_LIST_SIZE": "0"}, "CHURN_CALL_LIST_SIZE must be at least 1, got 0"),
        ({"CHURN_CALL_COST": "-5"}, "CHURN_CALL_COST must be within [0, 1000000000.0], got -5.0"),
        ({"CHURN_CALL_BUDGET": "-1"}, "CHURN_CALL_BUDGET must be within [0, 1000000000000.0], got -1.0"),
        ({"CHURN_CALL_BUDGET": "1000"}, "CHURN_CALL_BUDGET needs CHURN_CALL_COST (what one call costs)"),
        ({"CHURN_DECAY_DAYS": "0"}, "CHURN_DECAY_DAYS must be at least 1, got 0"),
        ({"CHURN_DECAY_MARGIN": "2"}, "CHURN_DECAY_MARGIN must be within [0, 1], got 2.0"),
        ({"CHURN_SIM_RETENTION_EFFECT": "1.5"}, "CHURN_SIM_RETENTION_EFFECT must be within [0, 1], got 1.5"),
        (
            {"CHURN_REFRESH_CRON": "hourly"},
            "CHURN_REFRESH_CRON='hourly' is not a cron schedule of five fields, e.g. '0 * * * *'",
        ),
        ({"CHURN_VOLUME_TOLERANCE": "inf"}, "CHURN_VOLUME_TOLERANCE must be a finite number, got inf"),
        (
            {"CHURN_VOLUME_TOLERANCE": "1e9"},
            "CHURN_VOLUME_TOLERANCE must be above 1 and at most 1000, got 1000000000.0",
        ),
        ({"CHURN_RISK_HIGH": "nan"}, "CHURN_RISK_HIGH must be a finite number, got nan"),
        ({"CHURN_DRIFT_FAIL_PSI": "inf"}, "CHURN_DRIFT_FAIL_PSI must be a finite number, got inf"),
        (GCP | {"CHURN_BQ_DATASET": "churn; DROP TABLE x"}, "CHURN_BQ_DATASET='churn; DROP TABLE x' is not letters"),
        (GCP | {"CHURN_BQ_DATASET": "a`b"}, "CHURN_BQ_DATASET='a`b' is not letters, digits and underscores"),
        (GCP | {"CHURN_GCP_PROJECT": "p"}, "CHURN_GCP_PROJECT='p' is not a project id"),
        (GCP | {"CHURN_GCS_BUCKET": "B/../x"}, "CHURN_GCS_BUCKET='B/../x' is not a bucket name"),
        (GCP | {"CHURN_GCS_PREFIX": "a/../../b"}, "CHURN_GCS_PREFIX='a/../../b' is not a plain object prefix"),
    ],
)
def test_meaningless_values_are_refused(env, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert message in str(err.value)


def service_account_b64(private_key: str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n") -> str:
    info = {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": private_key}
    return base64.b64encode(json.dumps(info).encode()).decode()


def test_credentials_are_kept_by_variable_name_only():
    secret = service_account_b64()
    s = Settings.from_env(GCP | {"CHURN_GCP_CREDENTIALS_B64": secret})
    assert s.gcp_credentials_var == "CHURN_GCP_CREDENTIALS_B64"
    assert secret not in repr(s)


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b'{"type": "user"}').decode(), "e30="])
def test_credentials_that_are_not_a_service_account_key_are_refused_without_showing_them(value):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(GCP | {"CHURN_GCP_CREDENTIALS_B64": value})
    assert "CHURN_GCP_CREDENTIALS_B64 is set but is not a base64-encoded service-account JSON key" in str(err.value)
    assert value not in str(err.value)


def test_feature_windows_and_eligibility_are_settings():
    s = Settings.from_env({"CHURN_FEATURE_WINDOWS": "90,7,30", "CHURN_ELIGIBILITY_DAYS": "60"})
    assert (s.feature_spec.windows, s.feature_spec.eligibility_days, s.feature_spec.lookback_days) == (
        (7, 30, 90),
        60,
        90,
    )


def test_duckdb_memory_limit_reaches_the_warehouse(tmp_path):
    from churn_assets.defs.deployment import build_resources

    settings = Settings.from_env({"CHURN_DATA_DIR": str(tmp_path), "CHURN_DUCKDB_MEMORY_LIMIT": "512MB"})
    engine = build_resources(settings)["warehouse"].engine()
    limit = engine.query("SELECT current_setting('memory_limit') AS m")["m"][0]
    assert (settings.duckdb_memory_limit, limit) == ("512MB", "488.2 MiB")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHURN_FEATURE_WINDOWS": "7,7,30"}, "CHURN_FEATURE_WINDOWS='7,7,30': feature windows repeat a day"),
        ({"CHURN_FEATURE_WINDOWS": "week"}, "CHURN_FEATURE_WINDOWS='week': feature windows must be whole days"),
        ({"CHURN_FEATURE_WINDOWS": "0,30"}, "CHURN_FEATURE_WINDOWS='0,30': feature windows must be distinct positive"),
        ({"CHURN_FEATURE_WINDOWS": "7,400"}, "the longest window is at most 366 days, got 400"),
        ({"CHURN_ELIGIBILITY_DAYS": "0"}, "CHURN_ELIGIBILITY_DAYS must be at least 1, got 0"),
        ({"CHURN_TRAINING_MAX_ROWS": "500"}, "CHURN_TRAINING_MAX_ROWS must be at least 1000, got 500"),
        ({"CHURN_DUCKDB_MEMORY_LIMIT": "1GB'; DROP"}, 'CHURN_DUCKDB_MEMORY_LIMIT="1GB\'; DROP" is not a memory size'),
        ({"CHURN_DUCKDB_MEMORY_LIMIT": "lots"}, "CHURN_DUCKDB_MEMORY_LIMIT='lots' is not a memory size"),
        ({"CHURN_EVENT_TYPES": "order=buy"}, "CHURN_EVENT_TYPES: 'order=buy' maps to 'buy'; kinds are"),
        ({"CHURN_PROFILE": "retail"}, "CHURN_PROFILE must be one of ['subscription', 'purchase'], got 'retail'"),
        (
            {"CHURN_EVENTS_QUERY": "shop.orders"},
            "CHURN_EVENTS_QUERY (a BigQuery events source) needs CHURN_DEPLOYMENT=gcp and no CHURN_EVENTS_FILE",
        ),
    ],
)
def test_bad_feature_and_training_settings_are_refused(env, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert message in str(err.value)


QUERY_GCP = {"CHURN_DEPLOYMENT": "gcp", "CHURN_GCP_PROJECT": "my-project", "CHURN_GCS_BUCKET": "churn-bucket"}


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("SELECT * FROM shop.orders; CREATE TABLE shop.x AS SELECT 1", "holds 2 statements; give one SELECT"),
        ("DELETE FROM shop.orders WHERE TRUE", "is a DELETE statement, not a SELECT"),
        ("INSERT INTO shop.orders SELECT * FROM shop.orders", "is a INSERT statement, not a SELECT"),
        ("SELEC * FROM shop.orders", "is not GoogleSQL that parses"),
        ("SELECT * FROM (SELECT 1", "is not GoogleSQL that parses"),
    ],
)
def test_the_events_query_must_be_one_read_only_select(query, problem):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(QUERY_GCP | {"CHURN_EVENTS_QUERY": query})
    assert str(err.value).startswith(f"CHURN_EVENTS_QUERY {problem}")


@pytest.mark.parametrize(
    "query", ["shop.orders", "SELECT user_id, event_time FROM shop.orders WHERE kind != 'test'",
              "WITH o AS (SELECT * FROM shop.orders) SELECT * FROM o UNION ALL SELECT * FROM shop.refunds"]
)  # fmt: skip
def test_a_table_name_or_one_select_is_accepted(query):
    assert Settings.from_env(QUERY_GCP | {"CHURN_EVENTS_QUERY": query}).events_query == query
