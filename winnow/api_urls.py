"""The API's own routes; each app's are included by name (the frame imports no app)."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("projects.api_urls")),
    path("", include("annotator.api_urls")),
]
