"""`winnow.db.model_from_row`: a plain-cursor read loads an instance as the ORM would."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from projects import services
from projects.models import Project
from winnow.db import model_from_row, select_list

pytestmark = pytest.mark.django_db


def _read(model: Any, pk: int) -> Any:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select_list(model, 't')} FROM {table} t WHERE t.id = %s", [pk])
        return model_from_row(model, cursor.fetchone())


def test_every_field_as_the_orm_loads_it(users: dict[str, Any]) -> None:
    """JSON, dates, booleans and floats come back converted (SQLite returns strings and
    ints for some; Postgres returns JSON as text)."""
    project = services.project_create(
        user=users["lead"], name="rows", kind="text", labels=["a", "b"], holdout_fraction=0.25
    )
    loaded = _read(Project, project.pk)
    orm = Project.objects.get(pk=project.pk)
    for field in Project._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(orm, field.attname), field.name
    assert loaded.labels == ["a", "b"] and not loaded._state.adding
    user = _read(type(users["lead"]), users["lead"].pk)
    assert user.username == "lead" and user.is_active is True
    assert user.date_joined == users["lead"].date_joined


def test_any_of_finds_what_in_finds() -> None:
    """`pk__any_of` (one array parameter on PostgreSQL, an IN list elsewhere) selects the
    rows `pk__in` does, and nothing for no ids."""
    from projects.models import Item, Project

    project = Project.objects.create(name="any of", kind="text", labels=["a"])
    ids = [Item.objects.create(project=project, text=f"t {i}").pk for i in range(6)]
    wanted = [ids[0], ids[3], ids[5], 10**12]
    found = Item.objects.filter(pk__any_of=wanted)
    assert sorted(found.values_list("pk", flat=True)) == [ids[0], ids[3], ids[5]]
    assert list(found.values_list("pk", flat=True).order_by("pk")) == list(
        Item.objects.filter(pk__in=wanted).values_list("pk", flat=True).order_by("pk")
    )
    assert not Item.objects.filter(pk__any_of=[]).exists()
    sql = str(found.query)
    assert ("= ANY(" in sql) == (connection.vendor == "postgresql"), sql
