# ruff: noqa  (stand-in for user flow code)
from prefect import flow

from .models import Region, SourceConfig


@flow(name="etl")
def etl(source: SourceConfig, full_refresh: bool = False):
    """Extract, transform, load.

    Args:
        source: where to read from
        full_refresh: rebuild everything
    """


@flow
def by_region(region: Region = Region.US, sources: list[SourceConfig] = []):
    pass
