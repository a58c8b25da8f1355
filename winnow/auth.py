"""API token authentication in one plain query.

Every API call authenticates, so the user is read by one plain SELECT through a
cursor instead of a queryset built per request. It is portable SQL: the single
implementation on every database (`execute_prepared` merely prepares it on
PostgreSQL), and it replaces DRF's lookup rather than running beside it. The
rules are DRF's: an unknown key or an inactive user is refused.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from winnow.db import execute_prepared, model_from_row, select_list

_USER_BY_KEY = "SELECT {columns} FROM {user} u JOIN {token} t ON t.user_id = u.id WHERE t.key = %s"


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token KEY`, as DRF's, with the user read by one plain query."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        sql = _USER_BY_KEY.format(
            columns=select_list(User, "u"), user=User._meta.db_table, token=Token._meta.db_table
        )
        with connection.cursor() as cursor:
            execute_prepared(cursor, sql, [key])
            row = cursor.fetchone()
        user = None if row is None else model_from_row(User, row)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token
