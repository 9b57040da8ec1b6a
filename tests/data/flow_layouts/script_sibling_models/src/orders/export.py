# ruff: noqa  (stand-in for user flow code)
"""Flows whose parameter types live next to them, imported script-style (`from models import`)."""

from typing import Literal, Optional

from prefect import flow

import lib.deep
import models
from common import Level
from lib.deep import Deep
from models import DEFAULT_FORMATS, Destination, ExportConfig, ExportFormat, Window

from . import models as sibling
from .models import Window as SameWindow


@flow
def export_orders(
    config: ExportConfig,
    fmt: ExportFormat = ExportFormat.CSV,
    destination: Optional[Destination] = None,
) -> None:
    """Export orders.

    Args:
        config: where and how much to export
    """


@flow
def export_window(window: Window, formats: list[ExportFormat] = [ExportFormat.PARQUET]) -> None:
    pass


@flow
def containers(
    pair: tuple[ExportFormat, ...] = (ExportFormat.CSV, ExportFormat.PARQUET),
    by_region: dict[str, ExportFormat] = {"eu": ExportFormat.CSV, "us": ExportFormat.PARQUET},
    levels: set[Level] = {Level.HIGH},
    nested: list[dict[str, list[Level]]] = [{"a": [Level.LOW, Level.HIGH]}, {}],
    windows: list[Window] = [Window("2025-01-01", "2025-01-31", [1, 2])],
    configs: dict[str, ExportConfig] = {"eu": ExportConfig(batch_size=5)},
    constant: list[ExportFormat] = DEFAULT_FORMATS,
    through: tuple[ExportFormat, ...] = tuple(models.DEFAULT_FORMATS),
) -> None:
    pass


@flow
def through_modules(
    deep: Deep,
    other: lib.deep.Deep = lib.deep.Deep(formats=[ExportFormat.PARQUET]),
    config: models.ExportConfig = models.ExportConfig(level=models.Level.HIGH),
    fmt: sibling.ExportFormat = sibling.ExportFormat.PARQUET,
    same: Optional[SameWindow] = None,
) -> None:
    pass


@flow
def literal_members(
    fmt: Literal[ExportFormat.CSV, ExportFormat.PARQUET] = ExportFormat.CSV,
    level: Optional[Literal[Level.HIGH, "low"]] = None,
) -> None:
    pass
