"""Signing in under django-axes: one lockout answer for the login page and the token API.

Axes counts failed sign-ins per name and address and per address alone, for names that
exist and names that don't alike; so the answer to a locked-out attempt is the same
whatever name was tried, and says nothing about which names exist.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from winnow.errors import error_responses


def client_address(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: where a sign-in attempt comes from.

    The connection's address, unless the operator says a proxy sits in front: then every
    connection comes from the proxy, and the client is the last X-Forwarded-For entry (the
    one the proxy appended; earlier ones are whatever the client chose to send).
    """
    if settings.WINNOW_TRUST_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_message() -> str:
    minutes = settings.AXES_COOLOFF_MINUTES
    return (
        "Too many failed sign-ins from this address: signing in is locked for "
        f"{minutes} minutes. Try again later."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page, re-rendered with the lockout message."""
    context = {"message": lockout_message()}
    return render(request, "registration/locked_out.html", context, status=429)


class TokenView(ObtainAuthToken):
    """POST /api/auth/token/: DRF's, answering a lockout with 429 and a JSON `detail`,
    and described as it answers (`{"token"}`, not its request's fields).

    Axes marks the DRF request (not the Django one the middleware sees), so the lockout
    is answered here.
    """

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            **error_responses(400, 401, 429),
        },
        description="The caller's API token, for `Authorization: Token KEY`; 400 for a "
        "wrong username or password, 429 while sign-ins from the address are locked.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                detail = {"detail": lockout_message()}
                return Response(detail, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise
