# ruff: noqa  (stand-in for user flow code)
import polars_not_installed_here
from prefect import flow


@flow
def by_module(n: int = 1):
    pass
