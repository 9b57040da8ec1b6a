import prefect


@prefect.flow(log_prints=True)
def attribute_flow(count: int = 3) -> int:
    """Counts.

    A longer explanation that spans
    several lines.
    """
    return count
