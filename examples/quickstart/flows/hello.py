"""The smallest useful flow: say hello."""

from __future__ import annotations

from prefect import flow, get_run_logger


@flow(log_prints=True)
def hello(name: str = "world", excited: bool = False) -> str:
    """Greet someone.

    Args:
        name: Who to greet.
        excited: End the greeting with an exclamation mark.
    """
    greeting = f"Hello, {name}{'!' if excited else '.'}"
    get_run_logger().info(greeting)
    return greeting
