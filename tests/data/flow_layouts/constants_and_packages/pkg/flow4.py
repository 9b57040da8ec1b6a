# ruff: noqa  (stand-in for user flow code)
from prefect import flow
from .m import M


@flow
def f4(m: M):
    pass
