# ruff: noqa  (stand-in for user flow code)
import sys

try:
    from prefect import flow, task
except ImportError:  # let the module run without Prefect

    def flow(fn=None, **kwargs):
        return fn if fn is not None else (lambda f: f)

    task = flow

if sys.version_info >= (3, 11):
    from enum import StrEnum as _Base
else:
    from enum import Enum as _Base


@flow(name="guarded")
def guarded(n: int = 1):
    pass


# Prefect flow placeholder (guarded imports)
try:
    from prefect import flow as prefect_flow

    @prefect_flow
    def loyalty_flow(points: int, tier: str = "gold"):
        pass

except Exception:
    pass


if sys.platform != "win32":

    @flow
    def in_if(path: str = "/tmp"):
        """Only on POSIX."""
