"""Stream mode: one arrival, an immediate decision by the latest model, and its API."""
