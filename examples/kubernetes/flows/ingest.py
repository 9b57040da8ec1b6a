"""Hourly event ingestion (the I/O is stubbed so the example runs anywhere)."""

from __future__ import annotations

from prefect import flow, task


@task(retries=3, retry_delay_seconds=30)
def list_new_objects(source: str, limit: int) -> list[str]:
    return [f"{source}/part-{i:05d}.json" for i in range(min(limit, 3))]


@task
def load(objects: list[str]) -> int:
    return len(objects)


@flow(name="ingest-events")
def ingest_events(source: str, batch_size: int = 1000) -> int:
    """Copy new event files from object storage into the warehouse.

    Args:
        source: Object-storage prefix holding the raw events.
        batch_size: Maximum number of files to load in one run.
    """
    objects = list_new_objects(source, batch_size)
    return load(objects)
