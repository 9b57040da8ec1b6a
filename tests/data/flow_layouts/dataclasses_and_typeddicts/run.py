# ruff: noqa  (stand-in for user flow code)
from dataclasses import dataclass, field
from enum import IntEnum, auto
from typing import Annotated, Optional

from pydantic import Field
from typing_extensions import TypedDict

from prefect import flow


@dataclass
class ContextConfig:
    name: str


@dataclass(frozen=True)
class SeriesConfig:
    name: str
    points: int = 100
    labels: list[str] = field(default_factory=list)


class Priority(IntEnum):
    LOW = auto()
    HIGH = auto()


class Options(TypedDict, total=False):
    """Optional knobs."""

    dry_run: bool
    priority: Priority


@flow(name="name-of-flow")
def run_flow(
    context: ContextConfig, series: SeriesConfig, options: Optional[Options] = None
) -> None:
    print(context, series, options)


@flow
def annotated(
    n: Annotated[int, Field(ge=1, description="how many")] = 3, p: Priority = Priority.HIGH
):
    pass
