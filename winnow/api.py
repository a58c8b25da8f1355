"""The frame's own API view: the token a client signs in with (PRODUCT.md §10)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

from winnow.errors import error_responses


class ObtainToken(ObtainAuthToken):
    """DRF's token view, described as it answers: `{"token"}`, not its request's fields."""

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            **error_responses(400, 401),
        },
        description="The caller's API token, for `Authorization: Token KEY`; 400 for a "
        "wrong username or password.",
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().post(request, *args, **kwargs)
