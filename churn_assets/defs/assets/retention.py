"""What the predictions are for: the day's call list, and, once a scored day's horizon has passed, how right its
predictions were (``core/retention/`` holds the logic; docs/retention.md tells the story)."""

import io

import dagster as dg
import pandas as pd

from churn_assets.core.retention.call_list import call_list, call_list_key, calls_affordable, held_out
from churn_assets.core.warehouse.queries import outcome_rows_select, predictions_day_select, realized_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import RetentionPolicy, Warehouse
from churn_assets.defs.tables import frame_asset, require
from churn_assets.io.artifacts import ArtifactsResource
from churn_assets.wiring.metadata import column_schema, markdown

GROUP = "retention"


def _export(store, day: str, rows: pd.DataFrame) -> list[str]:
    """The day's call list as CSV (what a CRM imports) and Parquet (typed), in the artifact store."""
    parquet = io.BytesIO()
    rows.to_parquet(parquet, index=False)
    store.write_bytes(call_list_key(day, "parquet"), parquet.getvalue())
    csv = rows.assign(as_of_date=day).to_csv(index=False, float_format="%.4f")
    store.write_bytes(call_list_key(day, "csv"), csv.encode())
    return [store.uri(call_list_key(day, s)) for s in ("csv", "parquet")]


def _report(engine, artifacts: ArtifactsResource, registry, day: str, outcomes: pd.DataFrame) -> str:
    """The day's outcomes page, with every judged day's realized ROC-AUC so far (this one included), written to the
    artifact store; where a person opens it."""
    from churn_assets.core.retention.outcomes_page import outcomes_page  # Jinja2: loaded where it is used

    history = outcomes[(outcomes["group_name"] == "all") & (outcomes["risk_tier"] == "all")]
    history = history[["as_of_date", "model_version", "roc_auc"]]
    if engine.table_exists("prediction_outcomes"):
        earlier = engine.query(realized_select(engine.schema))
        history = pd.concat([earlier[earlier["as_of_date"] != history["as_of_date"].iloc[0]], history])
    tests = {v: registry.card(v).metrics.get("roc_auc") for v in history["model_version"].unique()}
    key = f"reports/outcomes/{day}.html"
    artifacts.store().write_bytes(key, outcomes_page(day, outcomes, history, tests).encode())
    return artifacts.link(key, f"/reports/outcomes/{day}")


def retention_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """call_list and prediction_outcomes over the graph's partitions."""
    calendar = graph.calendar

    @dg.asset(
        name="call_list",
        description=(
            "The targeted users to call first as of day t: churn_predictions without the control group, ranked by "
            "value_at_risk (CHURN_CALL_LIST_SIZE users, or as many as CHURN_CALL_BUDGET pays for; none whose value "
            "at risk is not above CHURN_CALL_COST). "
            "Also exported to the artifact store as exports/call_list/<day>.csv and .parquet, and served by the "
            "HTTP API at /v1/call-list."
        ),
        group_name=GROUP,
        **frame_asset(graph),
        deps=["churn_predictions"],
    )
    def call_list_table(
        context: dg.AssetExecutionContext,
        retention: RetentionPolicy,
        warehouse: Warehouse,
        artifacts: ArtifactsResource,
    ) -> dg.MaterializeResult:
        days = partition_days(context)
        with warehouse.session() as engine:
            require(engine, f"call_list {days[0]}..{days[-1]}", "churn_predictions", days)
            size = calls_affordable(retention.call_list_size, retention.call_cost, retention.call_budget)
            lists = []
            for day in days:  # each day its own list, export and metadata, in a ranged run as in a one-day run
                predictions = engine.query(predictions_day_select(engine.schema, day))
                rows = call_list(predictions, size, retention.call_cost)
                csv, parquet = _export(artifacts.store(), day.isoformat(), rows)
                metadata = {
                    "dagster/row_count": len(rows),
                    "value_at_risk": round(float(rows["value_at_risk"].sum()), 2),
                    "control_users_left_out": int(held_out(predictions).sum()),
                    "csv": csv,
                    "parquet": parquet,
                    "preview": markdown(rows.head(10)),
                }
                context.add_asset_metadata(metadata, partition_key=day.isoformat())
                lists.append(rows)
            rows = pd.concat(lists, ignore_index=True)
            return dg.MaterializeResult(value=rows, metadata={"dagster/column_schema": column_schema(rows)})

    @dg.asset(
        description=(
            f"How right the predictions made for day t were, once its {calendar.horizon_days}-day horizon has "
            "passed and churn_labels of t exist: realized ROC-AUC, PR-AUC, Brier score, calibration error and "
            "top-decile lift of the model version that scored t, beside recency alone and BG/NBD on the same users, "
            "and observed churn per risk tier for all, targeted and control users. Refuses a day whose labels are "
            "not computed (its horizon has not closed)."
        ),
        group_name=GROUP,
        **frame_asset(graph, ranged=False),  # one day a run: each judged day is requested on its own
        deps=["churn_predictions", "churn_labels", "user_features"],
    )
    def prediction_outcomes(
        context: dg.AssetExecutionContext, warehouse: Warehouse, artifacts: ArtifactsResource
    ) -> dg.MaterializeResult:
        (day,) = partition_days(context)
        with warehouse.session() as engine:
            require(engine, f"prediction_outcomes {day}", "churn_predictions", [day])
            end = calendar.horizon_end(day)
            require(engine, f"prediction_outcomes {day} (its horizon closes after {end})", "churn_labels", [day])
            # scikit-learn and SciPy: loaded by the run that judges a day, not by every process loading the definitions
            from churn_assets.core.retention.outcomes import day_outcomes, headline

            joined = engine.query(outcome_rows_select(engine.schema, day))
            if joined.empty:
                raise dg.Failure(f"prediction_outcomes {day}: no user of that day is both scored and labelled")
            outcomes = day_outcomes(joined, calendar.horizon_days)
            version = str(outcomes["model_version"].iloc[0])
            figures = headline(outcomes)
            registry = artifacts.registry()
            test = registry.card(version).metrics.get("roc_auc")
            report = _report(engine, artifacts, registry, day.isoformat(), outcomes)
            tiers = outcomes[outcomes["risk_tier"] != "all"][["group_name", "risk_tier", "users", "churn_rate"]]
            return dg.MaterializeResult(
                value=outcomes,
                metadata={
                    "dagster/row_count": len(outcomes),
                    "dagster/column_schema": column_schema(outcomes),
                    "model_version": version,
                    "realized_roc_auc": figures["roc_auc"],
                    "model_test_roc_auc": round(float(test), 4) if test is not None else None,
                    "outcomes_report": dg.MetadataValue.url(report),
                    **{k: v for k, v in figures.items() if k != "roc_auc"},
                    "churn_by_tier": markdown(tiers),
                },
            )

    return [call_list_table, prediction_outcomes]
