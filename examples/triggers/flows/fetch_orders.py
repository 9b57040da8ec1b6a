"""Load a batch of records from a source system."""

from __future__ import annotations

from prefect import flow


@flow(log_prints=True)
def fetch_orders(source: str = "orders-api", batch_size: int = 500) -> int:
    """Fetch one batch from `source`.

    Args:
        source: The system to read from.
        batch_size: How many records to fetch.
    """
    print(f"ingested {batch_size} records from {source}")
    return batch_size
