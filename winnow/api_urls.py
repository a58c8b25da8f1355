"""The API's own routes; each app's are included by name (the frame imports no app)."""

from django.urls import include, path

from winnow.signin import TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("", include("projects.api_urls")),
    path("", include("annotator.api_urls")),
]
