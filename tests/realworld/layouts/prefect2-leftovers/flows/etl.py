from prefect import flow, get_run_logger


@flow(name="rw-p2-legacy-etl")
def legacy_etl():
    get_run_logger().info("legacy etl")
