"""Daily currency rates (the HTTP call is stubbed)."""

from __future__ import annotations

from prefect import flow


@flow(name="fetch-currency-rates")
def fetch_rates(base: str = "EUR", symbols: list[str] | None = None) -> dict[str, float]:
    """Fetch exchange rates for a base currency.

    Args:
        base: The currency the rates are quoted against.
        symbols: The currencies to fetch.
    """
    return {symbol: 1.0 for symbol in symbols or ["USD"]}
