"""The JSON API under /api/v1/ (token or session authentication; see recommender.api.views)."""

from django.urls import path, re_path

from recommender.api import docs, views

app_name = "api"
# (route, view, name) of every endpoint; the schema and its docs page; then, last, the catch-all
# that answers every other path under /api/v1/ with a JSON 404.
ENDPOINTS = [
    (
        "viewers/<int:viewer_id>/recommendations/",
        views.ViewerRecommendationsView,
        "viewer-recommendations",
    ),
    ("champion/", views.ChampionView, "champion"),
    ("metrics/", views.MetricHistoryView, "metrics"),
    ("drift-reports/", views.DriftReportListView, "drift-report-list"),
    ("drift-reports/<int:report_id>/", views.DriftReportDetailView, "drift-report-detail"),
    ("schema/", docs.SchemaView, "schema"),
    ("docs/", docs.DocsView, "docs"),
]
urlpatterns = [
    *(path(route, view.as_view(), name=name) for route, view, name in ENDPOINTS),
    re_path(r"", views.EndpointNotFoundView.as_view(), name="not-found"),
]
