"""Load a batch of rows; the same code runs in every environment."""

from __future__ import annotations

import os

from prefect import flow


@flow(log_prints=True)
def load_rows(source: str, rows: int = 1000) -> int:
    """Copy rows from a source into the warehouse.

    Args:
        source: Where the rows come from.
        rows: How many rows to copy.
    """
    print(f"[{os.environ.get('TARGET_ENV', '?')}] loading {rows} rows from {source}")
    return rows
