from typing import Annotated, Literal

from prefect import flow as prefect_flow
from pydantic import Field

FLOW_NAME = "rw-alias-renamed"


@prefect_flow(name=FLOW_NAME, description="Set in the decorator.")
def renamed_import_flow(
    mode: Literal["full", "delta"] = "delta",
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
) -> str:
    return f"{mode}:{limit}"


@prefect_flow(name="rw-alias-async")
async def async_collect(urls: list[str], timeout: float = 5.0) -> int:
    """Fetch every URL."""
    return len(urls)
