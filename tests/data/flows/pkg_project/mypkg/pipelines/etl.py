# ruff: noqa  (stand-ins for user flow code: old-style annotations on purpose)
from typing import Optional

from prefect import flow


@flow
def etl_flow(source: str, limit: Optional[int] = None, dry_run: bool = False) -> None:
    """Extract, transform, load."""
