"""Local emulators of BigQuery and GCS for tests and local runs of the gcp deployment.

    python -m churn_assets.io.emulators bigquery --port 9050 [--data-dir DIR]
    python -m churn_assets.io.emulators gcs --port 9023

then ``BIGQUERY_EMULATOR_HOST=http://127.0.0.1:9050`` and ``STORAGE_EMULATOR_HOST=http://127.0.0.1:9023``.

The BigQuery emulator (``bqemulator``, DuckDB-backed) needs two adjustments to work offline with the
standard client, made here and nowhere else:

1. at start it installs DuckDB's spatial extension from the network (for GEOGRAPHY, which this project
   does not use): skipped;
2. its upload route rejects the ``*/*`` media part that ``load_table_from_dataframe`` sends: accepted.
"""

import argparse
import subprocess
import sys


def run_bigquery(port: int, data_dir: str | None, project: str) -> None:
    from bqemulator.api.routes import upload
    from bqemulator.cli import main
    from bqemulator.storage import engine

    engine.DuckDBEngine._load_spatial = lambda self: None  # no GEOGRAPHY, no network
    upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")
    persistence = ["--persistent", "--data-dir", data_dir] if data_dir else ["--ephemeral"]
    sys.argv = ["bqemulator", "start", "--rest-host", "127.0.0.1", "--rest-port", str(port), "--grpc-port", "0",
                "--project", project, "--log-level", "warning", *persistence]  # fmt: skip
    main()


def run_gcs(port: int) -> None:
    command = ["gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    sys.exit(subprocess.call(command))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m churn_assets.io.emulators")
    parser.add_argument("service", choices=["bigquery", "gcs"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", help="bigquery: keep its DuckDB file here (persistent)")
    parser.add_argument("--project", default="churn-local")
    args = parser.parse_args()
    if args.service == "bigquery":
        run_bigquery(args.port, args.data_dir, args.project)
    else:
        run_gcs(args.port)


if __name__ == "__main__":
    main()
