"""A flow for the invalid-example cases: only the YAML around it is wrong."""

from __future__ import annotations

from prefect import flow


@flow
def hello(name: str = "world") -> str:
    """Say hello.

    Args:
        name: Who to greet.
    """
    return f"Hello, {name}"
