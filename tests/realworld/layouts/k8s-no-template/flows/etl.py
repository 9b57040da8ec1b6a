import boto3
from prefect import flow


@flow(name="rw-k8s-etl")
def k8s_etl(bucket: str = "raw") -> list[str]:
    return [o.key for o in boto3.resource("s3").Bucket(bucket).objects.all()]
