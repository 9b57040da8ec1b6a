# ruff: noqa  (stand-in for user flow code)
"""A dependency missing here: Prefect loads the file statically, with the script's folder on
sys.path, so `from models import` still finds the sibling module."""

import dask_not_installed_here
from prefect import flow

from models import ExportConfig, ExportFormat, Window


@flow
def static_window(
    window: Window,
    config: ExportConfig = ExportConfig(region="us-east-1"),
    formats: list[ExportFormat] = [ExportFormat.PARQUET, ExportFormat.CSV],
) -> None:
    dask_not_installed_here.compute()
