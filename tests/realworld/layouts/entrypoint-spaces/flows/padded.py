from prefect import flow


@flow(name="rw-spaces-padded")
def padded_flow() -> None:
    pass
