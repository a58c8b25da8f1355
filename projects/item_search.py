"""The item browser's text search, and the words it reads on PostgreSQL (`ItemWords`).

A search matches words there (web-search syntax: "a phrase", or, -word) through the GIN
index of `ItemWords`. A worker writes those words after the items arrive
(`words_write`), not the insert: as an index on the items' text they were 13 of the 23
seconds a 1M-item import spent storing its rows. Every insert of items counts what it
owes on the project (`words_owe`); while something is owed, a search also reads the
text of the items without words, so it finds every item at once, only slower. SQLite
has no full-text search: there a search is a case-insensitive substring.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from projects import tasks
from projects.models import Item, ItemWords, Project
from winnow.broker import task_send

# PostgreSQL's full-text configuration: "simple" (words, no stemming, no stop words),
# whatever the data's language.
SEARCH_CONFIG = "simple"
# Items whose words one statement writes (each chunk is committed on its own).
WORDS_CHUNK = 50_000


def text_search(project: Project, items: QuerySet[Item], search: str) -> QuerySet[Item]:
    """The project's `items` whose text matches `search`."""
    if connection.vendor != "postgresql":
        return items.filter(text__icontains=search)
    query = SearchQuery(search, config=SEARCH_CONFIG, search_type="websearch")
    found = Q(pk__in=ItemWords.objects.filter(words=query).values("item_id"))
    if project.words_owed and project.words_from is not None:
        # Items whose words are not written yet: their text, read now.
        items = items.alias(text_words=_words())
        found |= Q(pk__gte=project.words_from, words__isnull=True, text_words=query)
    return items.filter(found)


def _words() -> SearchVector:
    return SearchVector("text", config=SEARCH_CONFIG)


def next_item_id() -> int:
    """A lower bound on the id of the next item inserted (the ids' sequence only rises):
    read before an insert, every item it inserts has an id from there on."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass),"
            " 0) + 1",
            [Item._meta.db_table],
        )
        return int(cursor.fetchone()[0])


def words_owe(project_id: int, first_id: int, *, send: bool = True) -> None:
    """In the transaction that inserts a project's items (ids from `first_id` on): their
    words are owed. The first debt sends the worker that writes them, once this commits
    (`send`; an import's pool_prepare writes them itself, after the features the first
    model waits for); that worker writes until nothing is owed, so later debts need no
    message of their own.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Project._meta.db_table} SET words_owed = words_owed + 1,"
            " words_from = LEAST(COALESCE(words_from, %s), %s),"
            " words_since = COALESCE(words_since, now()) WHERE id = %s RETURNING words_owed",
            [first_id, first_id, project_id],
        )
        first = cursor.fetchone() == (1,)
    if send and first:
        transaction.on_commit(lambda: task_send(tasks.item_words, project_id))


# Advisory lock space for "writing a project's words" (key: the project id); the
# features' lock is 72_102 (`pool.feature_chunks`).
_WORDS_LOCK = 72_103


def words_write(project_id: int) -> int:
    """Write the words of the project's items that are owed, until nothing is; how many
    rows were written. Idempotent.

    One writer per project at a time (an advisory lock: a second one, sent by another
    insert or the sweep, leaves it to the first instead of computing the same words).
    Each pass clears the debt it read with a compare-and-set: an insert that committed
    meanwhile may hold items the pass did not see, so then it passes again; and a
    debt whose message met the lock still held is found once it is let go.
    """
    if connection.vendor != "postgresql":
        return 0
    written = 0
    mine = Project.objects.filter(pk=project_id)
    while True:
        with _writer(project_id) as alone:
            if not alone:
                return written
            written += _paid(mine, project_id)
        if not mine.filter(words_owed__gt=0).exists():
            return written


@contextmanager
def _writer(project_id: int) -> Iterator[bool]:
    """Whether this session took the project's writer lock (held for the block)."""
    key = [_WORDS_LOCK, project_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        taken = bool(cursor.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _paid(mine: QuerySet[Project], project_id: int) -> int:
    written = 0
    while True:
        owed, first = mine.values_list("words_owed", "words_from").first() or (0, None)
        if first is None:
            return written
        written += _written_from(project_id, first)
        cleared = mine.filter(words_owed=owed)
        if cleared.update(words_owed=0, words_from=None, words_since=None):
            return written


def _written_from(project_id: int, first: int) -> int:
    """Write the words of the project's items from id `first` on, a committed chunk of
    ids at a time. Items that have words already (an admin's edit far back, a run that
    died half way) are left out before their text is read."""
    written, after = 0, first - 1
    items = Item.objects.filter(project_id=project_id)
    while True:
        ids = list(
            items.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:WORDS_CHUNK]
        )
        if not ids:
            return written
        chunk = items.filter(pk__gte=ids[0], pk__lte=ids[-1], words__isnull=True)
        rows = chunk.values_list("pk", _words())
        sql, params = rows.query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ItemWords._meta.db_table} (item_id, words) {sql} "
                "ON CONFLICT (item_id) DO NOTHING",
                params,
            )
            written += cursor.rowcount
        after = ids[-1]


def words_renew(item: Item) -> None:
    """An item added or whose text changed outside an insert (the admin): its words are
    written again, as owed."""
    if connection.vendor != "postgresql":
        return
    ItemWords.objects.filter(item=item).delete()
    words_owe(item.project_id, item.pk)


def words_due(project_id: int) -> None:
    """Send the writer if the project owes words: at a retrain's end, which an import's
    words wait for (`ingest.services.pool_prepared`)."""
    if (
        connection.vendor == "postgresql"
        and Project.objects.filter(pk=project_id, words_owed__gt=0).exists()
    ):
        task_send(tasks.item_words, project_id)


def words_resend() -> int:
    """Send the worker again for every project that has owed words for longer than a
    retrain's re-send bound (a lost message, a worker killed while writing); how many
    were sent. The worker's sweep calls it. Not sooner: an import's words wait for its
    features, which take minutes at ten million items."""
    if connection.vendor != "postgresql":
        return 0
    due = timezone.now() - timedelta(seconds=settings.WINNOW_RETRAIN_RESEND_SECONDS)
    owing = Project.objects.filter(words_owed__gt=0, words_since__lt=due).values_list(
        "pk", flat=True
    )
    return sum(task_send(tasks.item_words, pk) for pk in owing)
