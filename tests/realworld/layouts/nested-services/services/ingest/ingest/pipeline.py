from prefect import flow, task

from helpers import normalise


@task
def pull(source: str) -> int:
    return len(normalise(source))


@flow(log_prints=True)
def ingest_sources(sources: list[str] = ["crm"]) -> int:
    """Pull every configured source into the lake."""
    return sum(pull(s) for s in sources)
