"""The embedded instance's storage (wiring/instance_storage.py): Dagster's SQLite files in Dagster's places, with
event-log databases kept open, and every event visible to readers that use Dagster's own storage class."""

import argparse
import os
import re
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from churn_assets.cli.commands import apply_options
from churn_assets.cli.instance import POSTGRES_URL, instance_yaml, write_instance_config
from churn_assets.wiring.instance_storage import PooledSqliteEventLogStorage
from churn_assets.wiring.internals import SqliteEventLogStorage

MARKS = 60


@dg.asset
def marks(context: dg.AssetExecutionContext) -> None:
    """Sixty materializations of another asset in one step: the events of a busy partitioned run."""
    for i in range(MARKS):
        context.log_event(dg.AssetMaterialization("mark", partition=None, metadata={"i": i}))


@pytest.fixture
def cli_instance(tmp_path, monkeypatch):
    """The instance ``churn-assets`` creates in a new data directory."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    apply_options(argparse.Namespace(data_dir=str(tmp_path / "data")))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _open_files(pattern: str) -> list[str]:
    """Files this process holds open whose path contains ``pattern``."""
    fds = Path("/proc/self/fd")
    return [p for p in (os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()) if pattern in p]


def test_the_cli_instance_keeps_its_event_log_open_and_dagsters_own_reader_sees_every_event(cli_instance, tmp_path):
    home = Path(os.environ["DAGSTER_HOME"])
    assert home == (tmp_path / "data" / "dagster").resolve()
    assert type(cli_instance.event_log_storage) is PooledSqliteEventLogStorage
    assert "SqliteStorage" in (home / "dagster.yaml").read_text()

    result = dg.materialize([marks], instance=cli_instance)
    assert result.success
    run_db = home / "history" / "runs" / f"{result.run_id}.db"
    assert run_db.exists()  # Dagster's layout: an existing instance keeps its history
    kept_open = sorted(_open_files(str(run_db)))  # one connection, not one per event: the database and its WAL
    assert kept_open == [str(run_db), f"{run_db}-shm", f"{run_db}-wal"]

    # a reader using Dagster's own class (the webserver of an older release) sees every event, while it is open
    reader = SqliteEventLogStorage(str(home / "history" / "runs"))
    logged = reader.get_records_for_run(result.run_id, limit=10_000).records
    marks_seen = [
        r for r in logged if r.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert len(marks_seen) == MARKS + 1  # sixty marks and the asset itself
    mirrored = cli_instance.fetch_materializations(dg.AssetKey("mark"), limit=100).records
    assert [r.event_log_entry.asset_materialization.metadata["i"].value for r in mirrored] == list(range(MARKS))[::-1]
    # Dagster asked whether the index has its tags table before each of the 61 materializations: once, then known
    assert "asset_event_tags" in cli_instance.event_log_storage._tables

    cli_instance.dispose()  # the databases are closed (and checkpointed) with the instance
    assert _open_files(str(home)) == []
    assert not Path(f"{run_db}-wal").exists()


def test_a_watcher_of_a_run_hears_each_write_as_it_did_before(cli_instance, tmp_path):
    """The webserver's live view of a run watches the run's database file; a kept-open connection no longer
    rewrites it on every event, so the storage touches it."""
    result = dg.materialize([marks], instance=cli_instance)
    home = os.environ["DAGSTER_HOME"]
    reader = SqliteEventLogStorage(str(Path(home) / "history" / "runs"))
    heard: list[str] = []
    records = reader.get_records_for_run(result.run_id, limit=10_000)
    reader.watch(result.run_id, records.cursor, lambda entry, cursor: heard.append(entry.user_message))
    try:
        time.sleep(0.5)  # the watcher is started
        for text in ("first note", "second note"):
            cli_instance.event_log_storage.store_event(
                dg.EventLogEntry(
                    error_info=None,
                    level=20,
                    user_message=text,
                    run_id=result.run_id,
                    timestamp=time.time(),
                    dagster_event=None,
                    job_name=result.job_def.name,
                )
            )
        deadline = time.monotonic() + 10
        while len(heard) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        reader.dispose()
    assert heard == ["first note", "second note"]


SECRET_URL = "postgresql+psycopg2://churn:s3cret-value@db.internal:5432/dagster"


def test_the_instance_file_follows_the_storage_switch_and_never_holds_the_url(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    config = home / "dagster.yaml"
    monkeypatch.delenv(POSTGRES_URL, raising=False)
    write_instance_config(home)
    assert yaml.safe_load(config.read_text())["storage"] == {
        "custom": {
            "module": "churn_assets.wiring.instance_storage",
            "class": "SqliteStorage",
            "config": {"base_dir": str(home.resolve())},
        }
    }

    monkeypatch.setenv(POSTGRES_URL, SECRET_URL)
    write_instance_config(home)
    text = config.read_text()
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL}}}
    assert "s3cret" not in text and "db.internal" not in text

    monkeypatch.delenv(POSTGRES_URL)
    write_instance_config(home)  # back to the embedded default
    assert config.read_text() == instance_yaml(False, home)

    moved = tmp_path / "moved"
    home.rename(moved)
    write_instance_config(moved)  # a directory moved since: its own files, not the old place's
    assert yaml.safe_load((moved / "dagster.yaml").read_text())["storage"]["custom"]["config"] == {
        "base_dir": str(moved.resolve())
    }

    earlier = "telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n  start_timeout_seconds: 180\n"
    earlier += "  poll_interval_seconds: 60\n"
    (moved / "dagster.yaml").write_text(earlier)  # what an earlier release wrote: brought up to date
    write_instance_config(moved)
    assert (moved / "dagster.yaml").read_text() == instance_yaml(False, moved)


def test_a_dagster_yaml_a_person_wrote_is_left_alone_with_a_warning_where_it_ignores_postgres(
    tmp_path, monkeypatch, capsys
):
    own = "telemetry:\n  enabled: true\n"
    (tmp_path / "dagster.yaml").write_text(own)
    monkeypatch.delenv(POSTGRES_URL, raising=False)
    write_instance_config(tmp_path)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(POSTGRES_URL, SECRET_URL)
    write_instance_config(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == own
    assert capsys.readouterr().err == (
        f"warning: {tmp_path / 'dagster.yaml'} is not the one churn-assets writes; {POSTGRES_URL} is not used\n"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://churn:s3cret-value@db:5432/dagster", "names the psycopg driver, which is not installed"),
        ("s3cret-value", "is not a database URL SQLAlchemy can read (ArgumentError)"),
        ("postgresql+nodriver://churn:s3cret-value@db/dagster", "is not a database URL SQLAlchemy can read"),
    ],
)
def test_a_postgres_url_the_instance_could_not_open_is_refused_without_repeating_it(tmp_path, monkeypatch, url, reason):
    monkeypatch.setenv(POSTGRES_URL, url)
    with pytest.raises(ValueError, match=re.escape(reason)) as refused:
        write_instance_config(tmp_path)
    assert "s3cret" not in str(refused.value)
    assert not (tmp_path / "dagster.yaml").exists()


DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def daily(context: dg.AssetExecutionContext) -> None:
    """A ranged run's asset: one materialization per day, which Dagster sends to the storage as a batch."""


def test_a_ranged_runs_materializations_arrive_as_batches_each_written_whole(cli_instance, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    tags = {"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-31"}
    result = dg.materialize([daily], instance=cli_instance, tags=tags)
    assert result.success
    records = cli_instance.fetch_materializations(dg.AssetKey("daily"), limit=100).records
    assert sorted(r.partition_key for r in records) == DAYS.get_partition_keys()  # 31 days, each once
    home = Path(os.environ["DAGSTER_HOME"])
    reader = SqliteEventLogStorage(str(home / "history" / "runs"))
    logged = reader.get_records_for_run(result.run_id, limit=10_000).records
    kinds = [r.event_log_entry.dagster_event_type for r in logged]
    assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 31

    # a batch that fails part-way keeps nothing of itself (Dagster then writes its events one by one)
    storage = cli_instance.event_log_storage
    note = dg.EventLogEntry(
        error_info=None, level=20, user_message="kept only with its batch", run_id=result.run_id,
        timestamp=time.time(), dagster_event=None, job_name=result.job_def.name,
    )  # fmt: skip
    with pytest.raises(Exception, match="not-an-event"):
        storage.store_event_batch([note, "not-an-event"])
    messages = [r.event_log_entry.user_message for r in reader.get_records_for_run(result.run_id, limit=10_000).records]
    assert "kept only with its batch" not in messages
    storage.store_event_batch([note])
    messages = [r.event_log_entry.user_message for r in reader.get_records_for_run(result.run_id, limit=10_000).records]
    assert messages[-1] == "kept only with its batch"


def _indexed(record, indexed: list[dict]) -> str:
    """Whether the tags Dagster indexed for a materialization are those the event carries."""
    [tags] = indexed
    return "as carried" if tags and tags.items() <= record.asset_materialization.tags.items() else f"{tags}"


def _stored(instance: dg.DagsterInstance, run_id: str) -> dict:
    """What the instance holds of one run's materializations of ``daily``: per day, the metadata and the tags
    Dagster indexes for it, and which day the asset's own row names as its latest."""
    key = dg.AssetKey("daily")
    records = [r for r in instance.fetch_materializations(key, limit=1_000).records if r.run_id == run_id]
    storage = instance.event_log_storage
    return {
        "days": {
            r.partition_key: (
                sorted(r.asset_materialization.tags),  # data version and code version, per day and run
                [_indexed(r, storage.get_event_tags_for_asset(key, filter_event_id=r.storage_id))],
            )
            for r in records
        },
        "latest": instance.get_latest_materialization_event(key).dagster_event.partition,
        "latest_run": instance.get_asset_records([key])[0].asset_entry.last_run_id,
    }


def test_a_batch_of_materializations_is_stored_as_dagster_stores_them_one_by_one(cli_instance, monkeypatch):
    """A batch's events are serialized once, inserted per database and the asset's row is updated from its last
    event only (as dagster-postgres does): every day is recorded with the same metadata and indexed tags as when
    Dagster writes the events one at a time, and the asset's latest materialization is the range's last day."""
    tags = {"dagster/asset_partition_range_start": "2026-01-01", "dagster/asset_partition_range_end": "2026-01-31"}
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    one_by_one = dg.materialize([daily], instance=cli_instance, tags=tags)
    single = _stored(cli_instance, one_by_one.run_id)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    batched = dg.materialize([daily], instance=cli_instance, tags=tags)
    stored = _stored(cli_instance, batched.run_id)

    assert sorted(stored["days"]) == DAYS.get_partition_keys()
    assert stored["days"] == single["days"]
    assert set(map(str, stored["days"].values())) == {
        "(['dagster/code_version', 'dagster/data_version'], ['as carried'])"
    }
    assert (single["latest"], stored["latest"]) == ("2026-01-31", "2026-01-31")
    assert (single["latest_run"], stored["latest_run"]) == (one_by_one.run_id, batched.run_id)
    assert cli_instance.get_materialized_partitions(dg.AssetKey("daily")) == set(DAYS.get_partition_keys())
