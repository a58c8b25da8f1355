"""An item's words for the item browser's full-text search (`projects.item_search`).

In a table of their own, written by a worker after the items arrive, not by the insert:
as an index on the items' own text, PostgreSQL's full-text words were 13 of the 23
seconds a 1M-item import spent storing its rows.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models


class ItemWords(models.Model):
    # No foreign key in the database: checking it cost a million lookups (3.5 s) per
    # million items written. The ORM still deletes an item's words with it.
    item = models.OneToOneField(
        "projects.Item",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="words",
        db_constraint=False,
    )
    words = SearchVectorField()  # to_tsvector(SEARCH_CONFIG, text), GIN-indexed (0025)

    class Meta:
        app_label = "projects"

    def __str__(self) -> str:
        return f"words of item {self.item_id}"
