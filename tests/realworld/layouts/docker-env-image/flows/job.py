from prefect import flow


@flow(name="rw-dockerimg-job")
def env_image_job() -> None:
    print("hello from a container")
