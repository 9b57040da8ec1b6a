# ruff: noqa  (stand-in for user flow code)
from prefect import flow

from mypkg import models
from mypkg.models import ReportRequest


@flow
def report(request: ReportRequest, period: models.Period | None = None, draft: bool = True):
    """Build the monthly report."""
