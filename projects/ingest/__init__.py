"""Imports into the pool: parsing CSV/JSONL/ZIP, bulk inserts, image jobs, and what follows."""
