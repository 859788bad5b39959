"""The JSON API under /api/v1/. Each view parses its input, calls one service or read, and
returns what it got; errors become {"error": "..."} in recommender.api.errors."""

from __future__ import annotations

from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender import access
from recommender.api import schema, serializers
from recommender.api.authentication import HeldTokenAuthentication
from recommender.api.errors import BadQueryParameter, api_exception_handler
from recommender.engine.checks import parse_int
from recommender.selectors import monitoring, registry
from recommender.services.recommendations import viewer_recommendations
from simulation.selectors import recent_rounds

DEFAULT_LIST_LENGTH = 10
MAX_LIST_LENGTH = 100
DEFAULT_HISTORY = 50
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
    authentication_classes = [HeldTokenAuthentication, SessionAuthentication]
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


def _browse_listing(*, operation_id: str, summary: str, description: str, of: str, answer, said):
    """The schema of a reviewers-and-staff listing with a `limit` of the newest `of`."""
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        parameters=[
            schema.bounded_int_query(
                "limit",
                f"How many of the newest {of}",
                default=DEFAULT_HISTORY,
                minimum=1,
                maximum=MAX_HISTORY,
            )
        ],
        responses=schema.responses(
            answer,
            said,
            {400: f"limit is not an integer from 1 to {MAX_HISTORY}.", 403: schema.NOT_A_BROWSER},
        ),
    )


class ViewerRecommendationsView(ApiView):
    """GET viewers/<viewer_id>/recommendations/?n=10"""

    # Any account gets this far; check_may_read_viewer then decides per viewer.
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="viewer_recommendations",
        summary="A viewer's recommendations",
        description="The viewer's best films, best first: from the served scoring run while it "
        "is still right for them, computed on the fly with the champion otherwise. Reviewers "
        "and staff read any viewer; an account linked to a viewer reads only its own.",
        parameters=[
            schema.id_in_path("viewer_id", "The viewer's MovieLens id."),
            schema.bounded_int_query(
                "n",
                "How many films",
                default=DEFAULT_LIST_LENGTH,
                minimum=1,
                maximum=MAX_LIST_LENGTH,
            ),
        ],
        responses=schema.responses(
            schema.RecommendationsSerializer,
            "The viewer's list.",
            {
                400: f"n is not an integer from 1 to {MAX_LIST_LENGTH}.",
                403: "The account may not read this viewer (it is linked to another viewer, "
                "or to none and is neither a reviewer nor staff).",
                404: "No viewer has this id.",
                503: "No champion model to rank with yet, or the champion's model file failed "
                "its integrity or format check.",
            },
        ),
    )
    def get(self, request, viewer_id: int):
        check_may_read_viewer(request.user, viewer_id)
        n = query_int(request, "n", default=DEFAULT_LIST_LENGTH, low=1, high=MAX_LIST_LENGTH)
        result = viewer_recommendations(viewer_id=viewer_id, n=n)
        return Response(serializers.recommendations(result))


class ChampionView(ApiView):
    """GET champion/: the model in production and its holdout benchmark (it names the model
    file's sha256: for reviewers and staff only)."""

    @extend_schema(
        operation_id="champion",
        summary="The champion model",
        description="The model in production: how and on what it was trained, when and why it "
        "became champion, its model file's sha256 and its holdout benchmark.",
        responses=schema.responses(
            schema.ChampionSerializer,
            "The champion.",
            {403: schema.NOT_A_BROWSER, 404: "No champion model yet: train one first."},
        ),
    )
    def get(self, request):
        version = registry.champion_record()
        if version is None:
            raise NotFound("no champion model yet: train one first")
        return Response(serializers.champion(version))


class MetricHistoryView(ApiView):
    """GET metrics/?limit=50: the newest rounds' accuracy, list metrics and decisions."""

    @_browse_listing(
        operation_id="metric_history",
        summary="The metric history",
        description="The newest simulated rounds (oldest first): the served model's accuracy "
        "and the lists' figures per viewer group, the round's drift verdict and what the "
        "monitor-and-retrain cycle decided; and the newest promotions to champion.",
        of="rounds and promotions",
        answer=schema.MetricHistorySerializer,
        said="The rounds and the promotions.",
    )
    def get(self, request):
        limit = query_int(request, "limit", default=DEFAULT_HISTORY, low=1, high=MAX_HISTORY)
        rounds, promotions = recent_rounds(limit=limit), registry.recent_promotions(limit=limit)
        return Response(serializers.metric_history(rounds, promotions))


class DriftReportListView(ApiView):
    """GET drift-reports/?limit=50, newest first."""

    @_browse_listing(
        operation_id="drift_report_list",
        summary="The drift reports",
        description="The newest drift reports, newest first, each in summary.",
        of="reports",
        answer=schema.DriftReportListSerializer,
        said="The reports.",
    )
    def get(self, request):
        limit = query_int(request, "limit", default=DEFAULT_HISTORY, low=1, high=MAX_HISTORY)
        reports = monitoring.drift_reports(limit=limit)
        return Response({"drift_reports": [serializers.drift_report_summary(r) for r in reports]})


class DriftReportDetailView(ApiView):
    """GET drift-reports/<report_id>/"""

    @extend_schema(
        operation_id="drift_report_detail",
        summary="One drift report",
        description="The champion's accuracy on a round's interactions against its benchmark, "
        "metric by metric, with the window judged and the thresholds applied.",
        parameters=[schema.id_in_path("report_id", "The drift report's id.")],
        responses=schema.responses(
            schema.DriftReportSerializer,
            "The report.",
            {403: schema.NOT_A_BROWSER, 404: "No drift report has this id."},
        ),
    )
    def get(self, request, report_id: int):
        report = monitoring.drift_report(report_id)
        if report is None:
            raise NotFound(f"drift report {report_id} not found")
        return Response(serializers.drift_report(report))


@extend_schema(exclude=True)
class EndpointNotFoundView(ApiView):
    """Anything else under /api/v1/: a JSON 404 rather than the site's HTML page (not an
    endpoint, so not in the schema)."""

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
