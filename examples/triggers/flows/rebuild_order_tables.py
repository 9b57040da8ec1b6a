"""Rebuild the derived tables after new data arrived."""

from __future__ import annotations

from prefect import flow


@flow(log_prints=True)
def rebuild_order_tables(upstream: str = "manual", full_refresh: bool = False) -> str:
    """Rebuild what depends on the latest ingest.

    Args:
        upstream: What caused this run (the triggering flow run's name, for instance).
        full_refresh: Rebuild everything instead of the new partitions only.
    """
    mode = "full" if full_refresh else "incremental"
    print(f"{mode} transform after {upstream}")
    return mode
