"""Stream mode: arrivals (one or a batch per post), each decided at once by the latest
model, and its API."""
