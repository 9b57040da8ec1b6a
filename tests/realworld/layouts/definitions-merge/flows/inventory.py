from prefect import flow


@flow
def refresh_inventory(warehouse: str = "main") -> str:
    return warehouse
