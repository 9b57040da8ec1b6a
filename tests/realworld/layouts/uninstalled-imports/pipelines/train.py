from typing import Optional

import mlflow
import sklearn.ensemble
from prefect import flow


@flow
def train_churn_model(n_estimators: int = 100, max_depth: Optional[int] = None):
    model = sklearn.ensemble.RandomForestClassifier(n_estimators=n_estimators)
    mlflow.log_param("max_depth", max_depth)
    return model
