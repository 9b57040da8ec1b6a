import pandas as pd
from sqlalchemy import create_engine
from prefect import flow, task


@task
def load(table: str) -> "pd.DataFrame":
    return pd.read_sql_table(table, create_engine("sqlite://"))


@flow(name="rw-uninst-churn-features")
def build_churn_features(table: str, sample: float = 1.0) -> int:
    """Compute churn features from the customers table."""
    return len(load(table))
