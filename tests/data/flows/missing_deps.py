# ruff: noqa  (stand-ins for user flow code: old-style annotations on purpose)
"""A flow whose module imports packages that are not installed here."""

import numpy_not_installed_here as np
import pandas_not_installed_here
from some_missing_pkg import Config

from prefect import flow


@flow(name="needs-deps")
def needs_deps(
    frame: pandas_not_installed_here.DataFrame, config: Config, rows: int = 10, scale: float = np.pi
):
    """Process a frame.

    Args:
        rows: how many rows
    """
    return np.array(frame)
