from prefect import flow


@flow
def refresh_sales(full_refresh: bool = False) -> bool:
    """Rebuild the sales mart."""
    return full_refresh
