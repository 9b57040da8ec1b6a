from datetime import date

from prefect import flow


@flow(name="rw-req-backfill")
def backfill_partition(table: str, day: date, dry_run: bool = False) -> str:
    """Re-load one day of one table."""
    return f"{table}@{day.isoformat()} dry={dry_run}"
