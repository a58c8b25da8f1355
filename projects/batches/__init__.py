"""Batches: what goes into one (selection), when the next opens (room), opening and closing
(services), and the refresh after a retrain."""
