# ruff: noqa  (stand-ins for user flow code: old-style annotations on purpose)
from prefect import flow


@flow(name="kw-flow")
def kw_flow(required: int, **options):
    """Anything goes in options."""
