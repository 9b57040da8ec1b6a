from typing import Optional

from prefect import flow

from models import Destination, ExportConfig, ExportFormat, Window


@flow(name="rw-typedok-export-orders")
def export_orders(
    config: ExportConfig,
    fmt: ExportFormat = ExportFormat.CSV,
    destination: Optional[Destination] = None,
) -> str:
    """Export orders.

    Args:
        config: where and how much to export
        fmt: the file format
    """
    return f"{config.region}:{fmt.value}:{destination}"


@flow(name="rw-typedok-export-window")
def export_window(window: Window, formats: list[ExportFormat] = [ExportFormat.PARQUET]) -> str:
    return f"{window.start}..{window.end} {formats}"
