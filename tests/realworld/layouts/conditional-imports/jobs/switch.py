import os
import sys

if sys.version_info >= (3, 9):
    from prefect import flow
else:
    from prefect.flows import flow

if os.environ.get("RW_LEGACY_MODE"):
    @flow(name="rw-cond-switched")
    def switched_flow(mode: str = "legacy") -> str:
        return mode
else:
    @flow(name="rw-cond-switched")
    def switched_flow(mode: str = "fast", workers: int = 4) -> str:
        """The current implementation."""
        return f"{mode}/{workers}"
