# ruff: noqa  (stand-in for user flow code)
from dataclasses import dataclass, field
from enum import Enum

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from common import Level


class ExportFormat(str, Enum):
    CSV = "csv"
    PARQUET = "parquet"


class ExportConfig(BaseModel):
    """Where and how much to export."""

    region: str = "eu-west-1"
    batch_size: int = Field(default=1000, ge=1)
    level: Level = Level.LOW


@dataclass
class Window:
    start: str
    end: str
    days: list[int] = field(default_factory=list)


class Destination(TypedDict):
    bucket: str
    prefix: str


DEFAULT_FORMATS = [ExportFormat.CSV, ExportFormat.PARQUET]
