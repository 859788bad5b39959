"""The JSON API under /api/v1/ (token or session authentication; see recommender.api.views)."""

from django.urls import path, re_path

from recommender.api import docs, views

app_name = "api"
urlpatterns = [
    path(
        "viewers/<int:viewer_id>/recommendations/",
        views.ViewerRecommendationsView.as_view(),
        name="viewer-recommendations",
    ),
    path("champion/", views.ChampionView.as_view(), name="champion"),
    path("metrics/", views.MetricHistoryView.as_view(), name="metrics"),
    path("drift-reports/", views.DriftReportListView.as_view(), name="drift-report-list"),
    path(
        "drift-reports/<int:report_id>/",
        views.DriftReportDetailView.as_view(),
        name="drift-report-detail",
    ),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(), name="docs"),
    # Last: every other path under /api/v1/ answers a JSON 404.
    re_path(r"", views.EndpointNotFoundView.as_view(), name="not-found"),
]
