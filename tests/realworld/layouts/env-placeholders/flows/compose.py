from prefect import flow


@flow(name="rw-envph-compose")
def compose_job(batch: int = 100) -> int:
    return batch
