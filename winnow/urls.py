from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.http import require_http_methods
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI under the site's policy: its start-up script is a separate file (the split
# view), but its page keeps a <style> block and its widgets set style attributes and
# data: icons, so this one page may use inline styles and data: images; scripts stay
# 'self' only.
api_docs = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

login_view = auth_views.LoginView.as_view()

# A too-large upload is refused while Django reads the body (winnow.uploads).
handler400 = "winnow.uploads.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Django's LoginView takes PUT as a POST; a sign-in is GET and POST only.
    path("login/", require_http_methods(["GET", "POST"])(login_view), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/", include("winnow.api_urls")),
    path("", include("projects.urls")),
    path("", include("annotator.urls")),
]
