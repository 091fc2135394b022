"""What `churn-assets run` says about a run that failed outside its steps."""

import dagster as dg

from churn_assets.cli.stages import run_failure_cause


class Bucket(dg.ConfigurableResource):
    name: str

    def setup_for_execution(self, context) -> None:
        raise ValueError(f"no such bucket: {self.name}")


@dg.asset
def uses_bucket(bucket: Bucket) -> None:
    """Never runs: its resource fails first."""


def test_a_resource_that_cannot_start_is_named_as_the_run_failure_cause():
    result = dg.materialize([uses_bucket], resources={"bucket": Bucket(name="churn-x")}, raise_on_error=False)
    assert not result.success and not [e for e in result.all_events if e.is_step_failure]
    assert run_failure_cause(result.all_events) == "ValueError: no such bucket: churn-x"


def test_a_run_without_failure_events_says_so():
    assert run_failure_cause([]) == "unknown error"
