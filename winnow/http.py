"""Request types for views: who is asking, and whether htmx is."""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.request import Request


class AuthedHttpRequest(HttpRequest):
    """A request behind `login_required`, with django-htmx's details attached."""

    user: User  # type: ignore[assignment]
    htmx: HtmxDetails


def api_user(request: Request) -> User:
    """The signed-in user of an API request (IsAuthenticated has already run)."""
    user: User | AnonymousUser = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user
