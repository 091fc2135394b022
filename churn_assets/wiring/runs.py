"""Run tags that the command line, the sensors and the tests agree on."""

# Dagster's run tags for one partition and for a partition range (one run over many days)
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the partitions ``first`` ... ``last`` (the assets' single-run backfill policy)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}
