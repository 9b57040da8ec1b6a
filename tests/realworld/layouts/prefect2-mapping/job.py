from prefect import flow


@flow(name="rw-p2map-job")
def mapping_job() -> None:
    pass
