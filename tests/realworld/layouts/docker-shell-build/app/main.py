from prefect import flow


@flow
def shell_built_flow(region: str = "eu") -> str:
    """Runs inside the image built by the shell step."""
    return region
