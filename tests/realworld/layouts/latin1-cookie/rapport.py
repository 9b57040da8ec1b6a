# -*- coding: latin-1 -*-
"""Rapports de café pour la région."""
from prefect import flow


@flow(name="rw-latin1-rapport")
def rapport_cafe(ville: str = "Orléans") -> str:
    """Génère le rapport quotidien."""
    return ville
