# ruff: noqa  (stand-in for user flow code)
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Period(BaseModel):
    model_config = ConfigDict(title="Reporting period", extra="forbid")

    start: date
    end: date | None = None


class ReportRequest(BaseModel):
    period: Period
    fmt: Literal["pdf", "html"] = "pdf"
    recipients: dict[str, str] = {}
