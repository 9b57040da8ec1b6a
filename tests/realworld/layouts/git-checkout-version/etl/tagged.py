from prefect import flow


@flow(name="rw-gitver-flow")
def tagged_flow(x: int = 1) -> int:
    return x
