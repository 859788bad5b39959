"""The API's OpenAPI 3 schema (/api/v1/schema/) and its Swagger UI page (/api/v1/docs/).

Both are read under the access policy like every API read (recommender.access.may_browse:
reviewers and staff). The schema is an API answer: JSON by default (YAML with ?format=yaml),
refusals in the API's {"error": ...} shape, 401 for a client without credentials. The docs
page is a page of the site: a visitor who is not logged in is sent to the login page, a
refused account gets the site's 403 page. Swagger UI's files come from
drf-spectacular-sidecar, served from the site's own static files.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.renderers import JSONRenderer

from recommender.api.views import ApiView


class SchemaView(ApiView, SpectacularAPIView):
    """GET schema/: the OpenAPI 3 document of every endpoint under /api/v1/."""

    # JSON first, like every other answer of the API; YAML when asked for.
    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(response, "exception", False):
            # An error is not a schema: plain JSON, whichever format was asked for.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class DocsView(ApiView, SpectacularSwaggerView):
    """GET docs/: Swagger UI over the schema (an HTML page for people with a browser)."""

    url_name = "api:schema"
    title = "Film recommender API"

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        if isinstance(exc, PermissionDenied):
            return render(self.request, "web/forbidden.html", {"reason": exc.detail}, status=403)
        return super().handle_exception(exc)
