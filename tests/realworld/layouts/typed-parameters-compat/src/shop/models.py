from dataclasses import dataclass
from enum import Enum
from typing_extensions import TypedDict

from pydantic import BaseModel, Field


class ExportFormat(str, Enum):
    CSV = "csv"
    PARQUET = "parquet"


class ExportConfig(BaseModel):
    region: str = "eu-west-1"
    batch_size: int = Field(default=1000, ge=1)
    dry_run: bool = False


@dataclass
class Window:
    start: str
    end: str


class Destination(TypedDict):
    bucket: str
    prefix: str
