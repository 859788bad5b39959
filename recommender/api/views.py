"""The JSON API under /api/v1/. Each view parses its input, calls one service or read, and
returns what it got; errors become {"error": "..."} in recommender.api.errors."""

from __future__ import annotations

from django.urls import Resolver404, resolve
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender import access
from recommender.api import serializers
from recommender.api.errors import BadQueryParameter, api_exception_handler
from recommender.engine.checks import parse_int
from recommender.selectors import monitoring, registry
from recommender.services.recommendations import viewer_recommendations
from simulation.selectors import recent_rounds

MAX_LIST_LENGTH = 100
MAX_HISTORY = 500


class MayBrowse(BasePermission):
    """recommender.access.may_browse: reviewers and staff read every endpoint."""

    message = "only reviewers and staff may read this"

    def has_permission(self, request, view) -> bool:
        return access.may_browse(request.user)


class ApiView(APIView):
    # Token first: an anonymous request is then told 401 with `WWW-Authenticate: Token`
    # (with session authentication first, DRF can only answer 403). Browsers logged in to
    # the site still get in through their session.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    # Set here as well as in settings, so neither who may read nor the error shape can change
    # with them. Every endpoint is for browsers unless it says otherwise (recommender.access).
    permission_classes = [MayBrowse]

    def get_exception_handler(self):
        return api_exception_handler


def check_may_read_viewer(user, viewer_id: int) -> None:
    """recommender.access.may_read_viewer, with a refusal that says who is refused and why."""
    if access.may_read_viewer(user, viewer_id):
        return
    own = access.own_viewer_id(user)
    if own is None:
        raise PermissionDenied(
            f"account {user.get_username()} is linked to no viewer and is not a reviewer"
        )
    raise PermissionDenied(
        f"account {user.get_username()} may read only viewer {own}'s recommendations"
    )


def query_int(request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse_int(f"query parameter {name}", raw, minimum=low, maximum=high)
    except ValueError as exc:
        raise BadQueryParameter(str(exc)) from None


class ViewerRecommendationsView(ApiView):
    """GET viewers/<viewer_id>/recommendations/?n=10"""

    # Any account gets this far; check_may_read_viewer then decides per viewer.
    permission_classes = [IsAuthenticated]

    def get(self, request, viewer_id: int):
        check_may_read_viewer(request.user, viewer_id)
        n = query_int(request, "n", default=10, low=1, high=MAX_LIST_LENGTH)
        result = viewer_recommendations(viewer_id=viewer_id, n=n)
        return Response(serializers.recommendations(result))


class ChampionView(ApiView):
    """GET champion/: the model in production and its holdout benchmark (it names the model
    file's sha256: for reviewers and staff only)."""

    def get(self, request):
        version = registry.champion_record()
        if version is None:
            raise NotFound("no champion model yet: train one first")
        return Response(serializers.champion(version))


class MetricHistoryView(ApiView):
    """GET metrics/?limit=50: the newest rounds' accuracy, list metrics and decisions."""

    def get(self, request):
        limit = query_int(request, "limit", default=50, low=1, high=MAX_HISTORY)
        rounds, promotions = recent_rounds(limit=limit), registry.recent_promotions(limit=limit)
        return Response(serializers.metric_history(rounds, promotions))


class DriftReportListView(ApiView):
    """GET drift-reports/?limit=50, newest first."""

    def get(self, request):
        limit = query_int(request, "limit", default=50, low=1, high=MAX_HISTORY)
        reports = monitoring.drift_reports(limit=limit)
        return Response({"drift_reports": [serializers.drift_report_summary(r) for r in reports]})


class DriftReportDetailView(ApiView):
    """GET drift-reports/<report_id>/"""

    def get(self, request, report_id: int):
        report = monitoring.drift_report(report_id)
        if report is None:
            raise NotFound(f"drift report {report_id} not found")
        return Response(serializers.drift_report(report))


class EndpointNotFoundView(ApiView):
    """Anything else under /api/v1/: a JSON 404 rather than the site's HTML page."""

    permission_classes = [AllowAny]

    def get(self, request, *args, **kwargs):
        path = request.path
        # This catch-all matches first, so APPEND_SLASH never redirects: say it instead.
        if not path.endswith("/") and _is_endpoint(path + "/"):
            raise NotFound(f"no API endpoint at {path}: did you mean {path}/ ?")
        raise NotFound(f"no API endpoint at {path}")

    post = put = patch = delete = get


def _is_endpoint(path: str) -> bool:
    try:
        return resolve(path).url_name != "not-found"
    except Resolver404:
        return False
