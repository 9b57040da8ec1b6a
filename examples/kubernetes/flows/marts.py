"""Nightly mart builds."""

from __future__ import annotations

from prefect import flow, task


@task
def build(mart: str, full_refresh: bool) -> str:
    mode = "full" if full_refresh else "incremental"
    return f"{mart}: {mode}"


@flow(name="build-marts")
def build_marts(marts: list[str], full_refresh: bool = False) -> list[str]:
    """Rebuild the reporting marts.

    Args:
        marts: The marts to build, in order.
        full_refresh: Rebuild from scratch instead of incrementally.
    """
    return [build(mart, full_refresh) for mart in marts]
