"""Forward churn labels for eligible users, computed in the warehouse, refused while the horizon is incomplete."""

from collections.abc import Iterator

import dagster as dg

from churn_assets.core.quality import label_rate_outcome
from churn_assets.core.warehouse.labels import labels_select
from churn_assets.core.warehouse.queries import label_summary_select
from churn_assets.defs.partitions import DailyGraph, partition_days
from churn_assets.defs.resources import Warehouse
from churn_assets.defs.tables import require, sql_asset, write_days
from churn_assets.wiring.checks import CheckDef, check_result, check_specs

GROUP = "labels"
RATE_CHECK = CheckDef(
    "label_rate_plausible",
    "Not every eligible user churned: that would mean the horizon's activity data is missing or broken.",
)


def _rate(churned: int, labelled: int) -> float:
    return round(float(churned) / float(labelled), 6) if labelled else 0.0


def label_assets(graph: DailyGraph) -> list[dg.AssetsDefinition]:
    """churn_labels over the graph's partitions and label horizon."""
    calendar, spec = graph.calendar, graph.features
    horizon, eligible = calendar.horizon_days, spec.eligibility_days
    rule = (
        f"As of day t, for the subscribers of user_features (covered at the end of t): churned = their coverage "
        f"lapses on one of t+1 ... t+{horizon} (a renewal starting within {graph.grace_days} days of a period's end "
        f"continues it), read from raw_subscriptions; settled once the data reaches t+{calendar.decided_days}."
        if spec.cancellation
        else f"As of day t, for the users of user_features (active in the {eligible} days up to t): "
        f"churned = no active day in t+1 ... t+{horizon}, read as the user's last active day in "
        f"user_state of t+{horizon}."
    )

    @dg.asset(
        description=f"{rule} Refuses to run while any day of the horizon is not materialized.",
        group_name=GROUP,
        **sql_asset(graph, "churn_labels"),
        deps=[
            "user_features",
            dg.AssetDep("user_state", partition_mapping=graph.label_horizon),
            *(["raw_subscriptions"] if spec.cancellation else []),
        ],
        check_specs=check_specs("churn_labels", [RATE_CHECK]),
    )
    def churn_labels(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
        days = partition_days(context)
        with warehouse.session() as engine:
            what = f"churn labels {days[0]}..{days[-1]} with a {horizon}-day horizon"
            require(engine, what, "user_features", days)
            require(engine, what, "user_state", [calendar.horizon_end(d) for d in days])
            select = labels_select(
                engine.schema, days[0], days[-1], horizon, definition=spec.definition, grace_days=graph.grace_days
            )
            result = write_days(context, engine, "churn_labels", days, [select], graph.features, horizon_days=horizon)
            summary = engine.query(label_summary_select(engine.schema, days[0], days[-1]))
            for row in summary.itertuples():  # each day its own rate, in ranged runs as in one-day runs
                day = row.day.date().isoformat()
                context.add_asset_metadata({"positive_rate": _rate(row.churned, row.labelled)}, partition_key=day)
            yield result
            yield check_result("churn_labels", RATE_CHECK.name, label_rate_outcome(summary))

    return [churn_labels]
