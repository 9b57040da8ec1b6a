"""Model training, run on demand."""

from __future__ import annotations

from typing import Literal

from prefect import flow


@flow(name="train-model")
def train_model(
    model: Literal["churn", "ltv", "propensity"],
    epochs: int = 10,
    learning_rate: float = 0.001,
) -> dict[str, float]:
    """Train one of the analytics models and report its metrics.

    Args:
        model: Which model to train.
        epochs: Passes over the training data.
        learning_rate: Optimiser step size.
    """
    return {"model_epochs": float(epochs), "learning_rate": learning_rate, "auc": 0.5}
