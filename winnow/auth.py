"""API token authentication in one plain query.

Every API call authenticates, so DRF's lookup (an ORM query built per request,
with the token's user joined) was a fixed cost on the annotate round trip. The
rules are DRF's: an unknown key or an inactive user is refused.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

_USER_BY_KEY = "SELECT u.* FROM {user} u JOIN {token} t ON t.user_id = u.id WHERE t.key = %s"


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token KEY`, as DRF's, with the user read by one raw query."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        sql = _USER_BY_KEY.format(user=User._meta.db_table, token=Token._meta.db_table)
        user = next(iter(User.objects.raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token
