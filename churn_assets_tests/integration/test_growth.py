"""A live file source grows, and the loop closes: a per-day export whose newest files land after the first run.

The second ``churn-assets run`` computes only the new days (the days computed before keep their partitions), labels
the day the first run scored once its horizon has passed, and judges that day's predictions in prediction_outcomes.
The export comes from the simulator with a retention effect on the users outside the control group (half of them
here, ``CHURN_CONTROL_SHARE=0.5``): the outcomes must show the targeted users churning less than the control group.
Without the effect the two groups churn alike (``core/test_retention.py`` checks that on the simulator itself).
"""

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from churn_assets.core.simulation.population import SimulationConfig
from churn_assets.core.simulation.simulate import simulate_events
from churn_assets_tests.helpers import cli

FIRST = date(2026, 1, 1)
# the first run's last day, the last of a month: its churners' last active days fall in the month it is scored in,
# where the simulator's retention work reaches them (a day early in a month would judge last month's calls)
SCORED = FIRST + timedelta(days=89)  # 2026-03-31, after the 75 days a first model needs
# 400 users: 282 scored on SCORED, the control group churning 13.1% and the targeted users 6.6% (1,000 users
# showed the same effect in twice the run time)
SIMULATION = SimulationConfig(400, FIRST, 120, 11, None, "subscription", 0.5, 0.8, 120)


def export(template: str, days: range) -> None:
    for i in days:
        day = FIRST + timedelta(days=i)
        simulate_events(SIMULATION, day).to_csv(template.replace("{date}", day.isoformat()), index=False)


def written(data, table: str) -> pd.DataFrame:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute(
            f"select partition_date, written_at from churn.partition_log where table_name = '{table}'"
        ).df()


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    base = tmp_path_factory.mktemp("growth")
    (base / "export").mkdir()
    template, data = str(base / "export" / "events_{date}.csv"), base / "churn"
    env = {"CHURN_EVENTS_FILE": template, "CHURN_DATA_DIR": str(data), "CHURN_CONTROL_SHARE": "0.5"}
    export(template, range(90))
    first = cli("run", **env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = written(data, "user_features")
    export(template, range(90, 120))  # thirty more days land
    second = cli("run", **env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return {"data": data, "env": env, "first": first, "second": second, "before": before}


def test_the_second_run_computes_only_the_new_days_and_judges_the_first_runs_day(grown):
    out = grown["second"].stdout
    assert f"only {SCORED + timedelta(days=1)} on is new or changed" in out
    assert "events to features 2026-04-01..2026-04-30 ..." in out  # not from 2026-01-01
    assert "churn labels 2026-03-02..2026-03-31 ..." in out  # the label days whose horizon reaches a new day
    assert f"prediction outcomes {SCORED} ..." in out
    assert "predictions 2026-04-30 ..." in out
    after = written(grown["data"], "user_features").set_index("partition_date")["written_at"]
    before = grown["before"].set_index("partition_date")["written_at"]
    assert len(before) == 90 and len(after) == 120
    assert (after[before.index] == before).all()  # the first 90 days were not rewritten


def test_the_outcomes_show_the_retention_effect_on_targeted_users(grown):
    with duckdb.connect(str(grown["data"] / "warehouse.duckdb"), read_only=True) as conn:
        outcomes = conn.execute("select * from churn.prediction_outcomes").df()
        scored = conn.execute(f"select * from churn.churn_predictions where as_of_date = '{SCORED}'").df()
    assert set(outcomes["as_of_date"].dt.date) == {SCORED}
    assert set(outcomes["model_version"]) == set(scored["model_version"])
    groups = outcomes[outcomes["risk_tier"] == "all"].set_index("group_name")
    assert groups.loc["all", "users"] == len(scored)
    assert groups.loc["control", "users"] + groups.loc["targeted", "users"] == len(scored)
    assert abs(groups.loc["control", "users"] / len(scored) - 0.5) < 0.05
    control, targeted = groups.loc["control", "churn_rate"], groups.loc["targeted", "churn_rate"]
    print(f"churn: control {control:.3f}, targeted {targeted:.3f}")
    assert targeted < control - 0.03
    assert groups.loc["all", "roc_auc"] > 0.8  # the model that scored the day, judged on what happened
    page = (grown["data"] / "artifacts" / "reports" / "outcomes" / f"{SCORED}.html").read_text()
    assert f"<td>control</td><td>all</td><td>{groups.loc['control', 'users']}</td>" in page


def test_a_run_with_nothing_new_computes_nothing(grown):
    again = cli("run", **grown["env"])
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "nothing new in the source since the last run" in again.stdout
    assert "events to features" not in again.stdout and "[1/1] raw users" in again.stdout
