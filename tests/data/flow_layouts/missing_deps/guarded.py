# ruff: noqa  (stand-in for user flow code)
import pandas_not_installed_here

try:
    from prefect import flow
except ImportError:
    raise


@flow
def g(x: int = 1):
    pass
