# ruff: noqa  (stand-ins for user flow code: old-style annotations on purpose)
from prefect import flow


@flow(name="daily-report")
def report(day: str = "today"):
    pass
