import os

from prefect import flow


@flow(name="rw-secrets-warehouse-load")
def warehouse_load(target_schema: str = "staging") -> str:
    return f"{target_schema} via {os.environ.get('REGION')}"
